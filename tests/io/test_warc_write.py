import gzip
import zlib
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from datamill.corpus import build_corpus, repeat_url
from datamill.io.warc_write import WarcWriter, write_warc

PAGES = [
    {"url": "https://example.org/a", "date": "2024-02-03T04:05:06Z",
     "html_bytes": "<html><body><p>Grüße aus Köln.</p></body></html>".encode("utf-8"),
     "content_type": "text/html; charset=utf-8"},
    {"url": "https://example.org/b?x=1", "date": "2024-02-03T04:05:07Z",
     "html_bytes": "<html><body><p>Café crème.</p></body></html>".encode("latin-1"),
     "content_type": "text/html; charset=iso-8859-1"},
    {"url": "https://example.org/c d", "html_bytes": b"<html></html>"},
]


def _members(data: bytes) -> list[bytes]:
    """Split a multi-member gzip file into its decompressed members."""
    out = []
    while data:
        d = zlib.decompressobj(wbits=31)
        out.append(d.decompress(data))
        assert d.eof, "truncated gzip member"
        data = d.unused_data
    return out


def _records(path, **kw):
    with open(path, "rb") as fh:
        return [(r.record_type, dict(r.headers.items()), r.http_headers, r.reader.read())
                for r in ArchiveIterator(fh, record_types=WarcRecordType.any_type, **kw)]


def test_write_warc_roundtrip(tmp_path):
    path = tmp_path / "out.warc.gz"
    assert write_warc(PAGES, path) == 3
    recs = _records(path)
    assert [r[0] for r in recs] == [WarcRecordType.warcinfo] + [WarcRecordType.response] * 3
    responses = recs[1:]
    assert [h["WARC-Target-URI"] for _, h, _, _ in responses] == [
        "https://example.org/a", "https://example.org/b?x=1", "https://example.org/c%20d"]
    for (_, headers, http, body), page in zip(responses, PAGES):
        assert body == page["html_bytes"]
        assert http.status_code == 200
        assert http["Content-Type"] == page.get("content_type", "text/html")
        assert headers["WARC-Record-ID"].startswith("<urn:uuid:")
        assert headers["WARC-Payload-Digest"].startswith("sha1:")
    assert responses[0][1]["WARC-Date"] == "2024-02-03T04:05:06Z"
    assert len({h["WARC-Record-ID"] for _, h, _, _ in recs}) == 4
    # every record is its own gzip member, and the whole file is valid gzip
    raw = path.read_bytes()
    members = _members(raw)
    assert len(members) == 4 and all(m.startswith(b"WARC/1.1\r\n") for m in members)
    assert gzip.decompress(raw) == b"".join(members)
    # digests verify
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, record_types=WarcRecordType.response):
            assert rec.verify_payload_digest(consume=False)
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=False):
            assert rec.verify_block_digest(consume=False)


def test_write_warc_is_deterministic_and_atomic(tmp_path):
    a, b = tmp_path / "a.warc.gz", tmp_path / "sub" / "a.warc.gz"
    write_warc(PAGES, a)
    write_warc(PAGES, b)
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.warc.gz", "sub"]

    def failing():
        yield PAGES[0]
        raise RuntimeError("boom")

    target = tmp_path / "fail.warc.gz"
    with pytest.raises(RuntimeError):
        write_warc(failing(), target)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.warc.gz", "sub"]


def test_uncompressed_and_raw_http(tmp_path):
    path = tmp_path / "x.warc"
    raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope"
    with WarcWriter(path, compress=False) as w:
        w.write_page({"url": "https://e.org/404", "http_response": raw,
                      "content_type": "text/plain"})
    (_, _, http, body), = _records(path)[1:]
    assert http.status_code == 404 and body == b"nope"


def test_repeat_url():
    assert repeat_url("https://a.org/x", 0) == "https://a.org/x"
    assert repeat_url("https://a.org/x", 2) == "https://a.org/x?r=2"
    assert repeat_url("https://a.org/x?q=1", 1) == "https://a.org/x?q=1&r=1"
    assert repeat_url("<https://a.org/x>", 1) == "<https://a.org/x?r=1>"


def test_build_corpus_small(shared_data, tmp_path):
    out = tmp_path / "corpus"
    summary = build_corpus(shared_data, out, files=3, repeat=2, max_pages=40, progress=False)
    assert summary["pages"] == 40 and summary["records"] == 80
    assert summary["files"] == 3 and len(summary["paths"]) == 3
    # each source kind shows up in the full corpus; here at least one is present
    assert sum(summary["by_source"].values()) == 40
    ids, urls = set(), []
    for f in summary["paths"]:
        for _, headers, http, body in _records(f)[1:]:
            ids.add(headers["WARC-Record-ID"])
            urls.append(headers["WARC-Target-URI"])
            assert body
    assert len(ids) == 80 and len(urls) == 80
    assert sum(u.rstrip(">").endswith(("?r=1", "&r=1")) for u in urls) == 40
    first = {f: Path(f).read_bytes() for f in summary["paths"]}
    again = build_corpus(shared_data, out, files=3, repeat=2, max_pages=40, progress=False)
    assert {f: Path(f).read_bytes() for f in again["paths"]} == first


def test_build_corpus_full_counts(shared_data, tmp_path):
    summary = build_corpus(shared_data, tmp_path, files=2, repeat=1, progress=False)
    src = summary["by_source"]
    assert src["scrapinghub_aeb"] == 181
    assert src["trafilatura_eval"] == 990
    assert sum(v for k, v in src.items() if k.startswith("warc:")) >= 80
    n = 0
    for f in summary["paths"]:
        with open(f, "rb") as fh:
            n += sum(1 for _ in ArchiveIterator(fh, record_types=WarcRecordType.response))
    assert n == summary["records"] == summary["pages"]
