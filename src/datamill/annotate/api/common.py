"""Shared by the API modules: the logged-in user of a request (with its CSRF check for cookie
sessions), request bodies, response shapes."""

from __future__ import annotations

import os
from typing import Any, Literal

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from datamill.annotate import auth, distribution, review as review_mod
from datamill.annotate.auth import Principal, get_db
from datamill.annotate.db import Assignment, Member, Project, User
from datamill.annotate.projects import OutsideDataRoot, inside_roots

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def api_principal(request: Request, db: Session = Depends(get_db)) -> Principal:
    p = auth.principal_for(request, db)
    if p is None:
        raise HTTPException(401, "login required", headers={"WWW-Authenticate": "Bearer"})
    if request.method not in SAFE_METHODS and p.via == "cookie":
        if not auth.same_secret(request.headers.get(auth.CSRF_HEADER), p.session.csrf_token):
            raise HTTPException(403, "missing or wrong CSRF token (send X-CSRF-Token)")
    return p


def api_admin(p: Principal = Depends(api_principal)) -> Principal:
    if not p.is_admin:
        raise HTTPException(403, "admins only")
    return p


# ---------------------------------------------------------------------------------------------
# bodies

Text64 = Field(min_length=1, max_length=64)


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["admin", "reviewer", "annotator"] = "annotator"


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "reviewer", "annotator"] | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    template: str | None = Field(default=None, max_length=64)
    question_schema: dict[str, Any] | None = Field(default=None, description="a question schema; wins over template")
    overlap: int = Field(default=1, ge=1, le=50)
    review_rounds: int = Field(default=1, ge=0, le=20)
    lock_seconds: int = Field(default=1800, ge=30, le=7 * 86400)
    active_learning: bool = True
    description: str = Field(default="", max_length=20_000)
    labels: list[str] | None = None
    criteria: list[str] | None = None
    scale: list[int] | None = None
    annotators: list[str] = Field(default_factory=list, max_length=1000)
    reviewers: list[str] = Field(default_factory=list, max_length=1000)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    role: Literal["annotator", "reviewer"]


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, Any]] | None = Field(default=None, description="datamill post records or "
                                                 "{text}/{prompt} rows")
    path: str | None = Field(default=None, max_length=4096, description="a dataset file or folder on the server")
    format: str | None = Field(default=None, max_length=32)
    score_field: str | None = Field(default=None, max_length=200)


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: dict[str, Any]
    version: int | None = Field(default=None, description="the task version you saw (stale submissions are refused)")


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "fix", "reject"]
    comment: str = Field(default="", max_length=20_000)
    answer: dict[str, Any] | None = Field(default=None, description="the fixed answer (decision fix)")
    round: int | None = Field(default=None, description="the round you reviewed (stale decisions are refused)")


# ---------------------------------------------------------------------------------------------
# shapes


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "role": u.role, "active": u.active,
            "created_at": u.created_at.isoformat()}


def project_json(p: Project, db: Session | None = None, *, full: bool = False) -> dict[str, Any]:
    out = {"id": p.id, "name": p.name, "description": p.description, "template": p.template, "overlap": p.overlap,
           "review_rounds": p.review_rounds, "lock_seconds": p.lock_seconds, "active_learning": p.active_learning,
           "created_at": p.created_at.isoformat()}
    if full:
        out["question_schema"] = p.question_schema
    if db is not None:
        members = db.execute(select(User.username, Member.role).join(Member, Member.user_id == User.id)
                             .where(Member.project_id == p.id)).all()
        out["annotators"] = sorted(u for u, r in members if r == "annotator")
        out["reviewers"] = sorted(u for u, r in members if r == "reviewer")
    return out


def public_view(view: dict[str, Any]) -> dict[str, Any]:
    """The task view without where each response came from (``chosen``/``rejected`` would bias)."""
    return {"kind": view.get("kind"), "prompt": view.get("prompt") or [], "document": view.get("document"),
            "responses": [{"messages": r.get("messages") or []} for r in view.get("responses") or []]}


def task_json(db: Session, a: Assignment, *, for_reviewer: bool = False, project: Project | None = None) -> dict[str, Any]:
    project = project if project is not None else db.get(Project, a.project_id)
    out = {"id": a.id, "project_id": a.project_id, "status": a.status, "round": a.round, "version": a.version,
           "locked_until": a.locked_until.isoformat() if a.locked_until else None,
           "item": {"id": a.item_id, "external_id": a.item.external_id,
                    "view": a.item.view if for_reviewer else public_view(a.item.view)},
           "question_schema": project.question_schema}
    if a.round == 0:  # never submitted: no answer and no review to look up (a fresh task)
        out["answer"] = out["review_comment"] = None
    else:
        last = distribution.latest_annotation(db, a.id)
        out["answer"] = last.answer if last else None
        rej = review_mod.last_rejection(db, a)
        out["review_comment"] = rej.comment if rej else None
    if for_reviewer:
        out["annotator"] = a.user.username
        out["history"] = review_mod.history(db, a.id)
    return out


def _user_by_name(db: Session, name: str) -> User:
    u = db.scalar(select(User).where(User.username == name))
    if u is None:
        raise HTTPException(404, f"no user {name!r}")
    return u



def _check_server_path(request: Request, path: str) -> str:
    """``path`` resolved and inside the app's data roots (403 otherwise), and existing (400)."""
    try:
        real = inside_roots(path, request.app.state.settings.data_roots)
    except OutsideDataRoot as exc:
        raise HTTPException(403, str(exc)) from None
    if not os.path.exists(real):
        raise HTTPException(400, f"no such file or folder: {path}")
    return real
