"""How a :class:`~datamill.core.pipeline.Pipeline` runs: plan its tasks, prepare (or resume)
the output folder, hand the plan to an executor, merge every task's marker into ``stats.json``.

Core's ``Pipeline.plan`` and ``Pipeline.run`` look this module up in
``datamill.core.registry.RUNNERS`` (it registers itself as ``"pipeline"``) and executors in
``EXECUTORS`` (``local``, ``ray``, or a plugin's), so core imports neither ``exec`` nor ``io``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import fsspec
import orjson

from datamill.core.errors import DatamillError, InputError
from datamill.core.pipeline import AUTO_SPLIT
from datamill.core.registry import EXECUTORS, RegistryError
from datamill.core.stats import ReadStats, StepStats
from datamill.exec.tasks import RunPlan
from datamill.io.atomic import atomic_write_bytes
from datamill.io.formats import READABLE, content_fingerprint, discover, fingerprint_changes
from datamill.io.layout import stats_path
from datamill.io.split import auto_split_bytes, split_shards


def plan_pipeline(pipeline, inputs: Sequence[str], output: str, *, keep_dropped: bool = False,
                  batch_size: int = 256, split_bytes: int | str | None = AUTO_SPLIT) -> RunPlan:
    """One shard per input file, or several for a file larger than ``split_bytes``; records each
    readable input's content fingerprint for an honest resume."""
    if not inputs:
        raise InputError("no input given: pass at least one --input PATH")
    if split_bytes not in (AUTO_SPLIT, None) and (not isinstance(split_bytes, int) or split_bytes < 0):
        raise DatamillError(f"split_bytes must be 'auto' or a number of bytes >= 0 (0: never split), "
                            f"not {split_bytes!r}")
    files = discover(list(inputs), pipeline.input_format)
    readable = [s.path for s in files if s.format in READABLE]
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(readable)))) as pool:  # I/O bound (object stores)
        content = dict(zip(readable, pool.map(content_fingerprint, readable)))
    if pipeline.records is not None:  # post-training files are read whole (datamill.post.formats)
        split_bytes = None
    if split_bytes == AUTO_SPLIT:
        split_bytes = auto_split_bytes(files)
    shards = split_shards(files, split_bytes)
    return RunPlan(steps=pipeline.steps, shards=shards, output=output, output_format=pipeline.output_format,
                   compression=pipeline.compression, text_field=pipeline.text_field,
                   id_field=pipeline.id_field, records=pipeline.records,
                   keep_dropped=keep_dropped, batch_size=batch_size, name=pipeline.name,
                   input_content=content, split_bytes=split_bytes or None)


def make_executor(name: str, *, workers: int = 1, address: str | None = None, progress: bool = False):
    try:
        cls = EXECUTORS.get(name)
    except RegistryError:
        raise DatamillError(f"unknown executor {name!r}: expected one of {', '.join(EXECUTORS.names())}") from None
    kwargs: dict[str, Any] = {"workers": workers, "progress": progress}
    if address:
        kwargs["address"] = address
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise DatamillError(f"executor {name!r}: {exc}") from None


def run_pipeline(pipeline, inputs: Sequence[str], output: str, *, workers: int = 1, executor: str = "local",
                 keep_dropped: bool = False, overwrite: bool = False, progress: bool = False,
                 batch_size: int = 256, address: str | None = None,
                 split_bytes: int | str | None = AUTO_SPLIT) -> dict[str, Any]:
    """What ``Pipeline.run`` does (see its docstring)."""
    runner = make_executor(executor, workers=workers, address=address, progress=progress)
    plan = plan_pipeline(pipeline, inputs, output, keep_dropped=keep_dropped, batch_size=batch_size,
                         split_bytes=split_bytes)
    resumed = _prepare_output(plan, overwrite)
    t0 = time.perf_counter()
    results = runner.run(plan)
    stats = merge_results(plan, results)
    if plan.output_format == "parquet":  # one schema for every part (datamill.io.parquet_schema)
        from datamill.io.parquet_schema import unify_parts

        stats["output"]["schema"] = unify_parts([plan.final_path(s.index) for s in plan.shards])
    stats.update({"executor": executor, "workers": workers, "resumed_tasks": resumed,
                  "seconds": round(time.perf_counter() - t0, 3)})
    atomic_write_bytes(stats_path(output), orjson.dumps(stats, option=orjson.OPT_INDENT_2, default=str))
    return stats


