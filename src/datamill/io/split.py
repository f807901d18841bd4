"""Cutting large input files into several shards, so a 10 GB file is not one task.

- plain JSONL: byte ranges; a range owns the lines that start in it (:mod:`datamill.io.lines`)
- WARC (``.warc.gz`` with one gzip member per record, and plain ``.warc``): byte ranges; a
  range owns the records whose gzip member (or ``WARC/`` line) starts in it, and reads on past
  its end to finish the last one (:mod:`datamill.io.warc_frames`)
- Parquet: runs of whole row groups, read from the file's footer

Compressed JSONL (``.gz``, ``.zst``) and ``.warc.zst`` cannot be entered in the middle and
stay one shard each. The cut points depend only on the file's size (and, for Parquet, its row
groups) and ``split_bytes``, so a resumed run plans the same shards.
"""

from __future__ import annotations

from dataclasses import replace

import fsspec

from datamill.io.formats import Shard

# the split sizes: the fixed default and the bounds of "auto"
from datamill.core.pipeline import (  # noqa: E402,F401  (one home: core)
    AUTO_MIN_SPLIT, AUTO_MIN_TASKS, DEFAULT_SPLIT_BYTES)


def splittable(shard: Shard) -> bool:
    lower = shard.path.lower()
    if shard.format == "jsonl":
        return not lower.endswith((".gz", ".zst"))
    if shard.format in ("warc", "wet"):
        return lower.endswith(".gz") or lower.endswith((".warc", ".wet"))
    return shard.format == "parquet"


def _byte_ranges(size: int, split_bytes: int) -> list[tuple[int, int | None]]:
    n = max(1, -(-size // split_bytes))
    if n == 1:
        return [(0, None)]
    step = -(-size // n)
    cuts = [i * step for i in range(n)]
    return [(a, b) for a, b in zip(cuts, cuts[1:] + [None])]


def _row_group_ranges(path: str, split_bytes: int) -> list[tuple[int, int | None]]:
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as fh:
        meta = pq.ParquetFile(fh).metadata
    ranges, first, acc = [], 0, 0
    for i in range(meta.num_row_groups):
        acc += meta.row_group(i).total_byte_size
        if acc >= split_bytes and i + 1 < meta.num_row_groups:
            ranges.append((first, i + 1))
            first, acc = i + 1, 0
    if not ranges:
        return [(0, None)]
    ranges.append((first, None))
    return ranges


def auto_split_bytes(shards: list[Shard]) -> int:
    """The ``split_bytes`` of ``"auto"``: the splittable input cut into ``AUTO_MIN_TASKS`` parts,
    within ``[AUTO_MIN_SPLIT, DEFAULT_SPLIT_BYTES]`` (depends on the files' sizes only)."""
    total = sum(s.size for s in shards if splittable(s))
    return max(AUTO_MIN_SPLIT, min(DEFAULT_SPLIT_BYTES, -(-total // AUTO_MIN_TASKS)))


def split_shards(shards: list[Shard], split_bytes: int | None) -> list[Shard]:
    """Cut every shard of a file larger than ``split_bytes`` into parts; renumber them all.
    ``split_bytes=None`` or ``0`` keeps one shard per file."""
    out: list[Shard] = []
    for shard in shards:
        parts = [(0, None)]
        if split_bytes and shard.size > split_bytes and splittable(shard):
            if shard.format == "parquet":
                try:
                    parts = _row_group_ranges(shard.path, split_bytes)
                except Exception:  # noqa: BLE001 - an unreadable file is quarantined by its reader
                    parts = [(0, None)]
            else:
                parts = _byte_ranges(shard.size, split_bytes)
        for start, end in parts:
            out.append(replace(shard, index=len(out), start=start, end=end))
    return out
