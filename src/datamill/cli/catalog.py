"""Catalog commands: catalog add | list | log | show | diff | lineage | tag.
(Python twin: datamill.catalog.Catalog, datamill.catalog.diff.diff, datamill.catalog.graph)"""

from __future__ import annotations

import click

import datamill.catalog  # noqa: F401 - registers catalog://NAME@V as an input anywhere a path is taken
from datamill.cli.root import main
from datamill.core.errors import friendly_errors

CATALOG_HELP = "Catalog root: a folder or fsspec/object-store URI [$DATAMILL_CATALOG or ./datamill-catalog]."


def open_catalog(root):
    from datamill.catalog import Catalog

    return Catalog(root)


def register_output(name: str, path: str, *, root=None, recipe=None, inputs=None, message=None, quiet=False):
    """Commit ``path`` as the next version of ``name``; print one line. Used by --register."""
    version = open_catalog(root).add(name, path, recipe=recipe, inputs=inputs, message=message, progress=not quiet)
    click.echo(f"registered {version.ref} ({version.rows:,} records) in catalog {open_catalog(root).root}")
    return version


def catalog_option(f):
    return click.option("--catalog", "root", default=None, metavar="ROOT", help=CATALOG_HELP)(f)


@main.group()
def catalog() -> None:
    """Versioned datasets (Delta Lake): add, list, log, show, diff, lineage, tag.

    A version is addressed as NAME@V (a number from 0), NAME@TAG or NAME@TIMESTAMP (the
    version current at that time); inputs can be catalog://NAME@V or catalog://NAME (latest).
    """


@catalog.command("add")
@click.argument("name")
@click.argument("path")
@click.option("--recipe", default=None, help="The recipe file that made PATH (its text and hash go into the lineage).")
@click.option("--input", "-i", "inputs", multiple=True,
              help="What PATH was made from (default: the inputs named in PATH's stats.json); repeatable.")
@click.option("--message", "-m", default=None, help="A note stored with the version.")
@catalog_option
@friendly_errors
def add_cmd(name, path, recipe, inputs, message, root):
    """Commit PATH (a run's output folder, JSONL/JSON/Parquet files, an annotation export) as the
    next version of NAME. Python twin: `Catalog(ROOT).add(NAME, PATH, recipe=, inputs=)`."""
    register_output(name, path, root=root, recipe=recipe, inputs=list(inputs) or None, message=message)


@catalog.command("list")
@catalog_option
@friendly_errors
def list_cmd(root):
    """Datasets in the catalog with their latest version. Python twin: `Catalog(ROOT).names()`."""
    cat = open_catalog(root)
    names = cat.names()
    if not names:
        click.echo(f"catalog {cat.root}: no datasets yet (add one with `datamill catalog add NAME OUTPUT_DIR`)")
        return
    click.echo(f"{'name':<28}{'latest':>7}{'records':>12}  {'when (UTC)':<26}tags")
    for name in names:
        v = cat.history(name)[0]
        tags = ",".join(f"{t}@{n}" for t, n in sorted(cat.tags(name).items()))
        click.echo(f"{name:<28}{v.version:>7}{_n(v.rows):>12}  {v.timestamp.isoformat(timespec='seconds'):<26}{tags}")


@catalog.command("log")
@click.argument("name")
@catalog_option
@friendly_errors
def log_cmd(name, root):
    """Versions of NAME, newest first. Python twin: `Catalog(ROOT).history(NAME)`."""
    cat = open_catalog(root)
    for v in cat.history(name):
        doc = v.lineage
        recipe = (doc.get("recipe") or {}).get("sha256")
        what = (doc.get("stats") or {}).get("pipeline") or (doc.get("source") or {}).get("kind") or v.operation
        click.echo(f"{v.ref:<28}{v.timestamp.isoformat(timespec='seconds'):<27}{_n(v.rows):>12} records  "
                   f"{what}  {doc.get('who') or ''}"
                   + (f"  recipe {recipe[:12]}" if recipe else "")
                   + (f"  tags {','.join(v.tags)}" if v.tags else "")
                   + (f"  \"{doc['message']}\"" if doc.get("message") else ""))


