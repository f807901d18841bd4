"""Writers: JSONL (plain, .gz, .zst) and Parquet (zstd), each committed atomically.

A writer writes under a temporary name; ``commit()`` renames it to its final name, ``abort()``
removes it. A killed run therefore never leaves a half-written output under a final name.
"""

from __future__ import annotations

import gzip
import os
from typing import Any, Iterable

import fsspec
import orjson

from datamill.core.record import Record
from datamill.io.atomic import tmp_name

FORMATS = {"jsonl", "parquet"}
COMPRESSIONS = {"none", "gz", "zst"}


def output_suffix(fmt: str, compression: str = "gz") -> str:
    if fmt == "parquet":
        return ".parquet"
    return ".jsonl" + ("" if compression == "none" else f".{compression}")


def dumps(record: Record) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE,
                        default=str)


class JsonlWriter:
    def __init__(self, path: str, compression: str | None = None, level: int = 3):
        self.path = path
        if compression is None:
            compression = "gz" if path.endswith(".gz") else "zst" if path.endswith(".zst") else "none"
        self.fs, fs_path = fsspec.core.url_to_fs(path)
        self.final = fs_path
        parent = os.path.dirname(fs_path)
        if parent:
            self.fs.makedirs(parent, exist_ok=True)
        self.tmp = tmp_name(fs_path)
        self._raw = self.fs.open(self.tmp, "wb")
        if compression == "gz":
            self._fh: Any = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=level, mtime=0)
        elif compression == "zst":
            import zstandard

            self._fh = zstandard.ZstdCompressor(level=level).stream_writer(self._raw, closefd=False)
        else:
            self._fh = self._raw
        self.count = 0

    def write(self, records: Iterable[Record]) -> None:
        chunk = b"".join(dumps(r) for r in records)
        if chunk:
            self._fh.write(chunk)
        self.count += chunk.count(b"\n") if chunk else 0

    def commit(self) -> str:
        if self._fh is not self._raw:
            self._fh.close()
        self._raw.close()
        self.fs.mv(self.tmp, self.final)
        return self.path

    def abort(self) -> None:
        try:
            if self._fh is not self._raw:
                self._fh.close()
            self._raw.close()
        finally:
            if self.fs.exists(self.tmp):
                self.fs.rm(self.tmp)


class ParquetWriter:
    """Buffers a shard's records and writes one zstd Parquet file with row groups.

    The schema is inferred from the whole shard at once, so metadata keys that appear in only
    some records still get a column (null elsewhere).
    """

    def __init__(self, path: str, row_group_size: int = 10_000):
        self.path = path
        self.fs, self.final = fsspec.core.url_to_fs(path)
        parent = os.path.dirname(self.final)
        if parent:
            self.fs.makedirs(parent, exist_ok=True)
        self.tmp = tmp_name(self.final)
        self.rows: list[Record] = []
        self.row_group_size = row_group_size
        self.count = 0

    def write(self, records: Iterable[Record]) -> None:
        for r in records:
            self.rows.append(r)
        self.count = len(self.rows)

    def commit(self) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [_parquet_safe(r) for r in self.rows]
        table = pa.Table.from_pylist(rows) if rows else pa.table({"id": pa.array([], pa.string()),
                                                                 "text": pa.array([], pa.string())})
        with self.fs.open(self.tmp, "wb") as fh:
            pq.write_table(table, fh, compression="zstd", row_group_size=self.row_group_size)
        self.fs.mv(self.tmp, self.final)
        self.rows = []
        return self.path

    def abort(self) -> None:
        self.rows = []
        if self.fs.exists(self.tmp):
            self.fs.rm(self.tmp)


def _parquet_safe(record: Record) -> Record:
    """Empty dicts cannot become Arrow structs; store them as nulls."""
    out = dict(record)
    for key in ("metadata", "signals"):
        if key in out and not out[key]:
            out[key] = None
    return out


def open_writer(path: str, fmt: str, compression: str = "gz"):
    if fmt == "parquet":
        return ParquetWriter(path)
    if fmt == "jsonl":
        return JsonlWriter(path, compression=compression)
    raise ValueError(f"unknown output format {fmt!r}: expected one of {sorted(FORMATS)}")
