"""A project's dashboard: progress (items, tasks by status, per annotator) and agreement per
question, computed by :func:`datamill.annotate.agreement.project_agreement` from every
annotator's latest submission (reviewers' fixes are not the annotators' answers, so they are
left out of agreement).

Answers become long-format rows ``(task, annotator, question, value, level)``:
single labels and pairwise choices are nominal; a multi-label question gives one yes/no
question per option (``flags:spam``); ratings give one ordinal question per criterion, the task
being the (item, response) pair; ranks are ordinal per (item, response); free text gets
counts only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datamill.annotate.db import (ACCEPTED, Annotation, Assignment, Item, Project, SUBMITTED, User)


def agreement_rows(schema: dict[str, Any], answers: list[tuple[int, str, dict[str, Any]]]) -> list[tuple]:
    """Long-format rows for :func:`project_agreement` from ``(item_id, annotator, answer)``."""
    rows: list[tuple] = []
    for item_id, user, answer in answers:
        for q in schema["questions"]:
            qid, t, v = q["id"], q["type"], answer.get(q["id"])
            if v is None:
                continue
            if t == "labels" and q["multi"]:
                chosen = set(v if isinstance(v, list) else [v])
                rows += [(item_id, user, f"{qid}:{o}", int(o in chosen), "nominal") for o in q["options"]]
            elif t in ("labels", "pairwise"):
                rows.append((item_id, user, qid, v, "nominal"))
            elif t == "ratings":
                targets = v if isinstance(v, list) else [v]
                for ti, d in enumerate(targets):
                    task = f"{item_id}:{ti}" if isinstance(v, list) else item_id
                    for c, r in (d or {}).items():
                        rows.append((task, user, f"{qid}.{c}", r, "ordinal"))
            elif t == "ranking" and isinstance(v, list):
                rows += [(f"{item_id}:{i}", user, qid, r, "ordinal") for i, r in enumerate(v)]
            elif t in ("rewrite", "prompt"):
                rows.append((item_id, user, qid, "written" if str(v).strip() else None, "text"))
    return [r for r in rows if r[3] is not None]


def latest_answers(db: Session, project: Project) -> list[tuple[int, str, dict[str, Any]]]:
    """``(item_id, annotator, answer)`` of each assignment's latest submission that is submitted
    or accepted."""
    users = {u.id: u.username for u in db.scalars(select(User))}
    latest = (select(Annotation.assignment_id, func.max(Annotation.round).label("r"))
              .group_by(Annotation.assignment_id).subquery())
    q = (select(Annotation.item_id, Annotation.user_id, Annotation.answer)
         .join(latest, (latest.c.assignment_id == Annotation.assignment_id) & (latest.c.r == Annotation.round))
         .join(Assignment, Assignment.id == Annotation.assignment_id)
         .where(Assignment.project_id == project.id, Assignment.status.in_((SUBMITTED, ACCEPTED))))
    return [(i, users.get(u, f"#{u}"), a) for i, u, a in db.execute(q).all()]


def compute_agreement(schema: dict[str, Any], answers: list[tuple[int, str, dict[str, Any]]]) -> dict[str, Any]:
    """``{"questions": {question: figures}, "error": str|None}``; figures from
    :func:`datamill.annotate.agreement.project_agreement` (the hook: if that module is missing
    the figures are empty and ``error`` says why)."""
    rows = agreement_rows(schema, answers)
    if not rows:
        return {"questions": {}, "error": None}
    try:
        from datamill.annotate.agreement import project_agreement
    except ImportError as exc:  # pragma: no cover - the module ships with datamill
        return {"questions": {}, "error": f"agreement module unavailable: {exc}"}
    try:
        figures = project_agreement(rows)
    except Exception as exc:  # a metric failing must not take the dashboard down
        return {"questions": {}, "error": f"{type(exc).__name__}: {exc}"}
    return {"questions": {str(k): v for k, v in figures.items()}, "error": None}


def progress(db: Session, project: Project) -> dict[str, Any]:
    n_items = db.scalar(select(func.count()).select_from(Item).where(Item.project_id == project.id)) or 0
    by_status = Counter(dict(db.execute(select(Assignment.status, func.count())
                                        .where(Assignment.project_id == project.id)
                                        .group_by(Assignment.status)).all()))
    accepted_per_item = dict(db.execute(select(Assignment.item_id, func.count())
                                        .where(Assignment.project_id == project.id, Assignment.status == ACCEPTED)
                                        .group_by(Assignment.item_id)).all())
    complete = sum(1 for c in accepted_per_item.values() if c >= project.overlap)
    per_user: dict[str, Counter] = defaultdict(Counter)
    users = {u.id: u.username for u in db.scalars(select(User))}
    for uid, status, c in db.execute(select(Assignment.user_id, Assignment.status, func.count())
                                     .where(Assignment.project_id == project.id)
                                     .group_by(Assignment.user_id, Assignment.status)).all():
        per_user[users.get(uid, f"#{uid}")][status] = c
    return {"items": n_items, "complete": complete,
            "percent_complete": round(100.0 * complete / n_items, 1) if n_items else 0.0,
            "needed": n_items * project.overlap,
            "tasks": {s: by_status.get(s, 0) for s in ("locked", "submitted", "rework", "accepted", "rejected",
                                                      "skipped", "expired")},
            "annotators": {u: dict(c) for u, c in sorted(per_user.items())}}


def dashboard(db: Session, project: Project) -> dict[str, Any]:
    return {"project": {"id": project.id, "name": project.name, "overlap": project.overlap,
                        "review_rounds": project.review_rounds},
            "progress": progress(db, project),
            "agreement": compute_agreement(project.question_schema, latest_answers(db, project))}
