"""Exact document dedup across the whole dataset (a global step in three stages).

1. map: per shard, a 128-bit xxh3 hash of each record's (optionally normalised) text, in
   record order, saved as ``hashes-<shard>.npy``.
2. reduce: all hashes sorted together (hash, shard, position); every record whose hash was
   already seen at an earlier (shard, position) is marked, per shard, in ``drop-<shard>.npy``.
   The first occurrence in input order is kept, so the result does not depend on how many
   workers ran or whether the run was resumed.
3. apply: per shard, records whose position is marked are dropped with reason
   ``exact_duplicate``.

Memory: 24 bytes per record in the reduce (about 2.4 GB per 100M records). The streaming,
bounded-memory variant belongs with the MinHash stages.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import numpy as np

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, register
from datamill.io.state import StateStore

_WS = re.compile(r"\s+")


@register("exact_dedup")
class ExactDedup(GlobalStep):
    """Drop every record whose text was already seen earlier in the dataset (first one kept)."""

    drop_reason = "exact_duplicate"

    def __init__(self, field: str = "text", normalize: bool = False):
        self.field = field
        self.normalize = normalize

    def _text(self, record: Record) -> str:
        value = record.get(self.field)
        if value is None:
            value = (record.get("metadata") or {}).get(self.field, "")
        return value if isinstance(value, str) else str(value)

    def _key(self, record: Record) -> bytes:
        text = self._text(record)
        if self.normalize:
            text = _WS.sub(" ", text).strip().lower()
        return text.encode("utf-8", "surrogatepass")

    def map_shard(self, records: Iterable[Record], shard: int, state_dir: str) -> None:
        import xxhash

        digests = [xxhash.xxh3_128_digest(self._key(r)) for r in records]
        arr = np.frombuffer(b"".join(digests), dtype=">u8").reshape(-1, 2).astype(np.uint64) \
            if digests else np.zeros((0, 2), dtype=np.uint64)
        StateStore(state_dir).save_npy(f"hashes-{shard:05d}.npy", arr)

    def reduce(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        store = StateStore(state_dir)
        parts, shard_ids, positions = [], [], []
        for shard in range(n_shards):
            arr = store.load_npy(f"hashes-{shard:05d}.npy")
            parts.append(arr)
            shard_ids.append(np.full(len(arr), shard, dtype=np.int32))
            positions.append(np.arange(len(arr), dtype=np.int64))
        hashes = np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.uint64)
        shard_col = np.concatenate(shard_ids) if shard_ids else np.zeros(0, dtype=np.int32)
        pos_col = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
        # sort by hash, then by input order: the first of each run of equal hashes is kept
        order = np.lexsort((pos_col, shard_col, hashes[:, 1], hashes[:, 0]))
        h = hashes[order]
        dup = np.zeros(len(order), dtype=bool)
        if len(order) > 1:
            dup[1:] = (h[1:, 0] == h[:-1, 0]) & (h[1:, 1] == h[:-1, 1])
        dup_shards, dup_pos = shard_col[order][dup], pos_col[order][dup]
        for shard in range(n_shards):
            store.save_npy(f"drop-{shard:05d}.npy", np.sort(dup_pos[dup_shards == shard]))
        return {"documents": int(len(order)), "duplicates": int(dup.sum()),
                "unique": int(len(order) - dup.sum())}

    def decide_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                     stats: StepStats) -> Iterable[tuple[Record, str | None]]:
        drop = set(StateStore(state_dir).load_npy(f"drop-{shard:05d}.npy").tolist())
        for pos, record in enumerate(records):
            yield record, (self.drop_reason if pos in drop else None)