@catalog.command("show")
@click.argument("ref")
@click.option("--recipe", "show_recipe", is_flag=True, help="Also print the recipe text.")
@catalog_option
@friendly_errors
def show_cmd(ref, show_recipe, root):
    """One version: records, columns, lineage, tags and the run's summary.
    Python twin: `Catalog(ROOT).version(REF)`."""
    from datamill.report.summary import format_summary

    cat = open_catalog(root)
    v = cat.version(ref)
    doc = v.lineage
    ds = cat.dataset(v.ref)
    click.echo(f"{v.ref}  {v.timestamp.isoformat(timespec='seconds')}  {_n(v.rows)} records"
               + (f"  tags {','.join(v.tags)}" if v.tags else ""))
    click.echo(f"  columns:  {', '.join(ds.schema.names)}")
    click.echo(f"  source:   {(doc.get('source') or {}).get('path')} ({(doc.get('source') or {}).get('kind')})")
    click.echo(f"  who:      {doc.get('who')}   datamill {doc.get('datamill_version')}  git {doc.get('git_commit')}")
    recipe = doc.get("recipe") or {}
    if recipe:
        click.echo(f"  recipe:   {recipe.get('path') or '(from run plan)'}  sha256 {recipe.get('sha256')}")
    for entry in doc.get("inputs") or []:
        click.echo(f"  input:    " + (f"catalog://{entry['catalog']}" if "catalog" in entry
                                       else f"{entry['path']}  xxh3_128 {entry.get('xxh3_128')}"))
    if doc.get("message"):
        click.echo(f"  message:  {doc['message']}")
    if show_recipe and recipe.get("text"):
        click.echo("\n" + recipe["text"])
    if doc.get("stats") and doc["stats"].get("steps") is not None and doc["stats"].get("reader"):
        click.echo("")
        click.echo(format_summary(doc["stats"]))


@catalog.command("diff")
@click.argument("ref_a")
@click.argument("ref_b")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@catalog_option
@friendly_errors
def diff_cmd(ref_a, ref_b, as_json, root):
    """Records added, removed and changed (by id and by text hash) and every stat's change
    from REF_A to REF_B. Python twin: `datamill.catalog.diff.diff(Catalog(ROOT), A, B)`."""
    from datamill.catalog.diff import diff, format_diff

    d = diff(open_catalog(root), ref_a, ref_b)
    if as_json:
        import orjson

        click.echo(orjson.dumps(d, option=orjson.OPT_INDENT_2, default=str).decode())
    else:
        click.echo(format_diff(d))


@catalog.command("lineage")
@click.argument("ref")
@catalog_option
@friendly_errors
def lineage_cmd(ref, root):
    """The versions and raw files REF came from, as a tree.
    Python twin: `datamill.catalog.graph.lineage_graph(Catalog(ROOT), REF)`."""
    from datamill.catalog.graph import format_lineage, lineage_graph

    click.echo(format_lineage(lineage_graph(open_catalog(root), ref)))


@catalog.command("tag")
@click.argument("ref")
@click.argument("tag")
@click.option("--force", is_flag=True, help="Move the tag if it names another version.")
@catalog_option
@friendly_errors
def tag_cmd(ref, tag, force, root):
    """Name version REF (NAME@V) TAG, so that NAME@TAG addresses it. Python twin: `Catalog(ROOT).tag(REF, TAG)`."""
    name, version = open_catalog(root).tag(ref, tag, force=force)
    click.echo(f"tagged {name}@{version} as {name}@{tag}")


def _n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def register_options(f):
    """``--catalog-register NAME`` and ``--catalog ROOT`` for commands that write a dataset."""
    f = click.option("--catalog", "catalog_root", default=None, metavar="ROOT", help=CATALOG_HELP)(f)
    return click.option("--catalog-register", "catalog_register", default=None, metavar="NAME",
                        help="Then commit the output as the next version of NAME in the catalog (docs/catalog.md).")(f)
