"""Resume checks the inputs' content, not only their paths: a file changed at the same path
is refused (naming the file and what changed) instead of silently reusing old output."""

import json
import os

import pytest

from datamill import Pipeline
from datamill.core.errors import DatamillError
from datamill.io.formats import FINGERPRINT_BLOCK, content_fingerprint
from datamill.steps.dedup.exact import ExactDedup


def _write(path, texts):
    path.write_text("".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n"
                            for i, t in enumerate(texts)), encoding="utf-8")


@pytest.fixture
def run(tmp_path):
    (tmp_path / "in").mkdir()
    _write(tmp_path / "in" / "a.jsonl", ["hello world", "你好，世界", "hello world"])
    _write(tmp_path / "in" / "b.jsonl", ["second file"])

    def go(**kw):
        return Pipeline([ExactDedup()]).run([str(tmp_path / "in")], str(tmp_path / "out"), **kw)

    go()
    return tmp_path, go


def test_unchanged_inputs_resume(run):
    _, go = run
    assert go()["resumed_tasks"] > 0


def test_same_size_different_content_is_refused(run):
    tmp_path, go = run
    path = tmp_path / "in" / "a.jsonl"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"hello world", b"HELLO WORLD"))  # same size
    with pytest.raises(DatamillError, match=r"a\.jsonl \(content .*differs"):
        go()
    assert go(overwrite=True)["output"]["records"] == 3


def test_touched_file_is_refused(run):
    tmp_path, go = run
    path = tmp_path / "in" / "b.jsonl"
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 60))
    with pytest.raises(DatamillError, match=r"b\.jsonl \(modified"):
        go()


def test_grown_file_is_refused(run):
    tmp_path, go = run
    with open(tmp_path / "in" / "b.jsonl", "a") as fh:
        fh.write(json.dumps({"id": "x", "text": "appended"}) + "\n")
    with pytest.raises(DatamillError, match=r"b\.jsonl \(size"):
        go()


def test_large_file_hashes_its_ends(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"a" * (3 * FINGERPRINT_BLOCK))
    fp = content_fingerprint(str(path))
    assert fp["size"] == 3 * FINGERPRINT_BLOCK and "first and last" in fp["hashed"]
    data = bytearray(path.read_bytes())
    data[-1:] = b"b"
    path.write_bytes(bytes(data))
    assert content_fingerprint(str(path))["sha256"] != fp["sha256"]
