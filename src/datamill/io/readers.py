"""Readers: every input format becomes a stream of records.

Bad input never stops a run: a record that cannot be parsed goes to the quarantine list with
its file, offset or line and the reason, and the reader goes on where it can (a truncated file
ends that file's records; the records before the break are kept).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator

import fsspec
import orjson

from datamill.core.record import Record
from datamill.core.stats import ReadStats
from datamill.io.charset import decode_html
from datamill.io.formats import Shard
from datamill.io.lines import CorruptError, TruncatedError, iter_lines
from datamill.io.warc_frames import Broken, header, iter_frames

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+xhtml")


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


_HTTP_CTYPE = re.compile(rb"\ncontent-type[ \t]*:[ \t]*([^\r\n]*)", re.I)


def _http(block: bytes) -> tuple[int | None, str, str | None, bytes]:
    """(status, content type, charset, body) of an HTTP response block."""
    end = block.find(b"\r\n\r\n", 0, 65536)
    sep = 4
    alt = block.find(b"\n\n", 0, 65536)
    if alt >= 0 and (end < 0 or alt < end):
        end, sep = alt, 2
    if end < 0 or not block.startswith(b"HTTP/"):
        return None, "", None, block
    head = block[:end]
    status_line = head.split(b"\n", 1)[0].split()
    try:
        status = int(status_line[1])
    except (IndexError, ValueError):
        status = None
    m = _HTTP_CTYPE.search(head)  # the first Content-Type header (as fastwarc and warcio read it)
    ctype_raw = m.group(1).decode("latin-1").strip() if m else ""
    mime, _, params = ctype_raw.partition(";")
    charset = None
    for param in params.split(";"):
        k, _, v = param.partition("=")
        if k.strip().lower() == "charset":
            charset = v.strip().strip("\"'") or None
    return status, mime.strip().lower(), charset, block[end + sep:]


def read_warc(shard: Shard, stats: ReadStats, quarantine: Quarantine, *,
              wet: bool = False, html_only: bool = True) -> Iterator[Record]:
    """Response records (``wet``: conversion records) of a WARC file as records.

    A truncated record, a wrong Content-Length or a corrupt gzip member costs that record only:
    it is quarantined with its offset and reading resumes at the next record
    (:mod:`datamill.io.warc_frames`)."""
    wanted = "conversion" if wet else "response"
    try:
        fh = fsspec.open(shard.path, "rb").open()
    except OSError as exc:
        quarantine.add(_os_error_kind(exc), shard.path, f"{type(exc).__name__}: {exc}")
        return
    try:
        for item in iter_frames(fh, shard.path, start=shard.start, end=shard.end):
            if isinstance(item, Broken):
                quarantine.add(item.kind, shard.path, item.reason, offset=item.offset, **item.extra)
                continue
            rec_type = (header(item.headers, "WARC-Type") or "").lower()
            if rec_type != wanted:
                continue
            position = item.offset
            url = _strip_angle(header(item.headers, "WARC-Target-URI"))
            date = header(item.headers, "WARC-Date")
            rid = _record_id(header(item.headers, "WARC-Record-ID")) or f"{shard.path}@{position}"
            meta: dict[str, Any] = {"url": url, "date": date, "source": shard.path, "offset": position}
            if item.position:
                meta["member_position"] = item.position
            if wet:
                stats.read += 1
                stats.bytes += len(item.block)
                meta["content_type"] = header(item.headers, "Content-Type")
                yield {"id": rid, "text": item.block.decode("utf-8", errors="replace"), "metadata": meta,
                       "signals": {}}
                continue
            status, ctype, charset, body = _http(item.block)
            stats.read += 1
            stats.bytes += len(body)
            if status is not None and not 200 <= status < 300:
                stats.skipped[f"http_status_{status // 100}xx"] += 1
                continue
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
                text, used = decode_html(body, charset)
            except Exception as exc:  # noqa: BLE001
                quarantine.add("undecodable", shard.path, f"{type(exc).__name__}: {exc}", offset=position)
                continue
            meta["content_type"] = ctype or None
            meta["charset"] = used
            yield {"id": rid, "text": text, "metadata": meta, "signals": {}}
    except OSError as exc:
        quarantine.add(_os_error_kind(exc), shard.path, f"{type(exc).__name__}: {exc}",
                       note="records after this point in the file are unreadable")
    finally:
        fh.close()


def _os_error_kind(exc: OSError) -> str:
    """A quarantine kind for an error of the file system, not of the file's content."""
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, FileNotFoundError):
        return "file_not_found"
    return "io_error"


