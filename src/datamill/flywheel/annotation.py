"""The flywheel's side of the annotation app, through the app's Python API
(:mod:`datamill.annotate.db`, ``.projects``, ``.export``): uncertain items become a project; a
project's export comes back as the next round's labels."""

from __future__ import annotations

from typing import Any

from datamill.core.errors import DatamillError

TEMPLATE = "write_better_answer"  # rate the answer (1-5), rewrite it if it is wrong


def send_to_annotation(records: list[dict[str, Any]], project: str, db_url: str | None = None, *,
                       description: str = "", review_rounds: int = 1) -> dict[str, Any]:
    """Create ``project`` (or add to it) with ``records`` as items; returns its id and counts."""
    from sqlalchemy import select

    from datamill.annotate.db import Project, make_engine, make_sessionmaker
    from datamill.annotate.projects import create_project, import_records

    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine, write=True)() as db:
            proj = db.scalar(select(Project).where(Project.name == project))
            created = proj is None
            if created:
                proj = create_project(db, project, template=TEMPLATE, review_rounds=review_rounds,
                                      description=description or
                                      "Uncertain answers from production logs (datamill flywheel): rate each "
                                      "answer and rewrite it when it is wrong.")
            n = import_records(db, proj, records)
            db.commit()
            return {"project": proj.name, "project_id": proj.id, "created": created, "items": n,
                    "template": proj.template}
    finally:
        engine.dispose()


def export_labels(project: str, db_url: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The project's accepted answers as records: rewrites as SFT, ratings as KTO labels."""
    from sqlalchemy import select

    from datamill.annotate.db import Project, make_engine, make_sessionmaker
    from datamill.annotate.export import export_records

    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as db:
            proj = db.scalar(select(Project).where(Project.name == project))
            if proj is None:
                raise DatamillError(f"annotation project {project!r} not found in {db_url or 'the default database'}")
            return {"sft": export_records(db, proj, "sft"), "kto": export_records(db, proj, "kto")}
    finally:
        engine.dispose()
