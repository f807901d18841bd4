"""Fault injection on files the tests make themselves: every break costs the broken record
only, is quarantined with its kind and place, and never turns into a wrong record."""

import gzip
import json
import os
import uuid

import pytest

from datamill.core.stats import ReadStats
from datamill.io.formats import Shard, detect_format
from datamill.io.charset import decode_html
from datamill.io.readers import Quarantine, read_shard

ZH_PAGE = ("<html><head><title>公园散步</title></head><body><p>今天天气很好，我们一起去公园散步，"
           "看看湖边的柳树和刚刚开放的桃花。春天来了，到处都是鸟叫声和孩子们的笑声。</p>" * 6
           + "</body></html>")


@pytest.fixture(autouse=True, params=["isal", "zlib"])
def inflate(request, monkeypatch):
    """Every case with ISA-L's inflate (when installed) and with the standard zlib fallback."""
    import zlib

    if request.param == "zlib":
        monkeypatch.setattr("datamill.io.lines.inflate", zlib)
        monkeypatch.setattr("datamill.io.warc_frames._zlib", zlib)
    else:
        pytest.importorskip("isal")
    return request.param


def _page(i: int) -> str:
    if i % 2:
        return ZH_PAGE.replace("公园", f"公园{i}号")
    return (f"<html><head><title>Page {i}</title></head><body><p>English page number {i} about "
            f"rivers, towns and the long history of trade along the water.</p></body></html>")


