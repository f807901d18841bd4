"""One reader of "a JSONL or JSON file of objects": lines, arrays, compression, clear errors."""

import gzip

import pytest

from datamill.core.errors import InputError
from datamill.io.json_rows import iter_json_objects


def test_jsonl_gz_bom_and_blank_lines(tmp_path):
    p = tmp_path / "rows.jsonl.gz"
    p.write_bytes(gzip.compress('\ufeff{"text": "中文"}\n\n{"text": "English"}\n'.encode()))
    assert [r["text"] for r in iter_json_objects(str(p))] == ["中文", "English"]


def test_json_array(tmp_path):
    p = tmp_path / "rows.json"
    p.write_text('[{"a": 1}, {"a": 2}]')
    assert list(iter_json_objects(str(p))) == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("name, body, message", [
    ("bad.jsonl", '{"a": 1}\n{"a": \n', r"labels file .*bad\.jsonl:2: malformed JSON"),
    ("list.jsonl", '{"a": 1}\n[1, 2]\n', r"list\.jsonl:2: expected a JSON object, got list"),
    ("arr.json", '[{"a": 1}, 3]', r"arr\.json: item 2: expected a JSON object, got int"),
])
def test_errors_name_file_and_line(tmp_path, name, body, message):
    p = tmp_path / name
    p.write_text(body)
    with pytest.raises(InputError, match=message):
        list(iter_json_objects(str(p), what="labels file"))
