"""WARC record framing that survives broken files: one broken record is lost, not the file.

fastwarc and warcio trust each record's ``Content-Length``: a record cut short by a truncated
download is returned as if complete, and a wrong length makes them read the next record's
headers as page text and lose every later record of the file. Neither resynchronises, so datamill
frames records itself (the format is simple; decompression stays in zlib/zstandard's C code):

- ``.warc.gz``: every record is its own gzip member (the WARC standard's recommendation, what
  Common Crawl writes). A record never spans members, so a member that ends inside a record
  means a wrong ``Content-Length``; a corrupt member is skipped by searching the next gzip
  header. The offset of a record is its member's offset in the compressed file (what CDX
  indexes hold), so ``offset`` in the quarantine points at the broken record.
- plain ``.warc`` (and ``.warc.zst``): a record must be followed by blank lines and the next
  ``WARC/`` version line (or the end of the file); when it is not, the record is quarantined
  and reading resumes at the next line that starts with ``WARC/``.

Every problem is reported as a :class:`Broken` item (kind, offset, reason) among the good
:class:`Frame` items, in file order; the caller quarantines it and goes on.
"""

from __future__ import annotations

import bisect
import re
import zlib
from dataclasses import dataclass, field
from typing import IO, Iterator, Union

from datamill.io.lines import CorruptError, TruncatedError, zstd_chunks
from datamill.io.lines import inflate as _zlib

#: a record larger than this is quarantined (and skipped) rather than buffered
MAX_RECORD_BYTES = 256 << 20
#: the longest WARC header block accepted
MAX_HEADER_BYTES = 1 << 16
_CHUNK = 1 << 20
_FEED = 1 << 16
_GZ_MAGIC = b"\x1f\x8b\x08"
_VERSION_LINE = re.compile(rb"(?:^|\n)WARC/\d")
_LINE_THEN_VERSION = re.compile(rb"\nWARC/\d")
_BLANK = b"\r\n"


@dataclass
class Frame:
    """One complete WARC record: its headers and its content block (bytes)."""

    offset: int
    headers: dict[str, str]
    block: bytes
    position: int = 0  # decompressed position inside its gzip member (0 for one record a member)


@dataclass
class Broken:
    """A record (or stretch of bytes) that could not be read: quarantine it."""

    kind: str
    offset: int
    reason: str
    extra: dict = field(default_factory=dict)


Item = Union[Frame, Broken]


