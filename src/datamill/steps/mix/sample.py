"""``sample``: keep a fixed fraction of records, decided by a hash of the record id.

The decision for a record depends only on its id, ``seed`` and ``rate`` — not on order,
sharding, worker or how often the run was resumed — so a rerun keeps exactly the same records,
and a smaller rate with the same seed keeps a subset of what a larger one kept (nested samples).
The id's UTF-8 bytes are hashed with xxh64 (seeded); the record is kept when
``hash / 2**64 < rate``. A record without an id is decided by its text.
"""

from __future__ import annotations

import xxhash

from datamill.core.record import Record
from datamill.core.step import Filter, register

_TWO_64 = float(2**64)


def sample_key(record: Record) -> bytes:
    rid = record.get("id")
    if rid is None:
        rid = record.get("text") or ""
    return rid.encode("utf-8", "surrogatepass") if isinstance(rid, str) else str(rid).encode()


@register("sample")
class Sample(Filter):
    """Keep about ``rate`` of the records, chosen deterministically by id; drop the rest with the
    reason ``sampled_out``.

    Args:
        rate: fraction to keep, 0 to 1.
        seed: changes which records are chosen, not how many.
    """

    def __init__(self, rate: float, seed: int = 0) -> None:
        super().__init__()
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample rate must be between 0 and 1, not {rate}")
        if not 0 <= seed < 2**64:
            raise ValueError("sample seed must be between 0 and 2**64 - 1")
        self.rate = rate
        self.seed = seed
        self._threshold = rate * _TWO_64

    def keeps(self, record: Record) -> bool:
        return xxhash.xxh64_intdigest(sample_key(record), seed=self.seed) < self._threshold

    def keep(self, record: Record) -> None | str:
        return None if self.keeps(record) else "sampled_out"

    def keep_batch(self, batch):
        h = xxhash.xxh64_intdigest
        seed, thr = self.seed, self._threshold
        return [None if h(sample_key(r), seed=seed) < thr else "sampled_out" for r in batch]
