"""The four step kinds and the registry recipes resolve step names through.

A step is configured only through keyword arguments of its ``__init__``; those, with their type
hints, are the step's parameters. The same names are the keys of a YAML recipe, so recipes map
one-to-one onto the Python API. Heavy state (models, word lists) is loaded in ``setup()``, which
the executor calls once per worker process, so steps pickle cheaply and start lazily.
"""

from __future__ import annotations

import abc
import functools
import inspect
import time
import traceback
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

from datamill.core.errors import RecordError
from datamill.core.record import Batch, Record
from datamill.core.stats import StepStats

REGISTRY: dict[str, type["Step"]] = {}


def register(name: str):
    """Class decorator: make a step available to recipes under ``name``."""

    def deco(cls: type[Step]) -> type[Step]:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"step name {name!r} registered twice")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


@dataclass(frozen=True)
class Resources:
    """What one instance of a step needs; executors schedule from it (NeMo Curator's idea)."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: int = 512
    batch_size: int = 512


def _rebuild(cls: type["Step"], params: dict[str, Any]) -> "Step":
    return cls(**params)


class Step:
    """Base class. Subclass one of Transform, Tagger, Filter or GlobalStep."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "step"
    resources: ClassVar[Resources] = Resources()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            init = cls.__dict__["__init__"]
            sig = inspect.signature(init)

            @functools.wraps(init)
            def wrapped(self, *args, **kw):
                bound = sig.bind(self, *args, **kw)
                bound.apply_defaults()
                params = dict(bound.arguments)
                params.pop("self", None)
                if not hasattr(self, "_params"):
                    self._params = params
                init(self, *args, **kw)

            cls.__init__ = wrapped

    def __init__(self) -> None:
        pass

    # --- configuration -------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        return dict(getattr(self, "_params", {}))

    @property
    def label(self) -> str:
        """Name used in stats; several instances of one step get distinct labels."""
        return getattr(self, "_label", None) or self.name or type(self).__name__

    def __reduce__(self):
        return (_rebuild, (type(self), self.params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # --- life cycle ----------------------------------------------------------------------
    #: parameters that name local files or folders: a recipe's relative paths in them are
    #: resolved against the recipe file's folder, not the working directory
    path_params: ClassVar[tuple[str, ...]] = ()

    def preflight(self) -> None:
        """Check cheaply, before any record is read, that every file, folder and package the
        step needs is there; raise an error naming what is missing. ``datamill check`` and
        ``Pipeline.run`` call it for every step. Loads nothing heavy."""

    def setup(self) -> None:
        """Load models and resources. Called once per worker before the first batch."""

    def ensure_setup(self) -> None:
        if not getattr(self, "_ready", False):
            self.setup()
            self._ready = True

    def run_batch(self, batch: Batch, stats: StepStats, ctx: "StepContext") -> Batch:
        raise TypeError(f"{type(self).__name__} must subclass Transform, Tagger, Filter or GlobalStep")


class StepContext:
    """What a running step may write besides its output: quarantine and dropped side outputs."""

    def __init__(self, keep_dropped: bool = False):
        self.keep_dropped = keep_dropped
        self.quarantined: list[dict] = []
        self.dropped: list[Record] = []

    def quarantine(self, step: Step, record: Record, exc: BaseException) -> None:
        meta = record.get("metadata") or {}
        err = RecordError(f"{type(exc).__name__}: {exc}", source=str(meta.get("source") or ""),
                          record_id=str(record.get("id")), step=step.label,
                          offset=meta.get("offset"), line=meta.get("line"))
        entry = err.to_dict()
        entry["traceback"] = traceback.format_exc(limit=3)
        self.quarantined.append(entry)

    def drop(self, step: Step, record: Record, reason: str) -> None:
        if self.keep_dropped:
            out = dict(record)
            out["dropped_by"] = step.label
            out["drop_reason"] = reason
            self.dropped.append(out)


def _timed(method):
    @functools.wraps(method)
    def wrapper(self, batch, stats, ctx):
        t0 = time.perf_counter()
        stats.n_in += len(batch)
        out = method(self, batch, stats, ctx)
        stats.n_out += len(out)
        stats.seconds += time.perf_counter() - t0
        return out

    return wrapper


class Transform(Step):
    """Rewrites records and never filters them on quality. ``transform`` returns the record;
    returning ``None`` means nothing is left (for example HTML with no text), counted as a drop
    with the reason ``empty``."""

    kind = "transform"

    def transform(self, record: Record) -> Record | None:
        raise TypeError(f"{type(self).__name__} must define transform() or transform_batch()")

    def transform_batch(self, batch: Batch) -> list[Record | None]:
        return [self.transform(r) for r in batch]

    @_timed
    def run_batch(self, batch, stats, ctx):
        try:
            results = self.transform_batch(batch)
        except Exception:
            results = []
            for record in batch:
                try:
                    results.append(self.transform(record))
                except Exception as exc:  # noqa: BLE001 - quarantined with its reason
                    ctx.quarantine(self, record, exc)
                    stats.quarantined += 1
                    results.append(False)
        out = []
        for original, record in zip(batch, results):
            if record is None:
                stats.dropped["empty"] += 1
                ctx.drop(self, original, "empty")
            elif record is not False:
                out.append(record)
        return out


class Tagger(Step):
    """Adds named signals to ``record["signals"]``; never drops."""

    kind = "tagger"

    def tag(self, record: Record) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} must define tag() or tag_batch()")

    def tag_batch(self, batch: Batch) -> list[dict[str, Any]]:
        return [self.tag(r) for r in batch]

    @_timed
    def run_batch(self, batch, stats, ctx):
        try:
            tags = self.tag_batch(batch)
        except Exception:
            tags = []
            for record in batch:
                try:
                    tags.append(self.tag(record))
                except Exception as exc:  # noqa: BLE001
                    ctx.quarantine(self, record, exc)
                    stats.quarantined += 1
                    tags.append(None)
        out = []
        for record, tag in zip(batch, tags):
            if tag is None:
                continue
            sig = record.get("signals")
            if sig is None:
                sig = record["signals"] = {}
            sig.update(tag)
            self.count(record, tag, stats)
            out.append(record)
        return out

    def count(self, record: Record, tag: dict[str, Any], stats: StepStats) -> None:
        """Hook for per-value counters in the summary (for example languages)."""


class Filter(Step):
    """Keeps or drops. ``keep`` returns ``None``/``True`` to keep the record, or a short reason
    string (``False`` means the step's own name) to drop it. Filters may write the signals they
    computed into ``record["signals"]`` so a person can see why."""

    kind = "filter"

    def keep(self, record: Record) -> None | bool | str:
        raise TypeError(f"{type(self).__name__} must define keep() or keep_batch()")

    def keep_batch(self, batch: Batch) -> list[None | bool | str]:
        return [self.keep(r) for r in batch]

    @_timed
    def run_batch(self, batch, stats, ctx):
        try:
            verdicts = self.keep_batch(batch)
        except Exception:
            verdicts = []
            for record in batch:
                try:
                    verdicts.append(self.keep(record))
                except Exception as exc:  # noqa: BLE001
                    ctx.quarantine(self, record, exc)
                    stats.quarantined += 1
                    verdicts.append(_QUARANTINED)
        out = []
        for record, verdict in zip(batch, verdicts):
            if verdict is not _QUARANTINED:
                self.count(record, verdict, stats)
            if verdict is None or verdict is True:
                out.append(record)
            elif verdict is _QUARANTINED:
                continue
            else:
                reason = self.label if verdict is False else str(verdict)
                stats.dropped[reason] += 1
                ctx.drop(self, record, reason)
        return out

    def count(self, record: Record, verdict: None | bool | str, stats: StepStats) -> None:
        """Hook for per-value counters in the summary (for example languages seen)."""


_QUARANTINED = object()


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
