"""`datamill report`: an HTML report of a run's output or a catalog version, with drift, bias
and a datasheet. (Python twin: datamill.report.build.build_report)"""

from __future__ import annotations

import click

import datamill.catalog  # noqa: F401 - catalog://NAME@V sources
from datamill.cli.root import main
from datamill.core.errors import friendly_errors


@main.command("report")
@click.argument("source")
@click.option("--html", "html_path", required=True, help="The HTML file to write (DATASHEET.md goes beside it).")
@click.option("--compare", default=None, metavar="OTHER",
              help="Another output folder or catalog://NAME@V: add the drift section (OTHER is the reference).")
@click.option("--no-embeddings", is_flag=True,
              help="Skip what needs all-MiniLM-L6-v2 (embedding drift, prompt map, SEAT): much faster on CPU.")
@click.option("--no-bias", is_flag=True, help="Skip the bias section.")
@click.option("--bias-terms", default=None, help="A JSON file of group and attribute term lists (see docs/reports.md).")
@click.option("--sample", default=200_000, show_default=True, type=click.IntRange(0),
              help="Records sampled for the record-level sections (0: all).")
@click.option("--datasheet", "datasheet_path", default=None, help="Where to write DATASHEET.md [beside --html].")
@click.option("--catalog", "root", default=None, metavar="ROOT", help="Catalog root for catalog:// sources.")
@friendly_errors
def report_cmd(source, html_path, compare, no_embeddings, no_bias, bias_terms, sample, datasheet_path, root):
    """Write one self-contained HTML report of SOURCE (a run's output folder, record files or
    catalog://NAME@V): funnel, languages, domains, lengths, every signal, duplicates, dropped
    examples, post-training sections, drift (--compare), bias and a datasheet.

    Python twin: `datamill.report.build.build_report(SOURCE, HTML, compare=OTHER)`.
    """
    from datamill.report.build import build_report

    r = build_report(source, html_path, compare=compare, embeddings=not no_embeddings, bias=not no_bias,
                     bias_terms=bias_terms, sample=sample, catalog_root=root, datasheet_path=datasheet_path,
                     progress=True)
    click.echo(f"wrote {r['html']} ({r['figures']} figures; sections: {', '.join(r['sections'])}) "
               f"and {r['datasheet']} in {r['seconds']:.1f}s")
    drift = r.get("drift")
    if drift:
        flagged = [n for n, d in {**drift["numeric"], **drift["categorical"]}.items() if d["drift"]]
        click.echo(f"drift vs {compare}: {drift['drifted_columns']} of {drift['columns']} columns"
                   + (f" ({', '.join(flagged)})" if flagged else "")
                   + (f"; embeddings: {'DRIFT' if drift['embeddings']['drift'] else 'ok'} "
                      f"(classifier AUC {drift['embeddings']['classifier_auc']:.3f})" if drift.get("embeddings") else ""))
