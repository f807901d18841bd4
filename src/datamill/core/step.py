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
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

from datamill.core.errors import RecordError
from datamill.core.record import Batch, Record
from datamill.core.registry import Registry
from datamill.core.stats import StepStats

REGISTRY: dict[str, type["Step"]] = {}
#: the step registry recipes resolve names through (the same dict as ``REGISTRY``); installed
#: packages add steps with entry points in the group ``datamill.steps``
STEPS: Registry[type["Step"]] = Registry("steps", REGISTRY)


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


def _rebuild(cls: type["Step"], params: dict[str, Any], label: str | None = None) -> "Step":
    step = cls(**params)
    if label:
        step._label = label
    return step


class StepDefinitionError(TypeError):
    """A step class that does not define what its kind needs: a bug, never a bad record."""


class Failed:
    """What a batch method puts in a record's slot when that record failed: the record is
    quarantined with ``reason`` (and the exception's traceback when one is given) and the
    rest of the batch goes on. A batch method that *raises* is a bug in the step: the task
    stops with the real traceback, nothing is retried."""

    __slots__ = ("reason", "exc", "tb")

    def __init__(self, reason: str | BaseException, exc: BaseException | None = None):
        if isinstance(reason, BaseException):
            exc, reason = reason, f"{type(reason).__name__}: {reason}"
        self.reason = str(reason)
        self.exc = exc
        self.tb = "".join(traceback.format_exception(exc, limit=-3)) if exc is not None else ""

    def __repr__(self) -> str:
        return f"Failed({self.reason!r})"


def deprecated_param(step: "Step", old: str, new: str, how: str = "") -> None:
    """Tell the user that ``old`` (still accepted) gave way to ``new``."""
    warnings.warn(f"step {step.name or type(step).__name__!r}: parameter {old!r} is deprecated, "
                  f"use {new!r}{how}", FutureWarning, stacklevel=4)


def _overrides(obj: Any, base: type, name: str) -> bool:
    return getattr(type(obj), name) is not getattr(base, name)


