"""Pipelines: a list of steps, run by an executor over sharded input.

Python and YAML are two spellings of the same thing::

    from datamill import Pipeline
    from datamill.steps.extract.html import ExtractHTML
    from datamill.steps.langid.fasttext_lid import LanguageID

    Pipeline([ExtractHTML(), LanguageID(languages=["en"])]).run(["crawl/"], "out/", workers=2)

is the recipe ``steps: [{extract_html: {}}, {language_id: {languages: [en]}}]``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from typing import Any, Sequence

import fsspec
import orjson

from datamill.core.errors import DatamillError, InputError
from datamill.core.stats import ReadStats, StepStats
from datamill.core.step import Step
from datamill.io.atomic import atomic_write_bytes
from datamill.io.formats import READABLE, discover


class Pipeline:
    def __init__(self, steps: Sequence[Step], *, name: str = "pipeline", output_format: str = "jsonl",
                 compression: str = "gz", input_format: str | None = None, text_field: str = "text",
                 id_field: str = "id", records: str | None = None):
        self.steps = list(steps)
        self.name = name
        self.output_format = output_format
        self.compression = compression
        self.input_format = input_format
        self.text_field = text_field
        self.id_field = id_field
        self.records = records  # a post-training format (or "auto"): read rows as post-training records
        if records is not None:
            from datamill.post.formats import RECORD_FORMATS

            if records not in RECORD_FORMATS:
                raise DatamillError(f"records {records!r}: expected one of {', '.join(RECORD_FORMATS)}")
        seen: Counter = Counter()
        for step in self.steps:
            if not isinstance(step, Step):
                raise TypeError(f"pipeline steps must be datamill steps, got {step!r}")
            seen[step.name] += 1
            if seen[step.name] > 1 and not getattr(step, "_label", None):
                step._label = f"{step.name}#{seen[step.name]}"

    @classmethod
    def from_recipe(cls, path: str) -> "Pipeline":
        from datamill.core.recipe import load_recipe

        recipe = load_recipe(path)
        return cls(recipe.steps, name=recipe.name,
                   output_format=recipe.output.get("format", "jsonl"),
                   compression=recipe.output.get("compression", "gz"),
                   input_format=recipe.input.get("format"),
                   text_field=recipe.input.get("text_field", "text"),
                   id_field=recipe.input.get("id_field", "id"),
                   records=recipe.input.get("records"))

    def plan(self, inputs: Sequence[str], output: str, *, keep_dropped: bool = False,
             batch_size: int = 256):
        from datamill.exec.tasks import RunPlan

        if not inputs:
            raise InputError("no input given: pass at least one --input PATH")
        shards = discover(list(inputs), self.input_format)
        return RunPlan(steps=self.steps, shards=shards, output=output, output_format=self.output_format,
                       compression=self.compression, text_field=self.text_field, id_field=self.id_field, records=self.records,
                       keep_dropped=keep_dropped, batch_size=batch_size, name=self.name)

    def run(self, inputs: Sequence[str] | str, output: str, *, workers: int = 1, executor: str = "local",
            keep_dropped: bool = False, overwrite: bool = False, progress: bool = False,
            batch_size: int = 256, address: str | None = None) -> dict[str, Any]:
        """Run over ``inputs`` into ``output``; resumes a killed run; returns the stats dict
        (also written to ``output/stats.json``). ``executor="ray"`` runs the same tasks on Ray:
        a private local instance of ``workers`` CPUs, or the cluster at ``address``."""
        if isinstance(inputs, str):
            inputs = [inputs]
        plan = self.plan(inputs, output, keep_dropped=keep_dropped, batch_size=batch_size)
        from datamill.core.recipe import preflight

        preflight(self.steps)  # a missing model or benchmark file fails now, not mid-run
        resumed = _prepare_output(plan, overwrite)
        t0 = time.perf_counter()
        if executor == "local":
            from datamill.exec.local import LocalExecutor

            results = LocalExecutor(workers=workers, progress=progress).run(plan)
        elif executor == "ray":
            from datamill.exec.ray_executor import RayExecutor

            results = RayExecutor(workers=workers, address=address, progress=progress).run(plan)
        else:
            raise DatamillError(f"unknown executor {executor!r}: expected 'local' or 'ray'")
        stats = merge_results(plan, results)
        stats.update({"executor": executor, "workers": workers, "resumed_tasks": resumed,
                      "seconds": round(time.perf_counter() - t0, 3)})
        atomic_write_bytes(os.path.join(output, "stats.json"),
                           orjson.dumps(stats, option=orjson.OPT_INDENT_2, default=str))
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
            raise DatamillError(f"output {plan.output!r} holds a run with a different recipe or inputs: "
                                f"choose a new folder or pass --overwrite to start again")
        _remove_stale_temporaries(fs, out)
        done = plan.meta("done")
        dfs, dpath = fsspec.core.url_to_fs(done)
        return len(dfs.ls(dpath)) if dfs.exists(dpath) else 0
    fs.makedirs(out, exist_ok=True)
    atomic_write_bytes(meta, orjson.dumps(fingerprint, option=orjson.OPT_INDENT_2, default=str))
    return 0


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
        "inputs": [s.path for s in plan.shards],
        "output_dir": plan.output,
        "reader": reader.to_dict(),
        "steps": [s.to_dict() for s in steps],
        "globals": globals_info,
        "quarantine": dict(quarantine.most_common()),
        "languages": dict(languages.most_common()),
        "output": {"records": output_records, "files": sorted(files), "format": plan.output_format},
        "peak_rss_mb_per_worker": peak_rss,
    }


def remove_output(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