def parse_headers(raw: bytes) -> dict[str, str]:
    """``Name: value`` lines (after the version line) into a dict; names as written."""
    out: dict[str, str] = {}
    last = None
    for line in raw.decode("utf-8", "replace").splitlines()[1:]:
        if not line:
            continue
        if line[0] in " \t":  # folded continuation line
            if last is not None:
                out[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:  # a repeated header keeps its first value (as fastwarc and warcio do)
            last = name.strip()
            if last in out:
                last = None
                continue
            out[last] = value.strip()
    return out


def header(headers: dict[str, str], name: str) -> str | None:
    """A header by case-insensitive name."""
    value = headers.get(name)
    if value is not None:
        return value
    low = name.lower()
    for k, v in headers.items():
        if k.lower() == low:
            return v
    return None


class _Framer:
    """Cuts a decompressed byte stream (a gzip member, or a whole plain file) into records."""

    def __init__(self, max_record: int, gz: bool = False):
        self.max_record = max_record
        self.gz = gz
        self.members_at: list[int] = []    # decompressed position where each gzip member starts
        self.members_off: list[int] = []   # ... and its offset in the compressed file
        self.clean_end = True              # the stream ended at a member boundary (gz)
        self.buf = bytearray()
        self.start = 0                     # decompressed position of buf[0]
        self.skipping = False

    def member(self, offset: int) -> None:
        """A gzip member at ``offset`` in the file starts at the current end of the stream."""
        at = self.start + len(self.buf)
        if self.members_at and self.members_at[-1] == at:
            self.members_off[-1] = offset
            return
        self.members_at.append(at)
        self.members_off.append(offset)
        if len(self.members_at) > 4096:  # keep the map short: drop members wholly consumed
            i = bisect.bisect_right(self.members_at, self.start) - 1
            if i > 0:
                del self.members_at[:i], self.members_off[:i]

    def _where(self, pos: int) -> tuple[int, int]:
        """(offset in the file, position inside its gzip member) of stream position ``pos``."""
        if not self.gz:
            return pos, 0
        i = max(0, bisect.bisect_right(self.members_at, pos) - 1)
        if not self.members_at:
            return 0, pos
        return self.members_off[i], pos - self.members_at[i]

    def _broken(self, kind: str, pos: int, reason: str) -> Broken:
        offset, position = self._where(pos)
        extra = {"position": position} if position else {}
        return Broken(kind, offset, reason, extra)

    def _skip_to_next_record(self, final: bool) -> bool:
        """Drop bytes up to the next line that starts with ``WARC/``; False if none yet."""
        m = _VERSION_LINE.search(self.buf)
        if m is None:
            drop = len(self.buf) if final else max(0, len(self.buf) - 8)  # a version line may straddle chunks
            del self.buf[:drop]
            self.start += drop
            return False
        cut = m.start() + (1 if self.buf[m.start()] == 0x0A else 0)
        del self.buf[:cut]
        self.start += cut
        return True

    def lose_pending(self) -> Iterator[Item]:
        """The stream broke (a corrupt gzip member): a record begun before it cannot complete.
        Reading resumes at the next record's version line."""
        if self.buf.strip(b"\r\n") and not self.skipping:
            yield self._broken("warc_truncated_record", self.start,
                               "record cut by a corrupt gzip member after it")
        self.start += len(self.buf)
        self.buf.clear()
        self.skipping = True

    def _lose_record(self) -> None:
        """Give up on the record at buf[0]: the next one is searched after its version line."""
        del self.buf[:5]
        self.start += 5
        self.skipping = True

    def feed(self, data: bytes, final: bool = False, boundary: bool = False) -> Iterator[Item]:
        """Add ``data``; yield every record now complete. ``final``: no more data will come;
        ``boundary``: the data ends at a gzip member boundary (a record may end there)."""
        self.buf += data
        while True:
            if self.skipping:
                if not self._skip_to_next_record(final):
                    return
                self.skipping = False
            # blank lines between records
            i = 0
            n = len(self.buf)
            while i < n and self.buf[i] in _BLANK:
                i += 1
            if i:
                del self.buf[:i]
                self.start += i
            if not self.buf:
                return
            if not self.buf.startswith(b"WARC/"):
                if len(self.buf) < 5 and not final and b"WARC/".startswith(bytes(self.buf)):
                    return
                yield self._broken("warc_bad_record", self.start,
                                   "expected a 'WARC/' version line at the start of a record")
                self.skipping = True
                continue
            end = self.buf.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES)
            if end < 0:
                end = self.buf.find(b"\n\n", 0, MAX_HEADER_BYTES)
                sep = 2
            else:
                sep = 4
            if end < 0:
                if len(self.buf) < MAX_HEADER_BYTES and not final:
                    return
                kind = "warc_truncated_record" if final and len(self.buf) < MAX_HEADER_BYTES else "warc_bad_record"
                yield self._broken(kind, self.start, "WARC header block does not end (no blank line)")
                self._lose_record()
                continue
            headers = parse_headers(bytes(self.buf[:end]))
            length_s = header(headers, "Content-Length")
            try:
                length = int(length_s) if length_s is not None else -1
            except ValueError:
                length = -1
            if length < 0:
                yield self._broken("warc_bad_record", self.start,
                                   f"WARC header without a valid Content-Length ({length_s!r})")
                self._lose_record()
                continue
            if length > self.max_record:
                yield self._broken("warc_record_too_large", self.start,
                                   f"Content-Length {length} exceeds the limit of {self.max_record} bytes")
                self._lose_record()
                continue
            body_start = end + sep
            body_end = body_start + length
            if len(self.buf) < body_end:
                if not final:
                    return
                # the stream ended inside this record: a later version line means the length
                # is wrong; none means the file was cut
                if _VERSION_LINE.search(self.buf, body_start) is not None:
                    yield self._broken("warc_bad_content_length", self.start,
                                       f"Content-Length {length} runs past the next record")
                    self._lose_record()
                    continue
                kind = "warc_bad_content_length" if self.gz and self.clean_end else "warc_truncated_record"
                why = (f"record ends after {len(self.buf) - body_start} of its {length} content bytes"
                       + (" (the file ends at a gzip member boundary)" if kind == "warc_bad_content_length"
                          else " (the file ends inside it)"))
                yield self._broken(kind, self.start, why)
                self.buf.clear()
                return
            # after the block: the standard "\r\n\r\n", or (leniently, for old crawlers) blank
            # lines, then the next record, a gzip member boundary or the end of the file
            if self.buf[body_end:body_end + 4] == b"\r\n\r\n":
                j = body_end + 4
                tail = b""
            else:
                j = body_end
                while j < len(self.buf) and self.buf[j] in _BLANK and j - body_end < 8:
                    j += 1
                tail = bytes(self.buf[j:j + 5])
                if len(tail) < 5 and not final and not (boundary and not tail) and b"WARC/".startswith(tail):
                    return
            if tail and not tail.startswith(b"WARC/"):
                yield self._broken("warc_bad_content_length", self.start,
                                   f"Content-Length {length} does not end at a record boundary")
                self._lose_record()
                continue
            offset, position = self._where(self.start)
            yield Frame(offset, headers, bytes(self.buf[body_start:body_end]), position)
            del self.buf[:j]
            self.start += j


