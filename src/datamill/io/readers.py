"""Readers: every input format becomes a stream of records.

Bad input never stops a run: a record that cannot be parsed goes to the quarantine list with
its file, offset or line and the reason, and the reader goes on where it can (a truncated file
ends that file's records; the records before the break are kept).
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from typing import Any, Callable, Iterator

import fsspec
import orjson

from datamill.core.record import Record
from datamill.core.stats import ReadStats
from datamill.io.formats import Shard

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+xhtml")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)


class Quarantine:
    """Collects records that could not be read or processed, with where and why."""

    def __init__(self, stats: ReadStats):
        self.entries: list[dict[str, Any]] = []
        self.stats = stats

    def add(self, kind: str, source: str, reason: str, **where: Any) -> None:
        self.stats.quarantined[kind] += 1
        entry = {"kind": kind, "source": source, "reason": reason}
        entry.update({k: v for k, v in where.items() if v is not None})
        self.entries.append(entry)


def _strip_angle(value: str | None) -> str | None:
    if value and value.startswith("<") and value.endswith(">"):
        return value[1:-1]
    return value


def _record_id(value: str | None) -> str | None:
    value = _strip_angle(value)
    if value and value.startswith("urn:uuid:"):
        return value[9:]
    return value


def _lookup_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_html(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """Bytes to text: charset from the HTTP header, then a meta tag, then detection."""
    encoding = _lookup_codec(header_charset)
    source = "header"
    if encoding is None:
        m = _META_CHARSET.search(body[:4096])
        encoding = _lookup_codec(m.group(1).decode("ascii", "ignore")) if m else None
        source = "meta"
    if encoding is not None:
        try:
            return body.decode(encoding), f"{encoding} ({source})"
        except (UnicodeDecodeError, LookupError):
            pass
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    detected = detect_encoding(body)
    return bytes_to_str(body, detected), f"{detected} (detected)"


def read_warc(shard: Shard, stats: ReadStats, quarantine: Quarantine, *,
              wet: bool = False, html_only: bool = True) -> Iterator[Record]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    record_types = WarcRecordType.conversion if wet else WarcRecordType.response
    with fsspec.open(shard.path, "rb") as fh:
        iterator = ArchiveIterator(fh, record_types=record_types, parse_http=not wet)
        position = 0
        while True:
            try:
                rec = next(iterator)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - a broken archive ends this file
                quarantine.add("warc_parse_error", shard.path, f"{type(exc).__name__}: {exc}",
                               offset=position, note="records after this point in the file are unreadable")
                break
            position = rec.stream_pos
            try:
                url = _strip_angle(rec.headers.get("WARC-Target-URI"))
                date = rec.headers.get("WARC-Date")
                rid = _record_id(rec.headers.get("WARC-Record-ID")) or f"{shard.path}@{position}"
                body = rec.reader.read()
            except Exception as exc:  # noqa: BLE001
                quarantine.add("warc_record_error", shard.path, f"{type(exc).__name__}: {exc}",
                               offset=position)
                continue
            stats.read += 1
            stats.bytes += len(body)
            meta: dict[str, Any] = {"url": url, "date": date, "source": shard.path, "offset": position}
            if wet:
                text = body.decode("utf-8", errors="replace")
                meta["content_type"] = rec.headers.get("Content-Type")
                yield {"id": rid, "text": text, "metadata": meta, "signals": {}}
                continue
            http = rec.http_headers
            status = http.status_code if http is not None else None
            if status is not None and not 200 <= status < 300:
                stats.skipped[f"http_status_{status // 100}xx"] += 1
                continue
            ctype = (rec.http_content_type or "").lower().strip()
            if html_only and ctype and not ctype.startswith(HTML_TYPES):
                stats.skipped["non_html"] += 1
                continue
            if not ctype and html_only and not _looks_like_html(body):
                stats.skipped["non_html"] += 1
                continue
            if not body:
                stats.skipped["empty_payload"] += 1
                continue
            try:
                text, charset = decode_html(body, rec.http_charset)
            except Exception as exc:  # noqa: BLE001
                quarantine.add("undecodable", shard.path, f"{type(exc).__name__}: {exc}", offset=position)
                continue
            meta["content_type"] = ctype or None
            meta["charset"] = charset
            yield {"id": rid, "text": text, "metadata": meta, "signals": {}}


_HTML_SNIFF = re.compile(rb"<(!doctype html|html|head|body|div|p|table|meta|title|span|a)[\s>/]", re.I)


def _looks_like_html(body: bytes) -> bool:
    """Content sniffing for responses without a Content-Type (old crawls such as ClueWeb09)."""
    return _HTML_SNIFF.search(body[:4096]) is not None


def _open_lines(path: str) -> Iterator[bytes]:
    """Lines of a plain, .gz or .zst file, as bytes."""
    lower = path.lower()
    with fsspec.open(path, "rb") as raw:
        if lower.endswith(".gz"):
            stream: Any = gzip.GzipFile(fileobj=raw)
        elif lower.endswith(".zst"):
            import zstandard

            stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))
        else:
            stream = raw
        yield from stream


def read_jsonl(shard: Shard, stats: ReadStats, quarantine: Quarantine, *,
               text_field: str = "text", id_field: str = "id") -> Iterator[Record]:
    line_no = 0
    lines = _open_lines(shard.path)
    while True:
        try:
            raw = next(lines)
        except StopIteration:
            break
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError, Exception) as exc:  # noqa: BLE001
            kind = "truncated_file" if isinstance(exc, EOFError) else "corrupt_compression"
            quarantine.add(kind, shard.path, f"{type(exc).__name__}: {exc}", line=line_no + 1,
                           note="lines after this point in the file are unreadable")
            break
        line_no += 1
        stats.bytes += len(raw)
        if not raw.strip():
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            quarantine.add("invalid_utf8", shard.path, f"invalid UTF-8 at byte {exc.start}", line=line_no)
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            quarantine.add("malformed_json", shard.path, f"malformed JSON: {exc}", line=line_no)
            continue
        if not isinstance(obj, dict):
            quarantine.add("malformed_json", shard.path,
                           f"expected a JSON object, got {type(obj).__name__}", line=line_no)
            continue
        record = _to_record(obj, shard.path, text_field, id_field, f"{shard.path}:{line_no}")
        if record is None:
            quarantine.add("missing_text", shard.path,
                           f"expected a string field {text_field!r}", line=line_no)
            continue
        record["metadata"].setdefault("line", line_no)
        stats.read += 1
        yield record


def _to_record(obj: dict, path: str, text_field: str, id_field: str, fallback_id: str) -> Record | None:
    text = obj.get(text_field)
    if not isinstance(text, str):
        return None
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    for key, value in obj.items():
        if key not in (text_field, id_field, "metadata", "signals"):
            meta.setdefault(key, value)
    meta.setdefault("url", None)
    meta.setdefault("date", meta.get("timestamp") or meta.get("created"))
    if not meta.get("source"):
        meta["source"] = path
    rid = obj.get(id_field)
    signals = obj.get("signals")
    return {"id": str(rid) if rid is not None else fallback_id, "text": text, "metadata": meta,
            "signals": dict(signals) if isinstance(signals, dict) else {}}


def read_parquet(shard: Shard, stats: ReadStats, quarantine: Quarantine, *,
                 text_field: str = "text", id_field: str = "id") -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        fh = fsspec.open(shard.path, "rb").open()
        pf = pq.ParquetFile(fh)
    except Exception as exc:  # noqa: BLE001
        quarantine.add("corrupt_parquet", shard.path, f"{type(exc).__name__}: {exc}")
        return
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=1024):
            for obj in batch.to_pylist():
                row += 1
                record = _to_record(obj, shard.path, text_field, id_field, f"{shard.path}:{row}")
                if record is None:
                    quarantine.add("missing_text", shard.path,
                                   f"expected a string column {text_field!r}", row=row)
                    continue
                stats.read += 1
                yield record
    except Exception as exc:  # noqa: BLE001
        quarantine.add("corrupt_parquet", shard.path, f"{type(exc).__name__}: {exc}", row=row)
    finally:
        fh.close()


ReaderFn = Callable[..., Iterator[Record]]


def read_shard(shard: Shard, stats: ReadStats, quarantine: Quarantine, *,
               text_field: str = "text", id_field: str = "id", records: str | None = None) -> Iterator[Record]:
    """Records of one shard, whatever its format. Unknown formats are skipped and counted.

    ``records`` (a post-training format such as ``alpaca`` or ``auto``): JSON/JSONL rows become
    post-training records (:mod:`datamill.post.formats`); a ``.json`` file holding one array is
    read as an array; rows that do not convert are quarantined with file, line and reason."""
    stats.files += 1
    if shard.size == 0:
        stats.skipped["empty_file"] += 1
        return iter(())
    if records is not None and shard.format == "jsonl":
        from datamill.post.formats import read_post_shard

        return read_post_shard(shard, stats, quarantine, records)
    if shard.format == "warc":
        return read_warc(shard, stats, quarantine)
    if shard.format == "wet":
        return read_warc(shard, stats, quarantine, wet=True)
    if shard.format == "jsonl":
        return read_jsonl(shard, stats, quarantine, text_field=text_field, id_field=id_field)
    if shard.format == "parquet":
        return read_parquet(shard, stats, quarantine, text_field=text_field, id_field=id_field)
    quarantine.add("unsupported_format", shard.path,
                   f"cannot read format {shard.format!r}: expected WARC, WET, JSONL or Parquet")
    return iter(())
