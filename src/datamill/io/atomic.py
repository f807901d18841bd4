"""Atomic commit: write under a temporary name, rename on success (works through fsspec)."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import IO, Iterator

import fsspec


def tmp_name(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".tmp-{uuid.uuid4().hex[:8]}-{tail}")


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb") -> Iterator[IO]:
    """Open ``path`` for writing so that it appears only complete, or not at all."""
    fs, fs_path = fsspec.core.url_to_fs(path)
    parent = os.path.dirname(fs_path)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    tmp = tmp_name(fs_path)
    try:
        with fs.open(tmp, mode) as fh:
            yield fh
        fs.mv(tmp, fs_path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def exists(path: str) -> bool:
    fs, fs_path = fsspec.core.url_to_fs(path)
    return fs.exists(fs_path)