def _record(i: int, body: bytes | None = None, charset: str | None = "utf-8", length_delta: int = 0) -> bytes:
    body = _page(i).encode(charset or "utf-8") if body is None else body
    param = f"; charset={charset}" if charset else ""
    http = (f"HTTP/1.1 200 OK\r\nContent-Type: text/html{param}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.org/{i}\r\n"
            f"WARC-Date: 2024-01-0{1 + i % 9}T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:{uuid.UUID(int=i)}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http) + length_delta}\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def _warc(path, records: list[bytes], gz: bool) -> list[int]:
    """Write the records (one gzip member each when ``gz``); return each record's offset."""
    offsets, data = [], b""
    for rec in records:
        offsets.append(len(data))
        data += gzip.compress(rec, mtime=0) if gz else rec
    path.write_bytes(data)
    return offsets


def _read(path, fmt=None):
    stats = ReadStats()
    q = Quarantine(stats)
    shard = Shard(0, str(path), fmt or detect_format(str(path)), os.path.getsize(path))
    return list(read_shard(shard, stats, q)), stats, q


def _urls(records):
    return [r["metadata"]["url"].rsplit("/", 1)[1] for r in records]


# --- WARC ------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_truncated_record_is_quarantined_not_emitted(tmp_path, gz):
    path = tmp_path / ("cut.warc.gz" if gz else "cut.warc")
    offsets = _warc(path, [_record(i) for i in range(4)], gz)
    data = path.read_bytes()
    path.write_bytes(data[: offsets[3] + (len(data) - offsets[3]) // 2])  # cut inside record 3
    records, stats, q = _read(path)
    assert _urls(records) == ["0", "1", "2"]
    assert [(e["kind"], e["offset"]) for e in q.entries] == [("warc_truncated_record", offsets[3])]
    assert "non_html" not in stats.skipped and stats.read == 3
    assert "桃花" in records[1]["text"]


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("delta", [-40, 25, 900])
def test_wrong_content_length_costs_only_that_record(tmp_path, gz, delta):
    path = tmp_path / ("bad.warc.gz" if gz else "bad.warc")
    recs = [_record(i, length_delta=delta if i == 1 else 0) for i in range(5)]
    offsets = _warc(path, recs, gz)
    records, stats, q = _read(path)
    assert _urls(records) == ["0", "2", "3", "4"]
    assert [(e["kind"], e["offset"]) for e in q.entries] == [("warc_bad_content_length", offsets[1])]
    for r in records:  # no record carries another record's headers in its text
        assert "WARC-Type" not in r["text"] and "HTTP/1.1" not in r["text"]


def test_wrong_content_length_in_the_last_record(tmp_path):
    path = tmp_path / "last.warc.gz"
    offsets = _warc(path, [_record(0), _record(1, length_delta=300)], gz=True)
    records, _, q = _read(path)
    assert _urls(records) == ["0"]
    assert [(e["kind"], e["offset"]) for e in q.entries] == [("warc_bad_content_length", offsets[1])]


def test_corrupt_gzip_member_resynchronises_on_the_next(tmp_path):
    path = tmp_path / "corrupt.warc.gz"
    offsets = _warc(path, [_record(i) for i in range(5)], gz=True)
    data = bytearray(path.read_bytes())
    mid = (offsets[2] + offsets[3]) // 2
    data[mid:mid + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    records, _, q = _read(path)
    assert _urls(records) == ["0", "1", "3", "4"]
    assert [(e["kind"], e["offset"]) for e in q.entries] == [("corrupt_compression", offsets[2])]


def test_garbage_between_plain_records(tmp_path):
    path = tmp_path / "junk.warc"
    offsets = _warc(path, [_record(0), b"this is not a WARC record\r\n\r\n", _record(2)], gz=False)
    records, _, q = _read(path)
    assert _urls(records) == ["0", "2"]
    assert [(e["kind"], e["offset"]) for e in q.entries] == [("warc_bad_record", offsets[1])]
    # without its standard "\r\n\r\n" ending, junk after a record is a wrong length
    path.write_bytes(_record(0)[:-4] + b"junk\r\n" + _record(2))
    records, _, q = _read(path)
    assert _urls(records) == ["2"] and [e["kind"] for e in q.entries] == ["warc_bad_content_length"]


def test_a_record_spanning_gzip_members_is_read(tmp_path):
    rec = _record(1)
    path = tmp_path / "split.warc.gz"
    path.write_bytes(gzip.compress(_record(0)) + gzip.compress(rec[:300]) + gzip.compress(rec[300:]))
    records, _, q = _read(path)
    assert _urls(records) == ["0", "1"] and not q.entries
    assert "桃花" in records[1]["text"]


# --- charsets -------------------------------------------------------------------------------
def _gb2312_with_bad_bytes() -> bytes:
    body = bytearray(ZH_PAGE.encode("gb2312"))
    for k in range(12):  # a dozen bytes that are no GB2312 sequence
        body[200 + k * 40] = 0xFF
    return bytes(body)


@pytest.mark.parametrize("declared", ["header", "meta"])
def test_gb2312_with_bad_bytes_stays_chinese(tmp_path, declared):
    body = _gb2312_with_bad_bytes()
    if declared == "meta":
        body = body.replace(b"<head>", b'<head><meta charset="gb2312">', 1)
        rec = _record(1, body=body, charset=None)
    else:
        rec = _record(1, body=body, charset="gb2312")
    path = tmp_path / "gb.warc.gz"
    _warc(path, [rec], gz=True)
    records, _, q = _read(path)
    assert len(records) == 1 and not q.entries
    text = records[0]["text"]
    assert "公园散步" in text and "桃花" in text
    assert 0 < text.count("\ufffd") <= 24
    assert records[0]["metadata"]["charset"].startswith("gb2312")


def test_undeclared_gb2312_is_detected():
    text, used = decode_html(ZH_PAGE.encode("gb2312"), None)
    assert "桃花" in text and "detected" in used


def test_a_wrong_declaration_gives_way_to_detection():
    body = ZH_PAGE.encode("utf-8")
    text, used = decode_html(body, "shift_jis")  # valid UTF-8, wrongly declared
    assert "桃花" in text and used.startswith("utf-8")
    text, used = decode_html(ZH_PAGE.encode("gb2312"), "iso-8859-7")  # Greek? every byte decodes...
    assert "桃花" not in text  # ...so a wrong single-byte declaration is trusted, as browsers do


def test_english_page_declared_latin1():
    text, _ = decode_html("<p>café naïve</p>".encode("latin-1"), "iso-8859-1")
    assert text == "<p>café naïve</p>"


# --- JSONL ----------------------------------------------------------------------------------
def _jsonl(n: int, start: int = 0) -> bytes:
    rows = []
    for i in range(start, start + n):
        text = f"English line {i} " * 20 if i % 2 else f"中文第{i}行，" * 20
        rows.append(json.dumps({"id": str(i), "text": text}, ensure_ascii=False).encode() + b"\n")
    return b"".join(rows)


def test_zst_truncated_inside_its_first_block(tmp_path):
    import zstandard

    whole = zstandard.ZstdCompressor().compress(_jsonl(50))
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(whole[: len(whole) // 2])
    records, _, q = _read(path)
    assert records == []
    assert [(e["kind"], e["line"]) for e in q.entries] == [("truncated_file", 1)]


def test_zst_multi_block_truncated_keeps_earlier_lines(tmp_path):
    import zstandard

    data = _jsonl(3000)
    cctx = zstandard.ZstdCompressor()
    chunks = [data[i:i + 50_000] for i in range(0, len(data), 50_000)]
    co = cctx.compressobj()
    blob = b"".join(co.compress(c) + co.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) for c in chunks) + co.flush()
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(blob[: int(len(blob) * 0.6)])
    records, _, q = _read(path)
    assert 0 < len(records) < 3000
    assert [r["id"] for r in records] == [str(i) for i in range(len(records))]
    assert [e["kind"] for e in q.entries] == ["truncated_file"]
    assert q.entries[0]["line"] == len(records) + 1


def test_gzip_corrupt_is_corrupt_compression(tmp_path):
    blob = bytearray(gzip.compress(_jsonl(2000)))
    blob[len(blob) // 2: len(blob) // 2 + 32] = b"\x00" * 32
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(bytes(blob))
    records, _, q = _read(path)
    assert len(records) < 2000
    assert [e["kind"] for e in q.entries] == ["corrupt_compression"]


def test_utf8_bom_lines_are_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _jsonl(2) + b"\xef\xbb\xbf" + _jsonl(1, start=2))
    records, _, q = _read(path)
    assert [r["id"] for r in records] == ["0", "1", "2"] and not q.entries
    assert records[0]["text"].startswith("中文")


def test_unreadable_file_is_a_permission_error_not_corrupt(tmp_path, monkeypatch):
    path = tmp_path / "locked.jsonl.gz"
    path.write_bytes(gzip.compress(_jsonl(3)))
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads any file: make the open fail as it does for other users
        import fsspec

        real = fsspec.open

        def locked(p, *a, **k):
            if str(p) == str(path):
                raise PermissionError(13, "Permission denied", str(path))
            return real(p, *a, **k)

        monkeypatch.setattr("datamill.io.lines.fsspec.open", locked)
    records, _, q = _read(path)
    assert records == [] and [e["kind"] for e in q.entries] == ["permission_denied"]


def test_record_above_the_size_limit_is_skipped(tmp_path):
    from datamill.io.warc_frames import Broken, Frame, iter_frames

    path = tmp_path / "big.warc"
    offsets = _warc(path, [_record(0), _record(1, body=("<p>" + "x" * 5000 + "</p>").encode()), _record(2)], gz=False)
    with open(path, "rb") as fh:
        items = list(iter_frames(fh, str(path), max_record=4000))
    assert [type(i) for i in items] == [Frame, Broken, Frame]
    assert (items[1].kind, items[1].offset) == ("warc_record_too_large", offsets[1])


def test_warc_zst_reads_and_reports_a_cut(tmp_path):
    import zstandard

    data = b"".join(_record(i) for i in range(4))
    blob = zstandard.ZstdCompressor().compress(data)
    path = tmp_path / "a.warc.zst"
    path.write_bytes(blob)
    records, _, q = _read(path)
    assert _urls(records) == ["0", "1", "2", "3"] and not q.entries
    path.write_bytes(blob[: int(len(blob) * 0.8)])  # cut inside its only block: no record is complete
    records, _, q = _read(path)
    assert records == [] and [e["kind"] for e in q.entries] == ["warc_truncated_record"]
    frames = [zstandard.ZstdCompressor().compress(_record(i)) for i in range(4)]  # a frame per record
    path.write_bytes(b"".join(frames[:3]) + frames[3][: len(frames[3]) // 2])
    records, _, q = _read(path)
    assert _urls(records) == ["0", "1", "2"] and [e["kind"] for e in q.entries] == ["warc_truncated_record"]
