"""``datamill annotate …``: run the app, and manage users, projects, data and exports from the
command line. Every command takes ``--db URL`` (default ``$DATAMILL_ANNOTATE_DB`` or
``sqlite:///datamill-annotate.db``); each has a JSON API twin (see ``docs/annotation.md``).
"""

from __future__ import annotations

import json
import os

import click

from datamill.core.errors import DatamillError, friendly_errors

DB_HELP = "Database URL (SQLite file by default; postgresql+psycopg://user:pw@host/db for teams)."


def _session(db_url):
    from datamill.annotate.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(db_url))()


def _project(db, ref: str):
    from sqlalchemy import select

    from datamill.annotate.db import Project

    p = db.get(Project, int(ref)) if ref.isdigit() else None
    p = p or db.scalar(select(Project).where(Project.name == ref))
    if p is None:
        raise DatamillError(f"no project {ref!r} (give its name or id)")
    return p


def _user(db, name: str):
    from sqlalchemy import select

    from datamill.annotate.db import User

    u = db.scalar(select(User).where(User.username == name))
    if u is None:
        raise DatamillError(f"no user {name!r}")
    return u


def _split(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


@click.group("annotate")
def annotate() -> None:
    """The annotation and review app: `serve` it, then create users and projects here or in the
    web UI. Python twin: `datamill.annotate.create_app(db_url)`."""


@annotate.command()
@click.option("--db", "db_url", default=None, help=DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535))
@click.option("--secret", default=None, envvar="DATAMILL_ANNOTATE_SECRET",
              help="Signs login-form tokens (default: random per start).")
@click.option("--session-hours", default=8.0, show_default=True, type=click.FloatRange(0.01, 24 * 30),
              help="How long a login lasts.")
@click.option("--data-root", "data_roots", multiple=True,
              help="Folder admins may import server-side files from (repeatable; default: the working "
                   "folder). Links are followed and must stay inside.")