def _gz_frames(fh: IO[bytes], max_record: int, start: int = 0, end: int | None = None) -> Iterator[Item]:
    """Records of a gzip file. Usually one record is one member, but a record may span members
    (some writers flush mid-record), so members feed one continuous stream; a corrupt member is
    reported and skipped to the next gzip header, losing the record it held."""
    framer = _Framer(max_record, gz=True)
    buf = b""
    pos = 0  # the unread input is buf[pos:]
    base = start  # file offset of buf[0]
    eof = False
    if start:
        first = _first_record_member(fh, start)
        if first is None:
            return
        fh.seek(first)
        base = first

    def refill() -> None:
        """Append the next chunk of the file to the unread input."""
        nonlocal buf, pos, base, eof
        chunk = fh.read(_CHUNK)
        if not chunk:
            eof = True
        base += pos
        buf = buf[pos:] + chunk
        pos = 0

    while True:
        if len(buf) - pos < 3 and not eof:
            refill()
            continue
        if pos >= len(buf):
            yield from framer.feed(b"", final=True)
            return
        member_off = base + pos
        if end is not None and member_off >= end and not framer.buf.strip(b"\r\n"):
            return  # the records from here on belong to the next range
        if buf[pos:pos + 3] != _GZ_MAGIC:
            rest = buf[pos:]
            if not rest.strip(b"\x00"):  # zero padding (at the end of the file, or a bad stretch)
                if not eof:
                    refill()
                    continue
                pos = len(buf)
                continue
            yield Broken("corrupt_compression", member_off, "expected a gzip member here")
            yield from framer.lose_pending()
            nxt, nxt_off = _next_member(fh, rest, member_off, lambda: fh.read(_CHUNK))
            buf, pos, base, eof = nxt, 0, nxt_off, False
            continue
        framer.member(member_off)
        d = _zlib.decompressobj(31)
        view = memoryview(buf)
        try:
            while True:
                piece = view[pos:pos + _FEED]  # small pieces: unused_data stays small
                out = d.decompress(piece)
                if d.eof:
                    pos += len(piece) - len(d.unused_data)
                    yield from framer.feed(out, boundary=True)
                    break
                pos += len(piece)
                if out:
                    yield from framer.feed(out)
                if pos >= len(buf):
                    view.release()
                    refill()
                    view = memoryview(buf)
                    if pos >= len(buf):
                        framer.clean_end = False
                        yield from framer.feed(d.flush(), final=True)
                        return
        except (zlib.error, _zlib.error) as exc:
            view.release()
            yield Broken("corrupt_compression", member_off, f"corrupt gzip member: {exc}")
            yield from framer.lose_pending()
            fh.seek(member_off + 1)
            nxt, nxt_off = _next_member(fh, b"", member_off + 1, lambda: fh.read(_CHUNK))
            buf, pos, base, eof = nxt, 0, nxt_off, False
            continue
        view.release()


