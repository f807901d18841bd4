"""Pipelines: a list of steps, run by an executor over sharded input.

Python and YAML are two spellings of the same thing::

    from datamill import Pipeline
    from datamill.steps.extract.html import ExtractHTML
    from datamill.steps.langid.fasttext_lid import LanguageID

    Pipeline([ExtractHTML(), LanguageID(languages=["en"])]).run(["crawl/"], "out/", workers=2)

is the recipe ``steps: [{extract_html: {}}, {language_id: {languages: [en]}}]``.

Planning and running live in the ``exec`` layer (``datamill.exec.runner``), found through
:mod:`datamill.core.registry`, so core imports nothing above it.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from typing import Any, Sequence

from datamill.core.errors import DatamillError
from datamill.core.registry import RECORD_FORMATS, RUNNERS
from datamill.core.step import Step

# Input files larger than this are cut into several tasks (datamill.io.split); 0 or None: never.
DEFAULT_SPLIT_BYTES = 1 << 30
#: ``split_bytes="auto"`` (the default): cut files so that a run has at least ``AUTO_MIN_TASKS``
#: tasks (workers finish together when one task is a small part of the whole: with 12 tasks on
#: 2 workers one worker idled 0.3-0.6 s at the end of a 5 s run, with 32 tasks 0.0-0.3 s), never
#: into parts under ``AUTO_MIN_SPLIT`` nor over ``DEFAULT_SPLIT_BYTES``; it depends only on the
#: input files' sizes, so a resumed run plans the same tasks
AUTO_SPLIT = "auto"
AUTO_MIN_TASKS = 32
AUTO_MIN_SPLIT = 2 << 20


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
        if records is not None and records not in RECORD_FORMATS:
            raise DatamillError(f"records {records!r}: expected one of {', '.join(RECORD_FORMATS.names())}")
        seen: Counter = Counter()
        for step in self.steps:
            if not isinstance(step, Step):
                raise TypeError(f"pipeline steps must be datamill steps, got {step!r}")
            base = step.name or type(step).__name__
            seen[base] += 1
            if seen[base] > 1 and not getattr(step, "_label", None):
                step._label = f"{base}#{seen[base]}"

    @classmethod
    def from_recipe(cls, path: str, overrides: dict[str, Any] | None = None) -> "Pipeline":
        """``overrides``: ``{"STEP.PARAM": value}`` (``datamill run --set``), validated like the recipe."""
        from datamill.core.recipe import load_recipe

        recipe = load_recipe(path, overrides)
        pipeline = cls(recipe.steps, name=recipe.name,
                   output_format=recipe.output.get("format", "jsonl"),
                   compression=recipe.output.get("compression", "gz"),
                   input_format=recipe.input.get("format"),
                   text_field=recipe.input.get("text_field", "text"),
                   id_field=recipe.input.get("id_field", "id"),
                   records=recipe.input.get("records"))
        pipeline.recipe_path = path  # named in errors found before the run starts
        return pipeline

    def plan(self, inputs: Sequence[str], output: str, *, keep_dropped: bool = False,
             batch_size: int = 256, split_bytes: int | str | None = AUTO_SPLIT):
        """The run's tasks (a ``datamill.exec.tasks.RunPlan``), without running them: one shard
        per input file, or several for a file larger than ``split_bytes`` (JSONL by line, WARC
        by record, Parquet by row group; 0 or None: never split; ``"auto"``: see
        ``AUTO_SPLIT``)."""
        return RUNNERS.get("pipeline").plan_pipeline(self, inputs, output, keep_dropped=keep_dropped,
                                                     batch_size=batch_size, split_bytes=split_bytes)

    def run(self, inputs: Sequence[str] | str, output: str, *, workers: int = 1, executor: str = "local",
            keep_dropped: bool = False, overwrite: bool = False, progress: bool = False,
            batch_size: int = 256, address: str | None = None,
            split_bytes: int | str | None = AUTO_SPLIT) -> dict[str, Any]:
        """Run over ``inputs`` into ``output``; resumes a killed run; returns the stats dict
        (also written to ``output/.datamill/stats.json``). Input files larger than ``split_bytes``
        are cut into several tasks (``"auto"``: at least ``AUTO_MIN_TASKS`` tasks of
        ``AUTO_MIN_SPLIT`` to ``DEFAULT_SPLIT_BYTES`` where the files allow). ``executor`` names
        a registered executor: ``"local"`` (processes on this machine) or ``"ray"`` (a private local instance of
        ``workers`` CPUs, or the cluster at ``address``), or a plugin's."""
        if isinstance(inputs, str):
            inputs = [inputs]
        from datamill.core.recipe import preflight

        preflight(self.steps, getattr(self, "recipe_path", None))  # a missing model or benchmark file fails now, not mid-run
        return RUNNERS.get("pipeline").run_pipeline(
            self, inputs, output, workers=workers, executor=executor, keep_dropped=keep_dropped,
            overwrite=overwrite, progress=progress, batch_size=batch_size, address=address,
            split_bytes=split_bytes)


def remove_output(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
