"""The data flywheel: flywheel ingest | simulate. (Python twin: datamill.flywheel)"""

from __future__ import annotations

import click

from datamill.cli.root import main
from datamill.core.errors import DatamillError, friendly_errors


@main.group()
def flywheel() -> None:
    """Production chat logs in, better training data out (docs/flywheel.md)."""


@flywheel.command("ingest")
@click.argument("logs", nargs=-1, required=True)
@click.option("--output", "-o", required=True, help="The round's folder (raw/, clean/, quarantine.jsonl, flywheel.json).")
@click.option("--recipe", default="default", show_default=True,
              help="Cleaning recipe for each kind (default: recipes/flywheel.yaml); 'none' to skip cleaning.")
@click.option("--annotate", "annotate", default=None, metavar="PROJECT",
              help="Send the uncertain items to this annotation project (created when new).")
@click.option("--annotate-db", default=None, metavar="URL",
              help="The annotation app's database [$DATAMILL_ANNOTATE_DB or sqlite:///datamill-annotate.db].")
@click.option("--review-rounds", default=1, show_default=True, type=click.IntRange(0, 20),
              help="Review rounds of a new annotation project (0: answers are accepted as submitted).")
@click.option("--quality-model", default=None, metavar="PATH",
              help="A quality model (datamill quality-model train): KTO records it scores between 0.4 and 0.6 "
                   "go to people as uncertain.")
@click.option("--labels-from", "labels_from", multiple=True, metavar="EXPORT",
              help="An annotation export (datamill annotate export …) to add as labels; repeatable.")
@click.option("--labels-project", default=None, metavar="PROJECT",
              help="Read the accepted answers of this annotation project as labels (rewrites: SFT; ratings: KTO).")
@click.option("--register", default=None, metavar="NAME",
              help="Register each kind as a catalog version NAME-sft / NAME-preference / NAME-kto.")
@click.option("--catalog", "catalog_root", default=None, metavar="ROOT", help="Catalog root for --register.")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 1024))
@friendly_errors
def ingest_cmd(logs, output, recipe, annotate, annotate_db, review_rounds, quality_model, labels_from, labels_project, register, catalog_root,
               workers):
    """Turn chat-completion LOGS (JSONL with feedback events) into SFT, preference and KTO records
    with provenance, clean them, send uncertain items to people, and register the round.

    Python twin: `datamill.flywheel.round.ingest(LOGS, OUTPUT, ...)`.
    """
    from datamill.flywheel.round import format_round, ingest

    if recipe == "default":
        from datamill.flywheel.round import default_recipe

        if default_recipe() is None:
            raise DatamillError("recipes/flywheel.yaml not found beside this installation: pass --recipe PATH")
    s = ingest(list(logs), output, recipe=None if recipe == "none" else recipe, annotate=annotate,
               annotate_db=annotate_db, labels_from=list(labels_from), labels_project=labels_project,
               register=register, catalog_root=catalog_root, workers=workers, review_rounds=review_rounds,
               quality_model=quality_model)
    click.echo(format_round(s))


@flywheel.command("simulate")
@click.option("--shared", default=None, help="The shared data folder (default: $DATAMILL_SHARED_DATA).")
@click.option("--output", "-o", required=True, help="Folder for the SIMULATED log file.")
@click.option("--round", "round_no", default=1, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--per-source", default=60, show_default=True, type=click.IntRange(1, 100_000),
              help="Records drawn from each source data set.")
@friendly_errors
def simulate_cmd(shared, output, round_no, per_source):
    """Write a clearly labelled SIMULATED chat log (with feedback) from public SFT and preference
    data, for the demo. Python twin: `datamill.flywheel.simulate.simulate_logs(SHARED, OUTPUT)`."""
    from datamill.corpus import require_shared_dir
    from datamill.flywheel.simulate import simulate_logs

    shared = require_shared_dir(shared)
    r = simulate_logs(shared, output, round_no=round_no, per_source=per_source)
    click.echo(f"wrote SIMULATED log {r['path']}: {r['events']:,} events in {r['conversations']:,} conversations "
               f"(+{r['bad_lines']} deliberately broken lines)")
