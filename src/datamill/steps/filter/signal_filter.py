"""``signal_filter``: keep or drop on any stored signal, so a new threshold never recomputes it.

Signals are kept beside the text (dolma's idea): a tagger writes
``record["signals"][<step label>][<name>]`` once, and this step decides on it as often as you
like, even on the output folder of an earlier run, without loading any model.

Two shapes share one step name:

* thresholds (``min``, ``max``, ``in``, ``not_in``) are a plain :class:`Filter`;
* dataset quantiles (``keep_top: 0.1``, DCLM's top 10%; ``keep_bottom``) need the whole
  dataset, so the step is then a :class:`GlobalStep`: the map stage saves only the signal's
  values per shard, the reduce stage ranks them all and writes a keep mask per shard, and the
  apply stage keeps the marked records. The cut is by rank, not by a threshold value, so ties
  cannot overshoot the fraction and the result does not depend on how many workers ran.

A record without the signal is dropped with the reason ``missing_signal`` (or kept with
``missing: keep``); a value that is not a number where ``min``/``max``/quantiles need one is
dropped as ``not_numeric``. Neither is a crash.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import fsspec
import numpy as np

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import Filter, GlobalStep, StepContext, register
from datamill.io.atomic import atomic_open
from datamill.steps.filter.signal_path import MISSING, as_number, get_signal, split_path


class _SignalRule:
    """The threshold part shared by both shapes; ``verdict`` returns a drop reason or None."""

    def _init_rule(self, signal: str, min: float | None, max: float | None, in_: list | None,
                   not_in: list | None, missing: str) -> None:
        self.signal = signal
        self.parts = split_path(signal)
        if missing not in ("drop", "keep"):
            raise ValueError(f"missing must be 'drop' or 'keep', not {missing!r}")
        if min is not None and max is not None and min > max:
            raise ValueError(f"min ({min}) is greater than max ({max}): nothing would be kept")
        self.min, self.max, self.missing = min, max, missing
        self.in_ = None if in_ is None else {_hashable(v) for v in in_}
        self.not_in = None if not_in is None else {_hashable(v) for v in not_in}

    def verdict(self, record: Record, numeric: bool = False) -> str | None:
        value = get_signal(record, self.parts)
        if value is MISSING:
            return None if self.missing == "keep" else "missing_signal"
        if self.in_ is not None and _hashable(value) not in self.in_:
            return "not_in_allowed"
        if self.not_in is not None and _hashable(value) in self.not_in:
            return "in_excluded"
        if self.min is not None or self.max is not None or numeric:
            number = as_number(value)
            if number is None:
                return "not_numeric"
            if self.min is not None and number < self.min:
                return "below_min"
            if self.max is not None and number > self.max:
                return "above_max"
        return None


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 2.0 in [2] holds
    return value


@register("signal_filter")
class SignalFilter(_SignalRule, Filter):
    """Keep a record when its signal passes ``min``/``max``/``in``/``not_in`` (all that are
    given); with ``keep_top`` or ``keep_bottom`` (a fraction in (0, 1]) keep that share of the
    dataset's records, ranked by the signal. In a YAML recipe ``in`` is spelt ``in``; in Python
    (where ``in`` is a keyword) it is ``in_``."""

    def __new__(cls, *args, **kwargs):
        if cls is SignalFilter and (kwargs.get("keep_top") is not None or kwargs.get("keep_bottom") is not None):
            return SignalQuantileFilter(*args, **kwargs)
        return super().__new__(cls)

    def __init__(self, signal: str, min: float | None = None, max: float | None = None,
                 in_: list[Any] | None = None, not_in: list[Any] | None = None,
                 missing: str = "drop", keep_top: float | None = None,
                 keep_bottom: float | None = None):
        self._init_rule(signal, min, max, in_, not_in, missing)
        if min is None and max is None and in_ is None and not_in is None:
            raise ValueError(f"signal_filter on {signal!r} needs at least one of min, max, in, not_in, "
                             f"keep_top, keep_bottom")

    def keep(self, record: Record) -> str | None:
        return self.verdict(record)


class SignalQuantileFilter(_SignalRule, GlobalStep):
    """``signal_filter`` with ``keep_top``/``keep_bottom``: see :class:`SignalFilter`."""

    name = "signal_filter"

    def __init__(self, signal: str, min: float | None = None, max: float | None = None,
                 in_: list[Any] | None = None, not_in: list[Any] | None = None,
                 missing: str = "drop", keep_top: float | None = None,
                 keep_bottom: float | None = None):
        self._init_rule(signal, min, max, in_, not_in, missing)
        if (keep_top is None) == (keep_bottom is None):
            raise ValueError("give one of keep_top or keep_bottom, not both")
        fraction = keep_top if keep_top is not None else keep_bottom
        if not (0 < fraction <= 1):
            raise ValueError(f"keep_top/keep_bottom is a fraction in (0, 1], not {fraction}")
        self.fraction = float(fraction)
        self.top = keep_top is not None

    # map: the signal's value per record (NaN: decided by the rules, not ranked)
    def map_shard(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any]:
        values = []
        for record in records:
            reason = self.verdict(record, numeric=True)
            if reason is None:
                number = as_number(get_signal(record, self.parts))
                values.append(math.nan if number is None else number)  # kept as missing
            else:
                values.append(math.nan)
        arr = np.asarray(values, dtype=np.float64)
        with atomic_open(f"{state_dir}/values-{shard:05d}.npy") as fh:
            np.save(fh, arr)
        return {"records": int(len(arr))}

    # reduce: rank every ranked value of the dataset, keep the first ceil(fraction * n)
    def reduce(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        parts = [_load(f"{state_dir}/values-{s:05d}.npy") for s in range(n_shards)]
        values = np.concatenate(parts) if parts else np.zeros(0)
        shard_col = np.concatenate([np.full(len(p), s, dtype=np.int32) for s, p in enumerate(parts)]) \
            if parts else np.zeros(0, dtype=np.int32)
        pos_col = np.concatenate([np.arange(len(p), dtype=np.int64) for p in parts]) \
            if parts else np.zeros(0, dtype=np.int64)
        ranked = ~np.isnan(values)
        n_ranked = int(ranked.sum())
        n_keep = int(math.ceil(self.fraction * n_ranked - 1e-9))
        key = -values if self.top else values
        idx = np.flatnonzero(ranked)
        # ties broken by input order (shard, position): deterministic for any worker count
        order = idx[np.lexsort((pos_col[idx], shard_col[idx], key[idx]))]
        keep = np.zeros(len(values), dtype=bool)
        keep[order[:n_keep]] = True
        cut = float(values[order[n_keep - 1]]) if n_keep else None
        for s in range(n_shards):
            with atomic_open(f"{state_dir}/keep-{s:05d}.npy") as fh:
                np.save(fh, keep[shard_col == s])
        return {"ranked": n_ranked, "kept_by_rank": n_keep, "cut_value": cut,
                "direction": "top" if self.top else "bottom", "fraction": self.fraction}

    def apply_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                    stats: StepStats, ctx: StepContext) -> Iterable[Record]:
        keep = _load(f"{state_dir}/keep-{shard:05d}.npy")
        reason_out = "below_top_fraction" if self.top else "above_bottom_fraction"
        for pos, record in enumerate(records):
            stats.n_in += 1
            reason = self.verdict(record, numeric=True)
            if reason is None and get_signal(record, self.parts) is not MISSING:
                reason = None if pos < len(keep) and keep[pos] else reason_out
            if reason is not None:
                stats.dropped[reason] += 1
                ctx.drop(self, record, reason)
                continue
            stats.n_out += 1
            yield record


def _load(path: str) -> np.ndarray:
    with fsspec.open(path, "rb") as fh:
        return np.load(fh)