def _first_record_member(fh: IO[bytes], start: int) -> int | None:
    """Offset of the first gzip member at or after ``start`` that begins a WARC record (the
    gzip magic bytes also occur by chance inside compressed data: each candidate is checked
    by decompressing its first bytes)."""
    pos = start
    fh.seek(pos)
    data = fh.read(_CHUNK)
    while data:
        i = data.find(_GZ_MAGIC)
        while i >= 0:
            fh.seek(pos + i)
            head = fh.read(1 << 16)
            try:
                out = _zlib.decompressobj(31).decompress(head, 64)
            except (zlib.error, _zlib.error):
                out = b""
            if out.lstrip(b"\r\n").startswith(b"WARC/"):
                return pos + i
            i = data.find(_GZ_MAGIC, i + 1)
        pos += max(1, len(data) - 2)
        fh.seek(pos)
        data = fh.read(_CHUNK)
        if len(data) < 3:
            return None
    return None


def _next_member(fh, buf: bytes, buf_off: int, more) -> tuple[bytes, int]:
    """Advance to the next gzip header (magic bytes) at or after buf[1:]; ``b""`` if none."""
    start = 1 if buf.startswith(_GZ_MAGIC) else 0
    while True:
        i = buf.find(_GZ_MAGIC, start)
        if i >= 0:
            return buf[i:], buf_off + i
        keep = buf[-2:]
        buf_off += len(buf) - len(keep)
        chunk = more()
        if not chunk:
            return b"", buf_off + len(keep)
        buf = keep + chunk
        start = 0


def _stream_frames(stream: IO[bytes], max_record: int, start: int = 0,
                   end: int | None = None) -> Iterator[Item]:
    framer = _Framer(max_record)
    if start:
        begin = _first_version_line(stream, start)
        if begin is None:
            return
        stream.seek(begin)
        framer.start = begin
    while True:
        chunk = stream.read(_CHUNK)
        items = framer.feed(chunk, final=not chunk)
        for item in items:
            if end is not None and item.offset >= end:
                return  # the records from here on belong to the next range
            yield item
        if not chunk:
            return


def _zstd_frames(fh: IO[bytes], max_record: int) -> Iterator[Item]:
    """Records of a ``.warc.zst``; a cut or corrupt stream ends the file with a quarantine
    entry (zstd frames cannot be resynchronised like gzip members)."""
    framer = _Framer(max_record)
    try:
        for chunk in zstd_chunks(fh):
            yield from framer.feed(chunk)
    except (TruncatedError, CorruptError) as exc:
        kind = "warc_truncated_record" if isinstance(exc, TruncatedError) else "corrupt_compression"
        items = list(framer.feed(b"", final=True))
        yield from (i for i in items if isinstance(i, Frame))
        yield Broken(kind, framer.start, f"{exc}; the records after this point are lost")
        return
    yield from framer.feed(b"", final=True)


def _first_version_line(fh: IO[bytes], start: int) -> int | None:
    """Offset of the first line at or after ``start`` that starts with ``WARC/``."""
    pos = start - 1
    fh.seek(pos)
    data = fh.read(_CHUNK)
    while data:
        m = _LINE_THEN_VERSION.search(data)
        if m is not None:
            return pos + m.start() + 1
        pos += max(1, len(data) - 8)
        fh.seek(pos)
        data = fh.read(_CHUNK)
        if len(data) < 7:
            return None
    return None


def iter_frames(fh: IO[bytes], path: str, max_record: int = MAX_RECORD_BYTES, *,
                start: int = 0, end: int | None = None) -> Iterator[Item]:
    """Every record of an open WARC file (``.gz``, ``.zst`` or plain), and every break.

    ``start``/``end`` (``.gz`` and plain files): only the records that start in that byte
    range (:mod:`datamill.io.split`)."""
    lower = path.lower()
    if (start or end is not None) and lower.endswith(".zst"):
        raise ValueError(f"{path}: a .zst file cannot be read by byte range")
    if lower.endswith(".gz"):
        yield from _gz_frames(fh, max_record, start, end)
    elif lower.endswith(".zst"):
        yield from _zstd_frames(fh, max_record)
    else:
        yield from _stream_frames(fh, max_record, start, end)
