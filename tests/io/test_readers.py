import gzip
import json

import pytest

from datamill.core.stats import ReadStats
from datamill.io.formats import Shard, detect_format, discover
from datamill.io.readers import Quarantine, read_shard
from datamill.core.errors import InputError


def _read(path, fmt=None):
    stats = ReadStats()
    q = Quarantine(stats)
    fmt = fmt or detect_format(str(path))
    size = path.stat().st_size
    records = list(read_shard(Shard(0, str(path), fmt, size), stats, q))
    return records, stats, q


def test_detect_format():
    assert detect_format("a/b.warc.gz") == "warc"
    assert detect_format("x.warc.wet.gz") == "wet"
    assert detect_format("x.jsonl.zst") == "jsonl"
    assert detect_format("x.parquet") == "parquet"
    assert detect_format("x.arc.gz") == "arc"
    assert detect_format("x.txt") is None


def test_jsonl_bad_lines_are_quarantined_with_line_numbers(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps({"id": "a", "text": "good one"}).encode(),
             b'{"id": "b", "text": "broken',
             b'{"id": "c", "text": "caf\xe9"}',
             json.dumps({"id": "d", "body": "no text field"}).encode(),
             b"[1, 2]",
             b"",
             json.dumps({"id": "e", "text": "good two", "url": "http://x.org/"}).encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, stats, q = _read(path)
    assert [r["id"] for r in records] == ["a", "e"]
    assert records[1]["metadata"]["url"] == "http://x.org/"
    kinds = {(e["kind"], e["line"]) for e in q.entries}
    assert kinds == {("malformed_json", 2), ("invalid_utf8", 3), ("missing_text", 4), ("malformed_json", 5)}
    assert all(e["source"] == str(path) for e in q.entries)
    assert stats.read == 2


def test_truncated_gzip_keeps_records_before_the_break(tmp_path):
    data = b"".join(json.dumps({"id": str(i), "text": "x" * 200 + str(i)}).encode() + b"\n" for i in range(500))
    whole = gzip.compress(data)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    records, stats, q = _read(path)
    assert 0 < len(records) < 500
    assert [e["kind"] for e in q.entries] == ["truncated_file"]
    assert q.entries[0]["line"] == len(records) + 1


def test_zstd_jsonl(tmp_path):
    import zstandard

    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b'{"text": "hello"}\n{"text": "world"}\n'))
    records, _, q = _read(path)
    assert [r["text"] for r in records] == ["hello", "world"] and not q.entries
    assert records[0]["id"] == f"{path}:1"


def test_empty_file_is_counted(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    records, stats, q = _read(path)
    assert records == [] and stats.skipped["empty_file"] == 1


def test_parquet_reader(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["1", "2"], "text": ["one", None], "url": ["u1", "u2"]}), path)
    records, _, q = _read(path)
    assert [r["text"] for r in records] == ["one"] and records[0]["metadata"]["url"] == "u1"
    assert q.entries[0]["kind"] == "missing_text"


def test_corrupt_parquet_is_quarantined(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1 this is not parquet at all")
    records, _, q = _read(path)
    assert records == [] and q.entries[0]["kind"] == "corrupt_parquet"


def test_warc_reader_real_files(shared_data):
    records, stats, q = _read(shared_data / "warc" / "dolma_sample-0000.warc.gz")
    assert len(records) == 22 and not q.entries
    meta = records[0]["metadata"]
    assert meta["url"].startswith("http") and not meta["url"].startswith("<")
    assert meta["date"].startswith("2024-") and meta["source"].endswith("dolma_sample-0000.warc.gz")
    assert "<html" in records[0]["text"].lower()


def test_warc_charset_detection_euc_jp(shared_data):
    records, stats, q = _read(shared_data / "warc" / "resiliparse_clueweb09-quirk.warc.gz")
    assert records, "ClueWeb records must be read despite the malformed date"
    assert any("euc" in (r["metadata"]["charset"] or "").lower() for r in records)
    japanese = sum(1 for r in records if any("\u3040" <= ch <= "\u30ff" for ch in r["text"]))
    assert japanese > len(records) // 2


def test_wet_reader(shared_data):
    records, _, _ = _read(shared_data / "warc" / "cc_whirlwind" / "whirlwind.warc.wet.gz")
    assert len(records) == 1 and "Escopete" in records[0]["metadata"]["url"]


def test_non_html_is_skipped_and_counted(shared_data):
    records, stats, _ = _read(shared_data / "warc" / "warcio" / "post-test.warc.gz")
    assert records == [] and stats.skipped["non_html"] == 3


@pytest.mark.parametrize("name,kind", [("example-trunc.warc", "warc_bad_content_length"),
                                       ("example.arc.gz", "unsupported_format")])
def test_broken_warcio_files_are_quarantined(shared_data, name, kind):
    records, stats, q = _read(shared_data / "warc" / "warcio" / name)
    assert kind in [e["kind"] for e in q.entries]


def test_all_warcio_files_complete(shared_data):
    for path in sorted((shared_data / "warc" / "warcio").iterdir()):
        records, stats, q = _read(path)  # never raises
        for r in records:
            assert r["metadata"]["source"] == str(path)


def test_discover_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        discover([str(tmp_path / "missing.warc.gz")])
    with pytest.raises(InputError, match="no file matches"):
        discover([str(tmp_path / "*.jsonl")])
    (tmp_path / "b.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    shards = discover([str(tmp_path)])
    assert [s.path.rsplit("/", 1)[1] for s in shards] == ["a.jsonl", "b.jsonl"]


def test_discover_a_datamill_output_folder_reads_only_its_records(tmp_path):
    out = tmp_path / "out"
    (out / ".datamill" / "work").mkdir(parents=True)
    (out / ".datamill" / "run.json").write_text("{}")
    (out / ".datamill" / "work" / "part-00000.jsonl").write_text('{"text": "x"}\n')
    (out / "quarantine").mkdir()
    (out / "quarantine" / "seg0-00000.jsonl").write_text('{"reason": "x"}\n')
    (out / "stats.json").write_text("{}")
    (out / "part-00000.jsonl.gz").write_bytes(b"")
    (out / "part-00001.jsonl.gz").write_bytes(b"")
    assert [s.path.rsplit("/", 1)[1] for s in discover([str(out)])] == ["part-00000.jsonl.gz", "part-00001.jsonl.gz"]
    plain = tmp_path / "plain"
    (plain / ".hidden").mkdir(parents=True)
    (plain / ".hidden" / "a.jsonl").write_text("{}\n")
    (plain / "sub").mkdir()
    (plain / "sub" / "b.jsonl").write_text("{}\n")
    assert [s.path.rsplit("/", 1)[1] for s in discover([str(plain)])] == ["b.jsonl"]
