"""The state store of global steps: every file a global step keeps between its stages.

A global step's state folder may be a local path or any fsspec URL (``memory://``, ``s3://``,
``gs://``...): the Ray executor on a cluster keeps it on shared object storage. Every read and
every write goes through this one class, so a step never builds a local path with
``os.path.join`` and calls ``np.load`` on it (which works on a laptop and fails on a bucket).

Writes are atomic (temporary name, then rename: :mod:`datamill.io.atomic`), so a killed task
never leaves a half-written state file under its final name. Large arrays are memory-mapped
when the folder is local; on object storage they are read whole (a task reads the state of one
shard or partition at a time, which is what bounds its memory anyway).
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import IO, Any, Iterator

import fsspec
import numpy as np
import orjson

from datamill.io.atomic import atomic_open


class StateStore:
    """Files under one state folder, named relative to it (``hashes-00003.npy``)."""

    def __init__(self, root: str):
        self.root = str(root).rstrip("/")
        self.fs, self.path = fsspec.core.url_to_fs(self.root)
        self._local = "file" in _protocols(self.fs)

    def __repr__(self) -> str:
        return f"StateStore({self.root!r})"

    # --- names ------------------------------------------------------------------------------
    def url(self, name: str) -> str:
        """The full URL (or local path) of ``name``, as given to fsspec."""
        return f"{self.root}/{name}"

    def _p(self, name: str) -> str:
        return f"{self.path}/{name}"

    def local_path(self, name: str) -> str | None:
        """A local file path for ``name`` when the store is on the local disk, else None."""
        return self._p(name) if self._local else None

    def exists(self, name: str) -> bool:
        return self.fs.exists(self._p(name))

    def size(self, name: str) -> int:
        return int(self.fs.size(self._p(name)) or 0)

    def makedirs(self) -> None:
        self.fs.makedirs(self.path, exist_ok=True)

    def _missing(self, name: str, exc: Exception) -> FileNotFoundError:
        return FileNotFoundError(f"state file {self.url(name)} not found: the stage that writes it has "
                                 f"not run (or its output was removed): {exc}")

    # --- bytes ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, name: str) -> Iterator[IO[bytes]]:
        """A binary file handle; ``name`` appears complete when the block ends, or not at all."""
        with atomic_open(self.url(name), "wb") as fh:
            yield fh

    def open(self, name: str) -> IO[bytes]:
        try:
            return self.fs.open(self._p(name), "rb")
        except FileNotFoundError as exc:
            raise self._missing(name, exc) from exc

    def write_bytes(self, name: str, data: bytes) -> None:
        with self.writer(name) as fh:
            fh.write(data)

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as fh:
            return fh.read()

    # --- JSON -------------------------------------------------------------------------------
    def write_json(self, name: str, obj: Any, *, indent: bool = False) -> None:
        option = orjson.OPT_INDENT_2 if indent else 0
        self.write_bytes(name, orjson.dumps(obj, option=option, default=str))

    def read_json(self, name: str) -> Any:
        return orjson.loads(self.read_bytes(name))

    def write_jsonl(self, name: str, rows: list[Any]) -> None:
        self.write_bytes(name, b"".join(orjson.dumps(r, default=str) + b"\n" for r in rows))

    def read_jsonl(self, name: str) -> list[Any]:
        return [orjson.loads(line) for line in self.read_bytes(name).splitlines() if line.strip()]

    # --- numpy ------------------------------------------------------------------------------
    def save_npy(self, name: str, arr: np.ndarray) -> None:
        with self.writer(name) as fh:
            np.save(fh, arr, allow_pickle=False)

    def load_npy(self, name: str, *, mmap: bool = False) -> np.ndarray:
        """An array saved with :meth:`save_npy`; memory-mapped read-only when ``mmap`` and the
        store is local."""
        local = self.local_path(name)
        if local is not None:
            try:
                return np.load(local, mmap_mode="r" if mmap else None, allow_pickle=False)
            except FileNotFoundError as exc:
                raise self._missing(name, exc) from exc
        return np.load(io.BytesIO(self.read_bytes(name)), allow_pickle=False)

    def save_npz(self, name: str, **arrays: np.ndarray) -> None:
        with self.writer(name) as fh:
            np.savez(fh, **arrays)

    def load_npz(self, name: str) -> dict[str, np.ndarray]:
        local = self.local_path(name)
        source: Any = local if local is not None else io.BytesIO(self.read_bytes(name))
        try:
            with np.load(source, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except FileNotFoundError as exc:
            raise self._missing(name, exc) from exc

    def load_raw(self, name: str, dtype: Any, *, mmap: bool = False) -> np.ndarray:
        """A flat array of ``dtype`` written as raw bytes (``arr.tobytes()``)."""
        dtype = np.dtype(dtype)
        local = self.local_path(name)
        if local is not None:
            try:
                size = os.path.getsize(local)
            except FileNotFoundError as exc:
                raise self._missing(name, exc) from exc
            if not size:
                return np.zeros(0, dtype=dtype)
            if mmap:
                return np.memmap(local, dtype=dtype, mode="r", shape=(size // dtype.itemsize,))
            return np.fromfile(local, dtype=dtype)
        return np.frombuffer(self.read_bytes(name), dtype=dtype)


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
