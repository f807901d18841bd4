"""Lines of plain, gzip and zstd files, with honest ends and byte ranges.

Python's ``GzipFile`` and zstandard's ``stream_reader`` do not always say when a file ends
early: a ``.jsonl.zst`` cut inside its first block reads as an empty file, and a cut inside a
later block hands back half a line, which then looks like malformed JSON. Here decompression
goes chunk by chunk through zlib/zstandard's decompression objects, which report whether the
stream reached its end marker, so a cut is always :class:`TruncatedError` (its partial last
line is never returned as a line) and bad compressed data is :class:`CorruptError`.

Plain files can also be read by byte range (``start``/``end``): a range owns the lines that
*start* inside it, so ranges that tile a file read every line exactly once.
"""

from __future__ import annotations

import zlib
from typing import IO, Iterator

import fsspec

try:  # Intel ISA-L's inflate: about 2.5x zlib's (measured in benchmarks/bench_ingest.py); same API
    from isal import isal_zlib as inflate
except ImportError:  # pragma: no cover - the `web` extra installs isal
    inflate = zlib  # type: ignore[assignment]

CHUNK = 1 << 20


class TruncatedError(EOFError):
    """The compressed stream ends before its end marker: the file was cut."""


class CorruptError(ValueError):
    """The compressed stream holds bytes that do not decompress."""


def _member_chunks(raw: IO[bytes], new_decoder, errors, what: str, truncated: str, *,
                   zero_padding: bool = False, flush: bool = False) -> Iterator[bytes]:
    """Decompressed chunks of a stream of concatenated members (gzip members, zstd frames):
    a corrupt member raises :class:`CorruptError`, a stream cut inside a member
    :class:`TruncatedError` (after what could be read)."""
    d = new_decoder()
    fed = False
    while True:
        chunk = raw.read(CHUNK)
        if not chunk:
            break
        while chunk:
            try:
                out = d.decompress(chunk)
            except errors as exc:
                raise CorruptError(f"corrupt {what} data: {exc}") from exc
            fed = True
            if out:
                yield out
            if d.eof:  # a member ended; another may follow
                chunk = d.unused_data
                d = new_decoder()
                fed = bool(chunk)
                if zero_padding and chunk and not chunk.lstrip(b"\x00"):
                    chunk, fed = b"", False
            else:
                chunk = b""
    if fed and not d.eof:
        if flush:
            tail = d.flush()
            if tail:
                yield tail
        raise TruncatedError(truncated)


def gzip_chunks(raw: IO[bytes]) -> Iterator[bytes]:
    return _member_chunks(raw, lambda: inflate.decompressobj(31), (zlib.error, inflate.error), "gzip",
                          "the gzip stream ends before its end marker (file cut short)",
                          zero_padding=True, flush=True)


def zstd_chunks(raw: IO[bytes]) -> Iterator[bytes]:
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    return _member_chunks(raw, dctx.decompressobj, zstandard.ZstdError, "zstd",
                          "the zstd stream ends inside a frame (file cut short)")


def _plain_chunks(raw: IO[bytes], limit: int | None) -> Iterator[bytes]:
    left = limit
    while True:
        n = CHUNK if left is None else min(CHUNK, left)
        if n <= 0:
            return
        chunk = raw.read(n)
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


def compression_of(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".gz"):
        return "gz"
    if lower.endswith(".zst"):
        return "zst"
    return "none"


def iter_lines(path: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` for each line (with its ``\\n``) of a plain, .gz or .zst file.

    ``offset`` is the line's byte offset in the decompressed stream. With ``start``/``end``
    (plain files only) the lines that start in ``[start, end)`` are read. Raises
    :class:`TruncatedError` or :class:`CorruptError` after the last good line, and ``OSError``
    when the file cannot be read."""
    kind = compression_of(path)
    if kind != "none" and (start or end is not None):
        raise ValueError(f"{path}: a compressed file cannot be read by byte range")
    with fsspec.open(path, "rb") as raw:
        pos = 0
        if start:
            # a line starts at ``start`` only if the byte before it ends a line
            raw.seek(start - 1)
            prev = raw.read(1)
            pos = start
            if prev != b"\n":
                skipped = _skip_line(raw)
                pos += skipped
        if kind == "gz":
            chunks = gzip_chunks(raw)
        elif kind == "zst":
            chunks = zstd_chunks(raw)
        else:
            # a range reads on past ``end`` only to finish the line that starts before it
            chunks = _plain_chunks(raw, None)
        pending = b""
        for chunk in chunks:
            data = pending + chunk if pending else chunk
            i = 0
            while True:
                j = data.find(b"\n", i)
                if j < 0:
                    break
                if end is not None and pos >= end:
                    return
                yield pos, data[i:j + 1]
                pos += j + 1 - i
                i = j + 1
            pending = data[i:]
            if end is not None and pos >= end:
                return
        if pending and (end is None or pos < end):
            yield pos, pending


def _skip_line(raw: IO[bytes]) -> int:
    """Read past the end of the current line; return how many bytes were skipped."""
    n = 0
    while True:
        chunk = raw.read(1 << 16)
        if not chunk:
            return n
        j = chunk.find(b"\n")
        if j >= 0:
            raw.seek(-(len(chunk) - j - 1), 1)
            return n + j + 1
        n += len(chunk)


def open_lines(path: str) -> Iterator[bytes]:
    """The lines of a plain, .gz or .zst file, as bytes (each with its ``\\n``): for readers of
    side files (logs, dropped records) that count lines themselves. Truncated or corrupt
    compressed data raises :class:`TruncatedError`/:class:`CorruptError` after the last good line."""
    for _, line in iter_lines(path):
        yield line


def numbered_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` for the non-blank lines of a plain, .gz or .zst file, a
    byte-order mark before the first line read past (readers of JSON lines); truncated or
    corrupt compressed data raises as :func:`open_lines` does."""
    for line_no, raw in enumerate(open_lines(path), 1):
        if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a byte-order mark some editors write
        if raw.strip():
            yield line_no, raw
