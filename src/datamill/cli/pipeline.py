"""Pipeline commands: run, check, steps, summary, corpus."""

from __future__ import annotations

import atexit
import gc
import os
import sys

import click

from datamill.cli.root import main
from datamill.core.errors import DatamillError, friendly_errors
from datamill.core.pipeline import AUTO_SPLIT


_UNITS = {"": 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def parse_size(value: str | int) -> int:
    """``"256MB"`` -> bytes (binary units: 1 KB = 1024 B); a plain number is bytes."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", str(value), re.I)
    if not m:
        raise click.BadParameter(f"{value!r}: expected a size such as 512MB, 2GB or 0")
    unit = m.group(2).upper()
    unit = unit if unit.endswith("B") or not unit else unit + "B"
    return int(float(m.group(1)) * _UNITS[unit])


@main.command()
@click.argument("recipe", type=str)
@click.option("--input", "-i", "inputs", multiple=True, required=True,
              help="Input file, folder or glob (WARC, WET, JSONL[.gz|.zst], Parquet); repeatable.")
@click.option("--output", "-o", required=True,
              help="Output folder: records part-*, and the run's stats.json, quarantine/ and dropped/ in .datamill/.")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 1024),
              help="Worker processes; shards are spread over them.")
@click.option("--executor", default="local", show_default=True,
              help="Where tasks run: local processes, Ray (see docs/ray.md), or an executor a plugin "
                   "registers (entry point group datamill.executors).")
@click.option("--address", default=None,
              help="With --executor ray: the Ray cluster to join (HOST:PORT, ray://HOST:10001 or auto); "
                   "without it a local Ray instance of --workers CPUs is started.")
@click.option("--keep-dropped", is_flag=True, help="Also write dropped records with their reason to OUTPUT/.datamill/dropped/.")
@click.option("--overwrite", is_flag=True, help="Delete OUTPUT first instead of resuming.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@click.option("--split-size", default="auto", show_default=True,
              callback=lambda ctx, p, v: AUTO_SPLIT if str(v).strip().lower() == AUTO_SPLIT else parse_size(v),
              help="Cut input files larger than this into several tasks (JSONL by line, WARC by record, "
                   "Parquet by row group), e.g. 256MB; 0 never cuts; auto: at least 32 tasks, each "
                   "2 MB to 1 GB, where the files allow; the largest start first.")
@click.option("--set", "overrides", multiple=True, metavar="STEP.PARAM=VALUE",
              help="Override a step parameter (or llm.KEY for the recipe's llm block), validated like "
                   "the recipe; repeatable. Example: --set self_instruct.num_instructions=30")
@click.option("--register", default=None, metavar="NAME",
              help="Then commit OUTPUT as the next version of NAME in the catalog, with its lineage (docs/catalog.md).")
@click.option("--catalog", "catalog_root", default=None, metavar="ROOT",
              help="Catalog root for --register [$DATAMILL_CATALOG or ./datamill-catalog].")
@friendly_errors
def run(recipe, inputs, output, workers, executor, address, keep_dropped, overwrite, quiet, split_size, overrides,
        register, catalog_root):
    """Run RECIPE (a YAML file) over the inputs into OUTPUT.

    A killed run resumes when started again with the same arguments: finished shards are
    skipped. Python twin: `datamill.Pipeline.from_recipe(RECIPE, overrides).run(inputs, output)`.
    """
    from datamill.core.pipeline import Pipeline
    from datamill.report.summary import failure, format_summary

    if address and executor != "ray":
        raise DatamillError("--address is for --executor ray")
    if catalog_root:  # catalog://NAME@V inputs resolve in this catalog too
        os.environ["DATAMILL_CATALOG"] = catalog_root
    from datamill.core.recipe import parse_overrides

    pipeline = Pipeline.from_recipe(recipe, parse_overrides(overrides))
    stats = pipeline.run(list(inputs), output, workers=workers, executor=executor, address=address,
                         keep_dropped=keep_dropped, overwrite=overwrite, progress=not quiet,
                         split_bytes=split_size)
    if not quiet:
        click.echo(format_summary(stats))
    why = failure(stats)
    if why:
        click.echo(f"datamill: error: {why}", err=True)
        sys.exit(1)
    if register:
        from datamill.cli.catalog import register_output

        register_output(register, output, root=catalog_root, recipe=recipe, inputs=list(inputs), quiet=quiet)
    _freeze_at_exit()


def _freeze_at_exit() -> None:
    """At exit, before the interpreter's last garbage collection, freeze the objects a run leaves
    (models, tables, caches) so that collection does not walk them all: 0.07-0.09 s of every
    run's exit, measured; they are freed with the process. (At exit only: a test process that
    runs many commands keeps collecting as usual; registered once however many runs.)"""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


@main.command()
@click.argument("recipe", type=str)
@friendly_errors
def check(recipe):
    """Validate RECIPE without running it, and print the steps it resolves to.

    Python twin: `datamill.core.recipe.load_recipe(RECIPE)`.
    """
    from datamill.core.recipe import load_recipe, preflight

    parsed = load_recipe(recipe)
    preflight(parsed.steps, recipe)  # every file a step needs is resolved now, not at its turn in a run
    click.echo(f"{recipe}: OK, {len(parsed.steps)} steps")
    for step in parsed.steps:
        click.echo(f"  {step.label:<22} {step.kind:<10} {step.params}")


@main.command()
@click.argument("name", required=False)
def steps(name):
    """List the steps recipes can use, or show one step's parameters.

    Python twin: `datamill.core.step.REGISTRY`.
    """
    import inspect

    from datamill.core.recipe import load_steps_registry, step_parameters, _type_name
    from datamill.core.step import REGISTRY

    load_steps_registry()
    names = [name] if name else sorted(REGISTRY)
    for n in names:
        cls = REGISTRY.get(n)
        if cls is None:
            click.echo(f"datamill: error: unknown step {n!r}", err=True)
            sys.exit(2)
        doc = (inspect.getdoc(cls) or "").split("\n")[0]
        click.echo(f"{n:<22} {cls.kind:<10} {doc}")
        if name:
            for pname, (hint, default) in step_parameters(cls).items():
                d = "required" if default is inspect.Parameter.empty else f"default {default!r}"
                click.echo(f"    {pname}: {_type_name(hint)} ({d})")


@main.command()
@click.argument("output", type=str)
@friendly_errors
def summary(output):
    """Print the summary of a finished run (OUTPUT/.datamill/stats.json, or OUTPUT/stats.json
    for runs written before that layout).

    Python twin: `datamill.report.summary.load_stats(OUTPUT)` and `format_summary(stats)`.
    """
    from datamill.report.summary import format_summary, load_stats

    click.echo(format_summary(load_stats(output)))



@main.group()
def corpus() -> None:
    """Build corpora from the bundled real data (for the demo and benchmarks)."""


@corpus.command("build")
@click.option("--shared", default=None, help="The shared data folder (default: $DATAMILL_SHARED_DATA).")
@click.option("--output", "-o", required=True, help="Folder for the WARC files.")
@click.option("--files", default=4, show_default=True, type=click.IntRange(1, 10_000), help="Number of WARC files.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 10_000), help="Repeat the pages N times for volume.")
@friendly_errors
def corpus_build(shared, output, files, repeat):
    """Write the real pages of the shared data as WARC.gz files.

    Python twin: `datamill.corpus.build_corpus(shared, output, files=, repeat=)`.
    """
    from datamill.corpus import build_corpus, require_shared_dir

    shared = require_shared_dir(shared)
    result = build_corpus(shared, output, files=files, repeat=repeat)
    click.echo(f"wrote {result.get('pages', '?')} pages into {result.get('files', files)} WARC files under {output}")