@click.option("--cookie-secure", is_flag=True, help="Send cookies over HTTPS only (behind TLS).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="uvicorn worker processes (SQLite in WAL mode or PostgreSQL; about one per core).")
@friendly_errors
def serve(db_url, host, port, secret, session_hours, data_roots, cookie_secure, workers):
    """Start the web app (HTML at /, JSON API at /api, OpenAPI at /openapi.json and /docs)."""
    import uvicorn

    from datamill.annotate.app import create_app

    if workers > 1:
        # uvicorn needs an import string to fork workers: pass the settings through the environment
        os.environ["DATAMILL_ANNOTATE_DB"] = db_url or os.environ.get("DATAMILL_ANNOTATE_DB", "")
        os.environ["DATAMILL_ANNOTATE_SECRET"] = secret or os.environ.get("DATAMILL_ANNOTATE_SECRET") or os.urandom(32).hex()
        os.environ["DATAMILL_ANNOTATE_SESSION_TTL"] = str(int(session_hours * 3600))
        os.environ["DATAMILL_ANNOTATE_DATA_ROOTS"] = os.pathsep.join(data_roots)
        os.environ["DATAMILL_ANNOTATE_COOKIE_SECURE"] = "1" if cookie_secure else ""
        uvicorn.run("datamill.annotate.cli:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level="info")
        return
    app = create_app(db_url, secret=secret, session_ttl=int(session_hours * 3600), data_roots=list(data_roots),
                     cookie_secure=cookie_secure)
    click.echo(f"datamill annotate: http://{host}:{port}/ (database {app.state.engine.url.render_as_string()})",
               err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


def app_from_env():
    """App factory for multi-worker uvicorn (settings from the environment)."""
    from datamill.annotate.app import create_app

    roots = [r for r in os.environ.get("DATAMILL_ANNOTATE_DATA_ROOTS", "").split(os.pathsep) if r]
    return create_app(os.environ.get("DATAMILL_ANNOTATE_DB") or None, secret=os.environ.get("DATAMILL_ANNOTATE_SECRET"),
                      session_ttl=int(os.environ.get("DATAMILL_ANNOTATE_SESSION_TTL", 8 * 3600)), data_roots=roots,
                      cookie_secure=bool(os.environ.get("DATAMILL_ANNOTATE_COOKIE_SECURE")))


@annotate.command("create-user")
@click.argument("username")
@click.option("--role", default="annotator", show_default=True, type=click.Choice(["admin", "reviewer", "annotator"]))
@click.option("--password", default=None, envvar="DATAMILL_ANNOTATE_PASSWORD",
              help="The password (default: prompt; or $DATAMILL_ANNOTATE_PASSWORD).")
@click.option("--db", "db_url", default=None, help=DB_HELP)
@friendly_errors
def create_user_cmd(username, role, password, db_url):
    """Create a user (the first one should be an admin). API twin: POST /api/users."""
    from datamill.annotate.auth import create_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    db = _session(db_url)
    try:
        u = create_user(db, username, password, role)
        db.commit()
        click.echo(f"created {role} {u.username} (id {u.id})")
    finally:
        db.close()


@annotate.command("templates")
def templates_cmd():
    """List the ready question templates. API twin: GET /api/templates."""
    from datamill.annotate.templates_catalog import TEMPLATES

    for name, t in TEMPLATES.items():
        kinds = ", ".join(f"{q['id']}:{q['type']}" for q in t["questions"])
        click.echo(f"{name:<22} {t['title']:<36} {kinds}")


@annotate.command("create-project")
@click.argument("name")
@click.option("--template", default="rate_and_rank", show_default=True, help="A ready template (see `templates`).")
@click.option("--schema", "schema_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="A question schema (JSON file) instead of a template.")
@click.option("--data", "data_path", default=None, help="Dataset file or folder to import.")
@click.option("--format", "fmt", default=None, help="Dataset format (default: detected).")
@click.option("--score-field", default=None, help="Dotted path of a model score for uncertainty ordering.")
@click.option("--overlap", default=1, show_default=True, type=click.IntRange(1, 50), help="Annotators per task.")
@click.option("--review-rounds", default=1, show_default=True, type=click.IntRange(0, 20))
@click.option("--lock-minutes", default=30, show_default=True, type=click.IntRange(1, 7 * 1440))
@click.option("--no-active-learning", is_flag=True, help="Dataset order, even when rows carry a score.")
@click.option("--labels", default=None, help="Comma-separated label set for label questions.")
@click.option("--criteria", default=None, help="Comma-separated rating criteria.")
@click.option("--annotators", default=None, help="Comma-separated user names.")
@click.option("--reviewers", default=None, help="Comma-separated user names.")
@click.option("--description", default="")
@click.option("--db", "db_url", default=None, help=DB_HELP)
@friendly_errors
def create_project_cmd(name, template, schema_path, data_path, fmt, score_field, overlap, review_rounds, lock_minutes,
                       no_active_learning, labels, criteria, annotators, reviewers, description, db_url):
    """Create a project, optionally importing a dataset and adding members.
    API twin: POST /api/projects, then POST /api/projects/{id}/items."""
    from datamill.annotate.auth import add_member
    from datamill.annotate.projects import create_project, import_records, load_dataset

    schema = None
    if schema_path:
        try:
            with open(schema_path, encoding="utf-8") as fh:
                schema = json.load(fh)
        except json.JSONDecodeError as exc:
            raise DatamillError(f"{schema_path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    db = _session(db_url)
    try:
        p = create_project(db, name, template=None if schema else template, schema=schema, overlap=overlap,
                           review_rounds=review_rounds, lock_seconds=lock_minutes * 60,
                           active_learning=not no_active_learning, description=description,
                           labels=_split(labels) or None, criteria=_split(criteria) or None)
        for u in _split(annotators):
            add_member(db, p, _user(db, u), "annotator")
        for u in _split(reviewers):
            add_member(db, p, _user(db, u), "reviewer")
        n = 0
        if data_path:
            records, problems = load_dataset(data_path, fmt)
            for prob in problems[:5]:
                click.echo(f"  skipped: {prob}", err=True)
            p.source = data_path
            n = import_records(db, p, records, score_field=score_field)
        db.commit()
        click.echo(f"created project {p.name!r} (id {p.id}, template {p.template}) with {n} items")
    finally:
        db.close()


@annotate.command("add-member")
@click.argument("project")
@click.argument("username")
@click.option("--role", default="annotator", show_default=True, type=click.Choice(["annotator", "reviewer"]))
@click.option("--db", "db_url", default=None, help=DB_HELP)
@friendly_errors
def add_member_cmd(project, username, role, db_url):
    """Add USERNAME to PROJECT (name or id). API twin: POST /api/projects/{id}/members."""
    from datamill.annotate.auth import add_member

    db = _session(db_url)
    try:
        p = _project(db, project)
        add_member(db, p, _user(db, username), role)
        db.commit()
        click.echo(f"{username} is a {role} of {p.name!r}")
    finally:
        db.close()


@annotate.command("import")
@click.argument("project")
@click.argument("path")
@click.option("--format", "fmt", default=None, help="Dataset format (default: detected).")
@click.option("--score-field", default=None, help="Dotted path of a model score for uncertainty ordering.")
@click.option("--db", "db_url", default=None, help=DB_HELP)
@friendly_errors
def import_cmd(project, path, fmt, score_field, db_url):
    """Import a dataset file or folder into PROJECT. API twin: POST /api/projects/{id}/items."""
    from datamill.annotate.projects import import_records, load_dataset

    db = _session(db_url)
    try:
        p = _project(db, project)
        records, problems = load_dataset(path, fmt)
        for prob in problems[:5]:
            click.echo(f"  skipped: {prob}", err=True)
        if not records:
            raise DatamillError(f"{path}: no readable rows")
        n = import_records(db, p, records, score_field=score_field)
        db.commit()
        click.echo(f"imported {n} items into {p.name!r}")
    finally:
        db.close()


@annotate.command("export")
@click.argument("project")
@click.argument("output")
@click.option("--kind", default="sft", show_default=True,
              type=click.Choice(["sft", "preference", "kto", "ranking", "prompts"]))
@click.option("--format", "fmt", default="datamill", show_default=True,
              help="Any writer of `datamill convert --to` (datamill, trl, sharegpt, alpaca, openai, …).")
@click.option("--pairs", default="best_worst", show_default=True, type=click.Choice(["best_worst", "all"]))
@click.option("--min-annotators", default=1, show_default=True, type=click.IntRange(1))
@click.option("--aggregate", default="majority", show_default=True, type=click.Choice(["majority", "dawid-skene"]),
              help="How label and pairwise questions are resolved; dawid-skene adds each item's posterior.")
@click.option("--db", "db_url", default=None, help=DB_HELP)
@friendly_errors
def export_cmd(project, output, kind, fmt, pairs, min_annotators, aggregate, db_url):
    """Write PROJECT's accepted annotations as post-training records to OUTPUT, and how they
    were made (methods, agreement per question) to OUTPUT.meta.json.
    API twin: GET /api/projects/{id}/export?kind=…"""
    from datamill.annotate.export import write_export

    db = _session(db_url)
    try:
        p = _project(db, project)
        n = write_export(db, p, kind, output, fmt, pairs=pairs, min_annotators=min_annotators, aggregate=aggregate)
        click.echo(f"wrote {n} {kind} records to {output}")
    finally:
        db.close()


@annotate.command("status")
@click.argument("project")
@click.option("--json", "as_json", is_flag=True, help="Print the dashboard as JSON.")
@click.option("--db", "db_url", default=None, help=DB_HELP)
@friendly_errors
def status_cmd(project, as_json, db_url):
    """Progress and agreement of PROJECT. API twin: GET /api/projects/{id}/dashboard."""
    from datamill.annotate.dashboard import dashboard

    db = _session(db_url)
    try:
        d = dashboard(db, _project(db, project))
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(d, indent=2, default=str))
        return
    pg = d["progress"]
    click.echo(f"{d['project']['name']}: {pg['complete']}/{pg['items']} items complete ({pg['percent_complete']}%)")
    click.echo("  tasks: " + ", ".join(f"{k} {v}" for k, v in pg["tasks"].items()))
    for q, f in d["agreement"]["questions"].items():
        alpha = f.get("krippendorff_alpha")
        click.echo(f"  {q:<28} {f.get('level', ''):<8} alpha={'%.3f' % alpha if isinstance(alpha, float) else '-'}"
                   f" tasks={f.get('n_tasks')}")
