"""Global steps: steps that need the whole dataset, run as stages of tasks."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Iterable

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import Step, StepContext


@dataclass(frozen=True)
class Stage:
    """One stage of a global step.

    ``kind`` says how many tasks it is: ``"shard"`` (one per input shard, given that shard's
    records), ``"partition"`` (``partitions`` tasks, for example one per MinHash band) or
    ``"single"`` (one task). Stages run in order; each task of a stage writes its files under
    the step's state folder atomically and is resumable on its own.
    """

    name: str
    kind: str = "shard"
    partitions: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("shard", "partition", "single"):
            raise ValueError(f"stage kind must be shard, partition or single, not {self.kind!r}")
        if self.kind == "partition" and self.partitions < 1:
            raise ValueError("a partition stage needs partitions >= 1")


class GlobalStep(Step, abc.ABC):
    """Needs the whole dataset; runs as stages of tasks so every executor can run it.

    By default there are two stages before the apply:

    1. ``map`` (per shard): ``map_shard`` sees the shard's records (after the steps before
       it) and writes what it needs under ``state_dir`` (one file per shard, atomically).
    2. ``reduce`` (single): ``reduce`` reads every shard's summary and writes its decisions.

    Then ``apply_shard`` runs per shard, before the steps after it, and keeps or drops records.
    A step with more stages (MinHash: signatures, buckets per band, clusters) overrides
    ``stages()`` and ``run_stage()``.
    """

    kind = "global"

    def stages(self) -> list[Stage]:
        return [Stage("map", "shard"), Stage("reduce", "single")]

    def run_stage(self, stage: str, index: int, state_dir: str, n_shards: int,
                  records: Iterable[Record] | None = None) -> dict[str, Any] | None:
        """Run one task of ``stage``: ``index`` is the shard or partition (0 for single).
        Returns counters for the summary, or None."""
        if stage == "map":
            return self.map_shard(records if records is not None else (), index, state_dir)
        if stage == "reduce":
            return self.reduce(n_shards, state_dir)
        raise ValueError(f"{type(self).__name__} has no stage {stage!r}")

    def map_shard(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any] | None:
        """Write this shard's summary under ``state_dir``."""
        raise TypeError(f"{type(self).__name__} must define map_shard() or its own stages")

    def reduce(self, n_shards: int, state_dir: str) -> dict[str, Any] | None:
        """Decide from every shard's summary; return counters for the summary."""
        raise TypeError(f"{type(self).__name__} must define reduce() or its own stages")

    @abc.abstractmethod
    def apply_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                    stats: StepStats, ctx: StepContext) -> Iterable[Record]:
        """Yield the records of this shard that survive the decision."""
