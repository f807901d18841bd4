"""``quality_ensemble``: several quality scores into one bucket 0-19, as Nemotron-CC did.

Each named signal (a dotted path inside ``record["signals"]``, e.g.
``quality_classifier.quality_score`` or ``perplexity.perplexity``) is turned into its percentile
among the dataset's values of that signal; a signal where lower is better (perplexity) is listed
in ``lower_is_better`` and counted from the other end. The record's ensemble percentile is the
maximum over its signals, and ``quality_bucket = min(buckets - 1, floor(percentile * buckets))``
(0 = worst, 19 = best with the default 20 buckets).

Percentiles need the whole dataset, so this is a global step: the map stage saves each
signal's values per shard, the reduce stage sorts them, and the apply stage tags every record
(it never drops). Signals: ``signals[<label>] = {"quality_bucket": int, "percentile": float}``;
a record with none of the signals gets no bucket and is counted under ``unscored``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import fsspec
import numpy as np

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, StepContext, register
from datamill.io.atomic import atomic_open
from datamill.steps.filter.signal_path import as_number, get_signal, split_path


@register("quality_ensemble")
class QualityEnsemble(GlobalStep):
    """Tags ``quality_bucket`` from the dataset percentiles of ``signals`` (never drops)."""

    def __init__(self, signals: list[str], lower_is_better: list[str] | None = None, buckets: int = 20):
        if not signals:
            raise ValueError("quality_ensemble needs at least one signal path")
        unknown = set(lower_is_better or ()) - set(signals)
        if unknown:
            raise ValueError(f"lower_is_better names signals not in 'signals': {sorted(unknown)}")
        if buckets < 2:
            raise ValueError(f"buckets must be >= 2, not {buckets}")
        self.signals = list(signals)
        self.paths = [split_path(s) for s in signals]
        self.lower = set(lower_is_better or ())
        self.buckets = buckets

    def _values(self, record: Record) -> list[float]:
        out = []
        for path in self.paths:
            v = as_number(get_signal(record, path))
            out.append(math.nan if v is None else v)
        return out

    def map_shard(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any]:
        arr = np.asarray([self._values(r) for r in records], dtype=np.float64).reshape(-1, len(self.paths))
        with atomic_open(f"{state_dir}/values-{shard:05d}.npy") as fh:
            np.save(fh, arr)
        return {"records": int(len(arr))}

    def reduce(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        parts = [_load(f"{state_dir}/values-{s:05d}.npy") for s in range(n_shards)]
        allv = np.concatenate(parts) if parts else np.zeros((0, len(self.paths)))
        counters: dict[str, Any] = {}
        for j, name in enumerate(self.signals):
            col = np.sort(allv[:, j][~np.isnan(allv[:, j])])
            with atomic_open(f"{state_dir}/sorted-{j}.npy") as fh:
                np.save(fh, col)
            counters[f"values:{name}"] = int(len(col))
        return counters

    def _percentile(self, j: int, value: float, sorted_col: np.ndarray) -> float:
        n = len(sorted_col)
        if n == 0:
            return math.nan
        # mid-rank percentile: ties share one value; the best value of n is (n - 0.5) / n
        below = np.searchsorted(sorted_col, value, side="left")
        upto = np.searchsorted(sorted_col, value, side="right")
        p = (below + upto) / 2 / n
        return 1.0 - p if self.signals[j] in self.lower else p

    def apply_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                    stats: StepStats, ctx: StepContext) -> Iterable[Record]:
        cols = [_load(f"{state_dir}/sorted-{j}.npy") for j in range(len(self.paths))]
        for record in records:
            stats.n_in += 1
            pcts = [self._percentile(j, v, cols[j]) for j, v in enumerate(self._values(record)) if not math.isnan(v)]
            pcts = [p for p in pcts if not math.isnan(p)]
            if pcts:
                best = max(pcts)
                bucket = min(self.buckets - 1, int(math.floor(best * self.buckets)))
                record.setdefault("signals", {})[self.label] = {"quality_bucket": bucket,
                                                                "percentile": round(best, 6)}
                stats.counter("quality_bucket")[str(bucket)] += 1
            else:
                stats.counter("unscored")["no_signal"] += 1
            stats.n_out += 1
            yield record


def _load(path: str) -> np.ndarray:
    with fsspec.open(path, "rb") as fh:
        return np.load(fh)
