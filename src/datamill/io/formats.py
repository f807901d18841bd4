"""Input discovery and format detection by file name."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Callable

import fsspec

from datamill.core.errors import InputError

# longest suffix first
_SUFFIXES = [
    (".warc.wet.gz", "wet"), (".wet.gz", "wet"), (".wet", "wet"),
    (".warc.wat.gz", "wat"), (".wat.gz", "wat"),
    (".warc.gz", "warc"), (".warc.zst", "warc"), (".warc", "warc"), (".arc.gz", "arc"), (".arc", "arc"),
    (".jsonl.gz", "jsonl"), (".jsonl.zst", "jsonl"), (".jsonl", "jsonl"), (".json.gz", "jsonl"),
    (".json.zst", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"),
    (".parquet", "parquet"), (".pq", "parquet"),
]
READABLE = {"warc", "wet", "jsonl", "parquet"}


@dataclass(frozen=True)
class Shard:
    """One unit of work: an input file, or a part of a large one.

    ``start``/``end`` cut a large file into parts: byte offsets for JSONL and WARC (a part owns
    the lines or records that start in ``[start, end)``), row-group numbers for Parquet.
    ``end=None`` means to the end of the file."""

    index: int
    path: str
    format: str
    size: int = 0
    start: int = 0
    end: int | None = None


def detect_format(path: str) -> str | None:
    name = os.path.basename(path).lower()
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    return None


def _files_in_dir(fs, path: str) -> list[str]:
    """Files under a folder, skipping hidden files and folders. A datamill output folder
    (it holds ``.datamill/run.json``) contributes only its ``part-*`` record files, not its
    stats, quarantine or dropped side outputs."""
    root = path.rstrip("/")
    if fs.exists(f"{root}/.datamill/run.json"):
        return sorted(p for p in fs.ls(root, detail=False)
                      if os.path.basename(p).startswith("part-") and not fs.isdir(p))
    out = []
    for p in fs.find(root):
        rel = p[len(root):].lstrip("/")
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        out.append(p)
    return sorted(out)


# Schemes that name a dataset rather than files (``catalog://NAME@V``): a higher layer registers
# a resolver that turns such an input into the files it stands for, so io never imports it.
URI_RESOLVERS: dict[str, Callable[[str], list[str]]] = {}


def register_uri_resolver(scheme: str, resolver: Callable[[str], list[str]]) -> None:
    """Let inputs ``SCHEME://...`` stand for the files ``resolver(uri)`` returns."""
    URI_RESOLVERS[scheme] = resolver


def resolve_input(spec: str) -> list[str]:
    """The paths an input stands for: itself, or what a registered resolver returns."""
    scheme = spec.split("://", 1)[0] if "://" in spec else None
    resolver = URI_RESOLVERS.get(scheme) if scheme else None
    return list(resolver(spec)) if resolver else [spec]


def discover(inputs: list[str], input_format: str | None = None) -> list[Shard]:
    """Expand files, directories (recursively) and globs into shards, in a stable order.

    Files whose format is not recognised are reported by the caller as skipped; a path that
    matches nothing is an :class:`InputError`.
    """
    found: list[tuple[str, int]] = []
    for spec in (p for given in inputs for p in resolve_input(given)):
        fs, path = fsspec.core.url_to_fs(spec)
        protocol = spec.split("://", 1)[0] + "://" if "://" in spec else ""
        if any(ch in path for ch in "*?["):
            matches = sorted(fs.glob(path))
            if not matches:
                raise InputError(f"input {spec!r}: no file matches this pattern")
        elif not fs.exists(path):
            raise InputError(f"input {spec!r}: no such file or directory")
        elif fs.isdir(path):
            matches = _files_in_dir(fs, path)
            if not matches:
                raise InputError(f"input {spec!r}: directory holds no files")
        else:
            matches = [path]
        for m in matches:
            if fs.isdir(m):
                continue
            size = fs.size(m) or 0
            found.append(((protocol + m) if protocol and protocol != "file://" else m, size))
    shards = []
    seen = set()
    for path, size in found:
        if path in seen:
            continue
        seen.add(path)
        fmt = input_format or detect_format(path) or "unknown"
        shards.append(Shard(len(shards), path, fmt, size))
    return shards


#: bytes hashed at each end of an input file for its fingerprint; smaller files are hashed whole
FINGERPRINT_BLOCK = 1 << 16


def content_fingerprint(path: str) -> dict[str, Any]:
    """What identifies an input file's content cheaply: size, modification time and a SHA-256
    of its first and last ``FINGERPRINT_BLOCK`` bytes (of the whole file when it is smaller
    than two blocks). A resumed run compares it to refuse reusing output of a changed file."""
    fs, p = fsspec.core.url_to_fs(path)
    info = fs.info(p)
    size = int(info.get("size") or 0)
    mtime = None
    for key in ("mtime", "LastModified", "last_modified", "modified", "updated", "created"):
        if info.get(key) is not None:
            mtime = str(info[key])
            break
    h = hashlib.sha256()
    with fs.open(p, "rb") as fh:
        if size <= 2 * FINGERPRINT_BLOCK:
            h.update(fh.read())
            how = "whole file"
        else:
            h.update(fh.read(FINGERPRINT_BLOCK))
            fh.seek(size - FINGERPRINT_BLOCK)
            h.update(fh.read(FINGERPRINT_BLOCK))
            how = f"first and last {FINGERPRINT_BLOCK} bytes"
    return {"size": size, "mtime": mtime, "sha256": h.hexdigest(), "hashed": how}


def fingerprint_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints of one file, in words."""
    out = []
    if old.get("size") != new.get("size"):
        out.append(f"size {old.get('size')} -> {new.get('size')}")
    if old.get("sha256") != new.get("sha256"):
        out.append(f"content ({new.get('hashed', 'hash')}) differs")
    if old.get("mtime") != new.get("mtime"):
        out.append(f"modified {old.get('mtime')} -> {new.get('mtime')}")
    return out