_HTML_SNIFF = re.compile(rb"<(!doctype html|html|head|body|div|p|table|meta|title|span|a)[\s>/]", re.I)


def _looks_like_html(body: bytes) -> bool:
    """Content sniffing for responses without a Content-Type (old crawls such as ClueWeb09)."""
    return _HTML_SNIFF.search(body[:4096]) is not None


_BOM = b"\xef\xbb\xbf"


def read_jsonl(shard: Shard, stats: ReadStats, quarantine: Quarantine, *,
               text_field: str = "text", id_field: str = "id") -> Iterator[Record]:
    """Records of a JSON-lines file (plain, .gz or .zst), or of one byte range of a plain one.

    Line numbers are known when the file is read from its start; a byte-range task reports
    the line's byte ``offset`` instead (and records without an id get ``path@offset``)."""
    ranged = bool(shard.start) or shard.end is not None
    line_no = 0
    lines = iter_lines(shard.path, shard.start, shard.end)
    where: dict[str, Any] = {}
    while True:
        try:
            offset, raw = next(lines)
        except StopIteration:
            break
        except TruncatedError as exc:
            quarantine.add("truncated_file", shard.path, str(exc), **_next_where(ranged, line_no, where),
                           note="the lines after this point were cut off")
            break
        except CorruptError as exc:
            quarantine.add("corrupt_compression", shard.path, str(exc), **_next_where(ranged, line_no, where),
                           note="lines after this point in the file are unreadable")
            break
        except OSError as exc:
            quarantine.add(_os_error_kind(exc), shard.path, f"{type(exc).__name__}: {exc}",
                           **_next_where(ranged, line_no, where))
            break
        line_no += 1
        where = {"offset": offset} if ranged else {"line": line_no}
        stats.bytes += len(raw)
        if raw.startswith(_BOM):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            quarantine.add("invalid_utf8", shard.path, f"invalid UTF-8 at byte {exc.start}", **where)
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            quarantine.add("malformed_json", shard.path, f"malformed JSON: {exc}", **where)
            continue
        if not isinstance(obj, dict):
            quarantine.add("malformed_json", shard.path,
                           f"expected a JSON object, got {type(obj).__name__}", **where)
            continue
        fallback = f"{shard.path}@{offset}" if ranged else f"{shard.path}:{line_no}"
        record = _to_record(obj, shard.path, text_field, id_field, fallback)
        if record is None:
            quarantine.add("missing_text", shard.path,
                           f"expected a string field {text_field!r}", **where)
            continue
        if ranged:
            record["metadata"].setdefault("offset", offset)
        else:
            record["metadata"].setdefault("line", line_no)
        stats.read += 1
        yield record


def _next_where(ranged: bool, line_no: int, last: dict[str, Any]) -> dict[str, Any]:
    """Where a break in the file is: the line after the last good one."""
    if ranged:
        return {"after_offset": last["offset"]} if last else {}
    return {"line": line_no + 1}


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
    except OSError as exc:
        quarantine.add(_os_error_kind(exc), shard.path, f"{type(exc).__name__}: {exc}")
        return
    try:
        pf = pq.ParquetFile(fh)
    except Exception as exc:  # noqa: BLE001
        fh.close()
        quarantine.add("corrupt_parquet", shard.path, f"{type(exc).__name__}: {exc}")
        return
    groups = None
    row = 0
    if shard.start or shard.end is not None:  # a run of row groups (datamill.io.split)
        end = pf.metadata.num_row_groups if shard.end is None else shard.end
        groups = list(range(shard.start, end))
        row = sum(pf.metadata.row_group(i).num_rows for i in range(shard.start))
    try:
        for batch in pf.iter_batches(batch_size=1024, row_groups=groups):
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
    if not shard.start:  # the first (or only) part of the file
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