class Step:
    """Base class. Subclass one of Transform, Tagger, Filter or GlobalStep."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "step"
    resources: ClassVar[Resources] = Resources()
    #: the signals the step writes under ``signals[<label>]``: name -> Arrow type
    #: (``"int64"``, ``"float64"``, ``"string"``, ``"bool"``, ``"list<...>"``); writers can
    #: build one schema for a whole output from it before the first record
    signal_types: ClassVar[dict[str, str]] = {}

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
        """Name used in stats and as the key of the step's signals; several instances of one
        step in a pipeline get distinct labels (``sample``, ``sample#2``)."""
        return getattr(self, "_label", None) or self.name or type(self).__name__

    def __reduce__(self):
        # parameters and label: a step pickled to a worker (a process, a Ray task) keeps
        # both, and loads its heavy state again in setup()
        return (_rebuild, (type(self), self.params, getattr(self, "_label", None)))

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

    def check_pipeline(self, steps: list["Step"], index: int) -> None:
        """Check, before the run, that this step (``steps[index]``) agrees with the others of its
        pipeline; raise an error saying what to change. Called by ``preflight`` beside it."""

    def setup(self) -> None:
        """Load models and resources. Called once per worker before the first batch."""

    def ensure_setup(self) -> None:
        if not getattr(self, "_ready", False):
            self.setup()
            self._ready = True

    def run_batch(self, batch: Batch, stats: StepStats, ctx: "StepContext") -> Batch:
        raise TypeError(f"{type(self).__name__} must subclass Transform, Tagger, Filter or GlobalStep")

    # --- helpers for batch methods -------------------------------------------------------
    def fallback(self, what: str, n: int = 1) -> None:
        """Count that the step took a fallback path (a missing segmenter, a record without a
        language read with the default one…); the counts appear in the step's stats under
        ``fallbacks``, so nothing degrades silently."""
        counts = self.__dict__.get("_fallbacks")
        if counts is None:
            counts = self._fallbacks = Counter()
        counts[what] += n

    def drain_fallbacks(self, stats: StepStats) -> None:
        counts = self.__dict__.get("_fallbacks")
        if counts:
            stats.fallbacks.update(counts)
            counts.clear()

    def declared_signals(self) -> dict[str, dict[str, str]]:
        """``{label: {name: Arrow type}}`` of what this step (instance) writes; empty when it
        writes no signals."""
        types = self.signal_types
        return {self.label: dict(types)} if types else {}

    @staticmethod
    def each(batch: Batch, fn) -> list[Any]:
        """``fn`` over every record; a record whose call raises gets :class:`Failed` with the
        exception (so it is quarantined) and the others go on."""
        out: list[Any] = []
        for record in batch:
            try:
                out.append(fn(record))
            except StepDefinitionError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported as this record's failure
                out.append(Failed(exc))
        return out


class StepContext:
    """What a running step may write besides its output: quarantine and dropped side outputs."""

    def __init__(self, keep_dropped: bool = False):
        self.keep_dropped = keep_dropped
        self.quarantined: list[dict] = []
        self.dropped: list[Record] = []

    def quarantine(self, step: Step, record: Record, exc: BaseException | Failed) -> None:
        failed = exc if isinstance(exc, Failed) else Failed(exc)
        meta = record.get("metadata") or {}
        err = RecordError(failed.reason, source=str(meta.get("source") or ""),
                          record_id=str(record.get("id")), step=step.label,
                          offset=meta.get("offset"), line=meta.get("line"))
        entry = err.to_dict()
        entry["where"] = err.location
        if failed.tb:
            entry["traceback"] = failed.tb
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
        self.drain_fallbacks(stats)
        stats.n_out += len(out)
        stats.seconds += time.perf_counter() - t0
        return out

    return wrapper


def _check_length(step: Step, method: str, batch: Batch, results: list) -> None:
    if len(results) != len(batch):
        raise RuntimeError(f"{type(step).__name__}.{method} returned {len(results)} results for a "
                           f"batch of {len(batch)} records: a batch method returns one per record")


class Transform(Step):
    """Rewrites records and never filters them on quality. ``transform`` returns the record;
    returning ``None`` means nothing is left (for example HTML with no text), counted as a drop
    with the reason ``empty``.

    Define ``transform(record)`` (a record that raises is quarantined with the error), or
    ``transform_batch(batch)``, which returns one result per record: the record, ``None``, or
    :class:`Failed` for a record that could not be processed. A ``transform_batch`` that raises
    stops the task: that is a bug, not a bad record."""

    kind = "transform"

    def transform(self, record: Record) -> Record | None:
        raise StepDefinitionError(f"{type(self).__name__} must define transform() or transform_batch()")

    def transform_batch(self, batch: Batch) -> list[Record | None | Failed]:
        return self.each(batch, self.transform)

    @_timed
    def run_batch(self, batch, stats, ctx):
        results = self.transform_batch(batch)
        _check_length(self, "transform_batch", batch, results)
        out = []
        for original, record in zip(batch, results):
            if record is None:
                stats.dropped["empty"] += 1
                ctx.drop(self, original, "empty")
            elif isinstance(record, Failed):
                ctx.quarantine(self, original, record)
                stats.quarantined += 1
            else:
                out.append(record)
        return out


class Tagger(Step):
    """Adds named signals and never drops. ``tag(record)`` returns a dict ``{name: value}``,
    stored under ``record["signals"][<step label>]`` (so two instances never collide; see
    docs/pipelines.md). ``tag_batch`` returns one dict (or :class:`Failed`) per record.

    ``signal_types`` declares every name the tagger writes with its Arrow type (``"int64"``,
    ``"float64"``, ``"string"``, ``"bool"``…): every record gets every name (``None`` where it
    does not apply), so outputs share one schema."""

    kind = "tagger"

    def tag(self, record: Record) -> dict[str, Any]:
        raise StepDefinitionError(f"{type(self).__name__} must define tag() or tag_batch()")

    def tag_batch(self, batch: Batch) -> list[dict[str, Any] | Failed]:
        return self.each(batch, self.tag)

    @_timed
    def run_batch(self, batch, stats, ctx):
        tags = self.tag_batch(batch)
        _check_length(self, "tag_batch", batch, tags)
        out = []
        label = self.label
        for record, tag in zip(batch, tags):
            if isinstance(tag, Failed):
                ctx.quarantine(self, record, tag)
                stats.quarantined += 1
                continue
            out.append(record)
            if not tag:  # nothing to add (a tagger never drops); its counters still see it
                if tag is not None:
                    self.count(record, tag, stats)
                continue
            sig = record.get("signals")
            if sig is None:
                sig = record["signals"] = {}
            mine = sig.get(label)
            if isinstance(mine, dict):
                mine.update(tag)
            else:
                sig[label] = dict(tag)
            self.count(record, tag, stats)
        return out

    def count(self, record: Record, tag: dict[str, Any], stats: StepStats) -> None:
        """Hook for per-value counters in the summary (for example languages)."""


class Filter(Step):
    """Keeps or drops. ``drop_reason(record)`` returns ``None`` to keep the record, or a short
    reason string to drop it (``True`` also keeps; ``False`` drops with the step's label as
    the reason). ``drop_reason_batch`` returns one verdict (or :class:`Failed`) per record.

    ``keep`` / ``keep_batch`` are the old names of the same methods and still work, in
    subclasses and for callers. A filter may write what it measured under
    ``record["signals"][<step label>]`` so a person can see why."""

    kind = "filter"

    def drop_reason(self, record: Record) -> None | bool | str:
        if _overrides(self, Filter, "keep"):
            return self.keep(record)
        if _overrides(self, Filter, "drop_reason_batch") or _overrides(self, Filter, "keep_batch"):
            verdict = self._verdicts([record])[0]
            if isinstance(verdict, Failed):
                raise RuntimeError(verdict.reason)
            return verdict
        raise StepDefinitionError(f"{type(self).__name__} must define drop_reason() or drop_reason_batch()")

    def keep(self, record: Record) -> None | bool | str:
        """Old name of :meth:`drop_reason` (it returns a drop reason, not a boolean)."""
        if _overrides(self, Filter, "drop_reason"):
            return self.drop_reason(record)
        if _overrides(self, Filter, "drop_reason_batch") or _overrides(self, Filter, "keep_batch"):
            return self.drop_reason(record)
        raise StepDefinitionError(f"{type(self).__name__} must define drop_reason() or drop_reason_batch()")

    def drop_reason_batch(self, batch: Batch) -> list[None | bool | str | Failed]:
        return self.each(batch, self.drop_reason)

    def keep_batch(self, batch: Batch) -> list[None | bool | str | Failed]:
        """Old name of :meth:`drop_reason_batch`."""
        return self._verdicts(batch)

    def _verdicts(self, batch: Batch) -> list:
        if _overrides(self, Filter, "drop_reason_batch"):
            return self.drop_reason_batch(batch)
        if _overrides(self, Filter, "keep_batch"):
            return self.keep_batch(batch)
        return self.each(batch, self.drop_reason)

    @_timed
    def run_batch(self, batch, stats, ctx):
        verdicts = self._verdicts(batch)
        _check_length(self, "drop_reason_batch", batch, verdicts)
        out = []
        for record, verdict in zip(batch, verdicts):
            if isinstance(verdict, Failed):
                ctx.quarantine(self, record, verdict)
                stats.quarantined += 1
                continue
            self.count(record, verdict, stats)
            if verdict is None or verdict is True:
                out.append(record)
            else:
                reason = self.label if verdict is False else str(verdict)
                stats.dropped[reason] += 1
                ctx.drop(self, record, reason)
        return out

    def count(self, record: Record, verdict: None | bool | str, stats: StepStats) -> None:
        """Hook for per-value counters in the summary (for example languages seen)."""


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

    Then ``apply_shard`` runs per shard, before the steps after it, and keeps or drops records:
    a step defines ``decide_shard``, which yields each record with its drop reason (None to
    keep), and the base class counts records in, out and dropped per reason and hands drops to
    the side output. A step with more stages (MinHash: signatures, buckets per band, clusters)
    overrides ``stages()`` and ``run_stage()``.

    ``state_dir`` is a folder path or an fsspec URL (``memory://``, ``s3://``): read and write
    it through ``datamill.io.state.StateStore``, never with local file functions.
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

    def decide_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                     stats: StepStats) -> Iterable[tuple[Record, str | None]]:
        """Yield ``(record, reason)`` for every record of this shard, in order: ``reason`` is
        None to keep the record, or why it is dropped. ``stats`` is for extra counters only."""
        raise TypeError(f"{type(self).__name__} must define decide_shard() or apply_shard()")

    def apply_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                    stats: StepStats, ctx: StepContext) -> Iterable[Record]:
        """Yield the records of this shard that survive the decision, counting what it drops."""
        for record, reason in self.decide_shard(records, shard, state_dir, stats):
            stats.n_in += 1
            if reason:
                stats.dropped[reason] += 1
                ctx.drop(self, record, reason)
                continue
            stats.n_out += 1
            yield record