def _prepare_output(plan, overwrite: bool) -> int:
    """Check the output folder; return how many finished tasks a resumed run will skip."""
    fs, out = fsspec.core.url_to_fs(plan.output)
    meta = plan.meta("run.json")
    fingerprint = plan.fingerprint()
    if fs.exists(out) and overwrite:
        fs.rm(out, recursive=True)
    if fs.exists(out) and fs.ls(out):
        mfs, mpath = fsspec.core.url_to_fs(meta)
        if not mfs.exists(mpath):
            raise DatamillError(f"output {plan.output!r} exists and is not a datamill run: choose an empty "
                                f"folder or pass --overwrite")
        with mfs.open(mpath, "rb") as fh:
            previous = orjson.loads(fh.read())
        if previous.get("digest") != fingerprint["digest"]:
            raise DatamillError(f"output {plan.output!r} holds a run with a different recipe, inputs or "
                                f"cutting of the inputs into tasks (--split-size): "
                                f"choose a new folder or pass --overwrite to start again")
        changed = _changed_inputs(previous.get("input_content") or {}, fingerprint.get("input_content") or {})
        if changed:
            raise DatamillError(f"output {plan.output!r} was started from inputs that have changed since: "
                                f"{'; '.join(changed[:5])}" + (f" (and {len(changed) - 5} more)" if len(changed) > 5 else "")
                                + ". Resuming would mix old and new records: restore the inputs, choose a new "
                                  "folder, or pass --overwrite to start again")
        _remove_stale_temporaries(fs, out)
        done = plan.meta("done")
        dfs, dpath = fsspec.core.url_to_fs(done)
        return len(dfs.ls(dpath)) if dfs.exists(dpath) else 0
    fs.makedirs(out, exist_ok=True)
    atomic_write_bytes(meta, orjson.dumps(fingerprint, option=orjson.OPT_INDENT_2, default=str))
    return 0


def _changed_inputs(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Input files whose content fingerprint differs from the one the run started with (a run
    from before fingerprints were recorded has none, and is not checked)."""
    out = []
    for path, old in previous.items():
        new = current.get(path)
        if new is None:
            continue  # a missing input changes the digest, reported above
        diff = fingerprint_changes(old, new)
        if diff:
            out.append(f"{path} ({', '.join(diff)})")
    return out


def _remove_stale_temporaries(fs, out: str) -> None:
    """A killed run may leave half-written files under temporary names: they are never final
    outputs, and the tasks that wrote them will run again."""
    for path in fs.find(out):
        if os.path.basename(path).startswith(".tmp-"):
            fs.rm(path)


def merge_results(plan, results: list[dict]) -> dict[str, Any]:
    """Merge every task's marker into the run's stats."""
    reader = ReadStats()
    steps = [StepStats(s.label, s.kind) for s in plan.steps]
    globals_info: dict[str, Any] = {}
    output_records = 0
    peak_rss = 0.0
    files = []
    unreadable = Counter()
    for shard in plan.shards:
        if shard.format not in READABLE:
            unreadable[shard.format] += 1
    last_seg = f"seg{len(plan.segments) - 1}"
    for r in results:
        stage = r["stage"]
        peak_rss = max(peak_rss, r.get("peak_rss_mb") or 0.0)
        if r.get("reader"):
            reader.merge(ReadStats.from_dict(r["reader"]))
        for idx, sd in (r.get("steps") or {}).items():
            steps[int(idx)].merge(StepStats.from_dict(sd))
        if stage == last_seg:
            output_records += r["output_records"]
            files.append(os.path.basename(plan.final_path(r["shard"])))
        if stage.startswith("global"):
            g = int(stage[6:].split("-")[0])
            gi = plan.globals[g]
            steps[gi].seconds += r.get("seconds", 0.0)
            info = globals_info.setdefault(plan.steps[gi].label, {})
            for key, value in (r.get("counters") or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key in info:
                    info[key] += value
                else:
                    info[key] = value
    quarantine = Counter(reader.quarantined)
    for s in steps:
        if s.quarantined:
            quarantine[f"step_error:{s.label}"] += s.quarantined
    languages: Counter = Counter()
    for s in steps:
        languages.update(s.counters.get("languages", {}))
    return {
        "pipeline": plan.name,
        "inputs": list(dict.fromkeys(s.path for s in plan.shards)),
        "output_dir": plan.output,
        "reader": reader.to_dict(),
        "steps": [s.to_dict() for s in steps],
        "globals": globals_info,
        "quarantine": dict(quarantine.most_common()),
        "languages": dict(languages.most_common()),
        "output": {"records": output_records, "files": sorted(files), "format": plan.output_format},
        "peak_rss_mb_per_worker": peak_rss,
    }
