"""Annotators' tasks (next, submit, skip, history) and reviews."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from datamill.annotate import auth, distribution, review as review_mod
from datamill.annotate.api.common import ReviewIn, SubmitIn, api_principal, task_json
from datamill.annotate.auth import Principal, get_db
from datamill.annotate.db import Assignment, User
from datamill.annotate.ids import MAX_ID, DbId

router = APIRouter(prefix="/api")


# tasks (annotators)

@router.post("/projects/{project_id}/next", tags=["tasks"])
def next_task(project_id: DbId, request: Request, p: Principal = Depends(api_principal),
              db: Session = Depends(get_db)) -> dict[str, Any]:
    """Lock and return the next task for me (my live lock or rework first); ``{"task": null}`` when
    nothing is left."""
    pr = auth.project_for(db, p.user, project_id, need="annotator")
    user = p.user
    # PostgreSQL: one statement on this request's connection (autocommit), no transaction
    a = distribution.retry_statement(db, lambda: distribution.quick_next_task(db, user, pr))
    if a is not None:
        return {"task": task_json(db, a, project=pr)}

    def go(s: Session):  # the task's JSON is built in the same transaction: no second read
        a = distribution.next_task(s, user, pr, quick=False)
        return task_json(s, a, project=pr) if a else None

    return {"task": distribution.with_retry(request.app.state.writer, go)}


@router.get("/tasks", tags=["tasks"])
def my_tasks(project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None, p: Principal = Depends(api_principal),
             db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    """My tasks (only mine), newest first."""
    return [{"id": a.id, "project_id": a.project_id, "status": a.status, "round": a.round,
             "item_external_id": a.item.external_id, "updated_at": a.updated_at.isoformat()}
            for a in distribution.my_tasks(db, p.user, project_id)]


@router.get("/tasks/{task_id}", tags=["tasks"])
def get_task(task_id: DbId, p: Principal = Depends(api_principal), db: Session = Depends(get_db)) -> dict[str, Any]:
    a = distribution.get_assignment(db, p.user, task_id)
    return task_json(db, a)


@router.post("/tasks/{task_id}/submit", tags=["tasks"])
def submit(task_id: DbId, body: SubmitIn, request: Request, p: Principal = Depends(api_principal),
           db: Session = Depends(get_db)) -> dict[str, Any]:
    """Submit my answer. The same answer twice is stored once (``duplicate: true``); a different
    answer to a task already submitted is 409."""
    user = p.user

    def go(s: Session):
        ann, dup, a = distribution.submit_task(s, user, task_id, body.answer, expected_version=body.version)
        return {"annotation_id": ann.id, "round": ann.round, "status": a.status, "duplicate": dup}

    if distribution.one_statement_writes(db):  # PostgreSQL: on this request's connection, autocommit
        return distribution.retry_statement(db, lambda: go(db))
    return distribution.with_retry(request.app.state.writer, go)


@router.post("/tasks/{task_id}/skip", tags=["tasks"])
def skip(task_id: DbId, request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Pass on a task for good (it is not shown to me again)."""
    uid = p.user.id

    def go(s: Session):
        a = distribution.skip(s, s.get(User, uid), task_id)
        return {"id": a.id, "status": a.status}

    return distribution.with_retry(request.app.state.writer, go)


# reviews

@router.get("/projects/{project_id}/reviews", tags=["reviews"])
def review_queue(project_id: DbId, p: Principal = Depends(api_principal),
                 db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    """Submitted tasks waiting for review (reviewers of the project and admins)."""
    pr = auth.project_for(db, p.user, project_id, need="reviewer")
    return [{"id": a.id, "annotator": a.user.username, "round": a.round, "item_external_id": a.item.external_id,
             "submitted_at": a.updated_at.isoformat()} for a in review_mod.review_queue(db, p.user, pr)]


@router.get("/reviews/{task_id}", tags=["reviews"])
def get_review(task_id: DbId, p: Principal = Depends(api_principal), db: Session = Depends(get_db)) -> dict[str, Any]:
    """A task as its reviewer sees it: the latest answer and the full history."""
    a = review_mod.reviewable(db, p.user, task_id)
    return task_json(db, a, for_reviewer=True)


@router.post("/reviews/{task_id}", tags=["reviews"])
def decide(task_id: DbId, body: ReviewIn, request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Accept, fix (with ``answer``) or reject (with ``comment``) the latest submission."""
    uid = p.user.id

    def go(s: Session):
        rev = review_mod.decide(s, s.get(User, uid), task_id, body.decision, comment=body.comment,
                                fixed_answer=body.answer, expected_round=body.round)
        a = s.get(Assignment, task_id)
        return {"review_id": rev.id, "decision": rev.decision, "round": rev.round, "status": a.status}

    return distribution.with_retry(request.app.state.writer, go)


@router.get("/tasks/{task_id}/history", tags=["tasks"])
def task_history(task_id: DbId, p: Principal = Depends(api_principal), db: Session = Depends(get_db)) -> list[dict]:
    """Every submission and review of one of my tasks (reviewers: of a task they review)."""
    a = db.get(Assignment, task_id)
    if a is not None and a.user_id == p.user.id:
        a = distribution.get_assignment(db, p.user, task_id)  # still a member of the project
        return review_mod.history(db, a.id)
    a = review_mod.reviewable(db, p.user, task_id)
    return review_mod.history(db, a.id)
