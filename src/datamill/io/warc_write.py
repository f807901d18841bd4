"""Write WARC/1.1 files: one gzip member per record, atomic on close.

The bytes are written by hand (not through fastwarc's writer) so that output is fully
deterministic: the caller fixes dates and record ids, gzip members carry ``mtime=0``, and the
same pages always give the same file. fastwarc, warcio and datatrove read the result.

A page is a dict:

``url`` (required)
    WARC-Target-URI.
``html_bytes`` (required unless ``http_response`` is given)
    The HTTP body, raw bytes in whatever encoding the page has.
``content_type``
    HTTP Content-Type, e.g. ``"text/html; charset=utf-8"`` (default ``"text/html"``).
``date``
    WARC-Date: a ``datetime`` or an ISO 8601 string (default: 2024-01-01T00:00:00Z).
``record_id``
    WARC-Record-ID, bare ``urn:uuid:...`` or ``<urn:uuid:...>`` (default: derived from url,
    date and payload, so reruns give identical ids).
``http_response``
    A complete raw HTTP response (status line, headers, body). Written as the record block
    unchanged instead of building one from ``html_bytes``.
``warc_headers``
    A list of ``(name, value)`` WARC headers to write *instead of* the generated ones (used
    to copy records from other WARC files as they are); ``Content-Length`` is always
    recomputed. ``warc_version`` gives the version line for such a record (default WARC/1.1).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["WarcWriter", "write_warc", "stable_record_id", "sha1_digest"]

DEFAULT_DATE = "2024-01-01T00:00:00Z"
_NAMESPACE = uuid.UUID("6f1d1f3e-2b1a-4c55-9d7e-6a61746d696c")  # fixed: ids are stable


def sha1_digest(data: bytes) -> str:
    """``sha1:BASE32`` as WARC digests are written."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def stable_record_id(*parts: str | bytes) -> str:
    """A ``<urn:uuid:...>`` derived from ``parts`` (uuid5): same input, same id."""
    h = hashlib.sha1()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode("utf-8"))
        h.update(b"\x00")
    return f"<urn:uuid:{uuid.uuid5(_NAMESPACE, h.hexdigest())}>"


def _warc_date(value) -> str:
    if value is None:
        return DEFAULT_DATE
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _clean(value: str) -> str:
    # header values never carry line breaks
    return str(value).replace("\r", " ").replace("\n", " ")


def _uri(url: str) -> str:
    # a WARC-Target-URI is a URI: no whitespace (some real-world URLs carry a raw space)
    return _clean(url).strip().replace(" ", "%20")


def _bracket_id(rid: str) -> str:
    rid = rid.strip()
    return rid if rid.startswith("<") else f"<{rid}>"


def http_response_block(body: bytes, content_type: str | None = None) -> bytes:
    """``HTTP/1.1 200 OK`` header block followed by ``body``."""
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Content-Type: {_clean(content_type or 'text/html')}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode("utf-8")
    return head + body


class WarcWriter:
    """Appends records to ``path`` (written as ``path`` + temp suffix, renamed on ``close``).

    ``compress=True`` writes one gzip member per record (``.warc.gz``), the layout readers
    rely on to seek and split. Use as a context manager; on an exception the partial file is
    removed and ``path`` is left untouched.
    """

    def __init__(self, path: str | os.PathLike, *, compress: bool = True,
                 info: Mapping[str, str] | None = None, compresslevel: int = 6):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._fh = open(self._tmp, "wb")
        self._compress = compress
        self._level = compresslevel
        self.records = 0
        self.bytes_written = 0
        fields = {"software": "datamill", "format": "WARC File Format 1.1",
                  "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"}
        fields.update(info or {})
        body = "".join(f"{k}: {_clean(v)}\r\n" for k, v in fields.items()).encode("utf-8")
        self.warcinfo_id = stable_record_id("warcinfo", self.path.name, body)
        self._write_record(
            [("WARC-Type", "warcinfo"),
             ("WARC-Record-ID", self.warcinfo_id),
             ("WARC-Date", _warc_date(fields.get("date"))),
             ("WARC-Filename", self.path.name),
             ("Content-Type", "application/warc-fields")],
            body,
        )
        self.records = 0  # count response records only

    # -- low level ---------------------------------------------------------------------
    def _write_record(self, headers: list[tuple[str, str]], block: bytes,
                      version: str = "WARC/1.1") -> int:
        lines = [version]
        for name, value in headers:
            if name.lower() == "content-length":
                continue
            lines.append(f"{name}: {_clean(value)}")
        lines.append(f"Content-Length: {len(block)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + block + b"\r\n\r\n"
        if self._compress:
            data = gzip.compress(data, compresslevel=self._level, mtime=0)
        self._fh.write(data)
        self.bytes_written += len(data)
        self.records += 1
        return len(data)

    # -- public ------------------------------------------------------------------------
    def write_page(self, page: Mapping) -> int:
        """Write one ``response`` record for ``page`` (see the module docstring)."""
        url = page["url"]
        if page.get("warc_headers") is not None:
            block = page["http_response"]
            return self._write_record(list(page["warc_headers"]), block,
                                      page.get("warc_version") or "WARC/1.1")
        if page.get("http_response") is not None:
            block = page["http_response"]
            sep = block.find(b"\r\n\r\n")
            payload = block[sep + 4:] if sep >= 0 else b""
        else:
            payload = page["html_bytes"]
            block = http_response_block(payload, page.get("content_type"))
        date = _warc_date(page.get("date"))
        rid = page.get("record_id") or stable_record_id(url, date, payload)
        headers = [
            ("WARC-Type", "response"),
            ("WARC-Record-ID", _bracket_id(rid)),
            ("WARC-Warcinfo-ID", self.warcinfo_id),
            ("WARC-Date", date),
            ("WARC-Target-URI", _uri(url)),
            ("Content-Type", "application/http; msgtype=response"),
            ("WARC-Block-Digest", sha1_digest(block)),
            ("WARC-Payload-Digest", sha1_digest(payload)),
        ]
        ctype = (page.get("content_type") or "text/html").split(";")[0].strip().lower()
        if ctype:
            headers.append(("WARC-Identified-Payload-Type", ctype))
        return self._write_record(headers, block)

    def close(self) -> None:
        if self._fh is None:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "WarcWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_warc(pages: Iterable[Mapping], path: str | os.PathLike, *, compress: bool = True,
               info: Mapping[str, str] | None = None) -> int:
    """Write a ``warcinfo`` record then one ``response`` record per page; return the count.

    The file appears at ``path`` only once complete (temp name, then ``os.replace``).
    """
    with WarcWriter(path, compress=compress, info=info) as w:
        for page in pages:
            w.write_page(page)
        return w.records
