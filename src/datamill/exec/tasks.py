"""The tasks a run is made of, shared by every executor.

A pipeline is cut at each global step into segments::

    seg0 steps | G1.map  G1.reduce | G1.apply + seg1 steps | G2.map ... | last segment -> output

Each task writes its outputs under temporary names, renames them, and only then writes its
completion marker (holding its stats). A rerun skips every task that has a marker, so a killed
run resumes without redoing or duplicating finished shards.
"""

from __future__ import annotations

import hashlib
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import fsspec
import orjson

from datamill.core.record import Record
from datamill.core.stats import ReadStats, StepStats
from datamill.core.step import GlobalStep, Resources, Step, StepContext
from datamill.io.atomic import atomic_write_bytes
from datamill.io.formats import Shard
from datamill.io.layout import RUN_DIR, dropped_dir, quarantine_dir
from datamill.io.readers import Quarantine, read_shard
from datamill.io.writers import JsonlWriter, open_writer, output_suffix

META_DIR = RUN_DIR


@dataclass
class RunPlan:
    steps: list[Step]
    shards: list[Shard]
    output: str
    output_format: str = "jsonl"
    compression: str = "gz"
    text_field: str = "text"
    id_field: str = "id"
    records: str | None = None  # post-training format to read inputs as (datamill.post.formats)
    keep_dropped: bool = False
    batch_size: int = 256
    name: str = "pipeline"
    segments: list[list[int]] = field(default_factory=list)
    globals: list[int] = field(default_factory=list)
    input_content: dict[str, dict] = field(default_factory=dict)  # path -> content fingerprint
    split_bytes: int | None = None  # files larger than this were cut into several shards

    def __post_init__(self) -> None:
        if not self.segments:
            current: list[int] = []
            for i, step in enumerate(self.steps):
                if isinstance(step, GlobalStep):
                    self.segments.append(current)
                    self.globals.append(i)
                    current = []
                else:
                    current.append(i)
            self.segments.append(current)

    # --- paths --------------------------------------------------------------------------
    def meta(self, *parts: str) -> str:
        return os.path.join(self.output, META_DIR, *parts)

    def marker(self, stage: str, shard: int | None = None) -> str:
        name = stage if shard is None else f"{stage}-{shard:05d}"
        return self.meta("done", f"{name}.json")

    def final_path(self, shard: int) -> str:
        return os.path.join(self.output, f"part-{shard:05d}{output_suffix(self.output_format, self.compression)}")

    def work_path(self, segment: int, shard: int) -> str:
        return self.meta("work", f"seg{segment}", f"part-{shard:05d}.jsonl")

    def state_dir(self, g: int) -> str:
        return self.meta("state", f"global{g}-{self.steps[self.globals[g]].name}")

    def fingerprint(self) -> dict[str, Any]:
        steps = [{"step": s.name, "params": s.params} for s in self.steps]
        doc = {"steps": steps, "inputs": [s.path for s in self.shards],
               "output_format": self.output_format, "compression": self.compression,
               "text_field": self.text_field, "id_field": self.id_field}
        if self.records is not None:  # only when set, so earlier runs keep their digest
            doc["records"] = self.records
        if any(s.start or s.end is not None for s in self.shards):
            doc["ranges"] = [[s.start, s.end] for s in self.shards]
        digest = hashlib.sha256(orjson.dumps(doc, default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()
        # the inputs' content is compared on its own (so the message can name the changed file)
        return {"name": self.name, "digest": digest, **doc, "input_content": self.input_content}

    def stages(self) -> list["PlanStage"]:
        """Every stage of the run, in order: segments and the stages of global steps."""
        out: list[PlanStage] = []
        for seg in range(len(self.segments)):
            out.append(PlanStage(f"seg{seg}", len(self.shards), segment=seg))
            if seg < len(self.globals):
                for st in self.steps[self.globals[seg]].stages():
                    n = {"shard": len(self.shards), "partition": st.partitions, "single": 1}[st.kind]
                    out.append(PlanStage(f"global{seg}-{st.name}", n, glob=seg, stage=st.name,
                                         per_shard=st.kind == "shard", single=st.kind == "single"))
        return out


@dataclass(frozen=True)
class PlanStage:
    """A stage of a run: ``tasks`` tasks, each identified by an index (shard or partition)."""

    name: str
    tasks: int
    segment: int | None = None
    glob: int | None = None
    stage: str | None = None
    per_shard: bool = True
    single: bool = False

    def marker_index(self, index: int) -> int | None:
        return None if self.single else index


def stage_resources(plan: RunPlan, stage: PlanStage) -> Resources:
    """What one task of ``stage`` needs: the maximum over the steps it runs (the smallest
    batch size). Both executors schedule from it."""
    if stage.segment is not None:
        ids = list(plan.segments[stage.segment])
        if stage.segment > 0:  # the global step's apply runs in this segment's tasks
            ids.append(plan.globals[stage.segment - 1])
    else:
        ids = [plan.globals[stage.glob]]
    declared = [plan.steps[i].resources for i in ids]
    if not declared:
        return Resources()
    return Resources(cpus=max(r.cpus for r in declared), gpus=max(r.gpus for r in declared),
                     memory_mb=max(r.memory_mb for r in declared),
                     batch_size=min(r.batch_size for r in declared))


def run_step(step: Step, batch: list[Record], stats: StepStats, ctx: StepContext) -> list[Record]:
    """``step`` over ``batch``, in slices of at most the step's ``Resources.batch_size``
    (an embedding model that declares 64 never sees the reader's 256 at once)."""
    size = step.resources.batch_size
    if not size or len(batch) <= size:
        return step.run_batch(batch, stats, ctx)
    out: list[Record] = []
    for i in range(0, len(batch), size):
        out.extend(step.run_batch(batch[i:i + size], stats, ctx))
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _read_marker(path: str) -> dict[str, Any] | None:
    fs, p = fsspec.core.url_to_fs(path)
    if not fs.exists(p):
        return None
    with fs.open(p, "rb") as fh:
        return orjson.loads(fh.read())


def is_done(plan: RunPlan, stage: str, shard: int | None = None) -> bool:
    fs, p = fsspec.core.url_to_fs(plan.marker(stage, shard))
    return fs.exists(p)


def load_marker(plan: RunPlan, stage: str, shard: int | None = None) -> dict[str, Any] | None:
    return _read_marker(plan.marker(stage, shard))


def split_done(plan: RunPlan, stage: PlanStage) -> tuple[list[dict], list[int]]:
    """The markers of a stage's finished tasks, and the indices of the tasks still to run:
    how every executor resumes."""
    done, pending = [], []
    for index in range(stage.tasks):
        marker = load_marker(plan, stage.name, stage.marker_index(index))
        if marker is not None:
            done.append(marker)
        else:
            pending.append(index)
    return done, pending


def largest_first(plan: RunPlan, stage: PlanStage, pending: list[int]) -> list[int]:
    """``pending`` in the order to start them: the tasks with the most input first, so that the
    last tasks to finish are small ones and no worker idles long at the end of a stage
    (longest-processing-time-first). A task's input is its file's size over the parts that
    file was cut into; ties and stages that are not per shard keep their order."""
    if stage.segment is None or len(pending) < 2:
        return list(pending)
    parts = Counter(shard.path for shard in plan.shards)

    def size(index: int) -> float:
        shard = plan.shards[index]
        return shard.size / parts[shard.path]

    return sorted(pending, key=lambda i: -size(i))


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


ProgressFn = Callable[[int], None]


def run_segment(plan: RunPlan, segment: int, shard: Shard, progress: ProgressFn | None = None) -> dict:
    """Run one segment of steps over one shard; write its output, quarantine and marker."""
    t0 = time.perf_counter()
    read_stats = ReadStats()
    quarantine = Quarantine(read_stats)
    ctx = StepContext(keep_dropped=plan.keep_dropped)
    step_ids = plan.segments[segment]
    stats: dict[int, StepStats] = {}

    if segment == 0:
        source: Iterable[Record] = read_shard(shard, read_stats, quarantine,
                                              text_field=plan.text_field, id_field=plan.id_field,
                                              records=plan.records)
    else:
        g = segment - 1
        gstep = plan.steps[plan.globals[g]]
        gidx = plan.globals[g]
        stats[gidx] = StepStats(gstep.label, gstep.kind)
        intermediate = _read_intermediate(plan.work_path(segment - 1, shard.index))
        source = gstep.apply_shard(intermediate, shard.index, plan.state_dir(g), stats[gidx], ctx)

    steps = [plan.steps[i] for i in step_ids]
    for i, step in zip(step_ids, steps):
        step.ensure_setup()
        stats[i] = StepStats(step.label, step.kind)

    last = segment == len(plan.segments) - 1
    if last:
        writer: Any = open_writer(plan.final_path(shard.index), plan.output_format, plan.compression)
    else:
        writer = JsonlWriter(plan.work_path(segment, shard.index), compression="none")
    dropped_writer = None
    if plan.keep_dropped:
        dropped_writer = JsonlWriter(f"{dropped_dir(plan.output)}/seg{segment}-{shard.index:05d}.jsonl.gz")
    try:
        for batch in _batches(source, plan.batch_size):
            if progress is not None and segment == 0:
                progress(len(batch))
            for i, step in zip(step_ids, steps):
                if not batch:
                    break
                batch = run_step(step, batch, stats[i], ctx)
            writer.write(batch)
            if dropped_writer is not None and ctx.dropped:
                dropped_writer.write(ctx.dropped)
                ctx.dropped.clear()
        if dropped_writer is not None:
            if ctx.dropped:  # a global step's apply may drop after the last record it yields
                dropped_writer.write(ctx.dropped)
                ctx.dropped.clear()
            dropped_writer.commit()
        writer.commit()
    except BaseException:
        writer.abort()
        if dropped_writer is not None:
            dropped_writer.abort()
        raise
    entries = quarantine.entries + ctx.quarantined
    if entries:
        atomic_write_bytes(f"{quarantine_dir(plan.output)}/seg{segment}-{shard.index:05d}.jsonl",
                           b"".join(orjson.dumps(e, default=str) + b"\n" for e in entries))
    result = {"stage": f"seg{segment}", "shard": shard.index, "path": shard.path,
              "reader": read_stats.to_dict() if segment == 0 else None,
              "steps": {str(i): s.to_dict() for i, s in stats.items()},
              "step_quarantined": len(ctx.quarantined),
              "output_records": writer.count, "seconds": time.perf_counter() - t0,
              "peak_rss_mb": peak_rss_mb()}
    atomic_write_bytes(plan.marker(f"seg{segment}", shard.index), orjson.dumps(result))
    return result


def _read_intermediate(path: str) -> Iterator[Record]:
    """A segment's output, read back as written for the global step after it. These files are
    datamill's own, so every line is a record as it left the previous step (pretraining or
    post-training alike); nothing is re-validated."""
    with fsspec.open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def run_global_stage(plan: RunPlan, stage: PlanStage, index: int) -> dict:
    """One task of a global step's stage; a per-shard stage is given that shard's records."""
    t0 = time.perf_counter()
    g = stage.glob
    step = plan.steps[plan.globals[g]]
    step.ensure_setup()
    state = plan.state_dir(g)
    fs, p = fsspec.core.url_to_fs(state)
    fs.makedirs(p, exist_ok=True)
    records = None
    if stage.per_shard and not stage.single:
        records = _read_intermediate(plan.work_path(g, index))
    counters = step.run_stage(stage.stage, index, state, len(plan.shards), records) or {}
    result = {"stage": stage.name, "index": index, "step": step.label, "counters": counters,
              "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}
    atomic_write_bytes(plan.marker(stage.name, stage.marker_index(index)),
                       orjson.dumps(result, default=str))
    return result


def run_task(plan: RunPlan, stage: PlanStage, index: int, progress: ProgressFn | None = None) -> dict:
    """Run task ``index`` of ``stage``: what every executor calls."""
    if stage.segment is not None:
        return run_segment(plan, stage.segment, plan.shards[index], progress=progress)
    return run_global_stage(plan, stage, index)
