"""The JSON API (``/api/...``), documented by the app's OpenAPI spec (``/openapi.json``,
``/docs``).

Authenticate with ``POST /api/auth/login`` (``{"username", "password"}``): the reply holds a
``token`` for ``Authorization: Bearer <token>`` and also sets the session cookie; cookie-based
calls that change something must send the session's ``csrf_token`` as ``X-CSRF-Token``.
Errors are ``{"detail": ...}`` with 400 (bad input), 401 (not logged in), 403 (not allowed,
CSRF), 404 (no such object, or not yours), 409 (state changed: already submitted, reviewed…),
413 (payload too large), 422 (malformed JSON or an answer that does not fit the schema).
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from datamill.annotate import auth, distribution, logins, review as review_mod
from datamill.annotate.auth import Principal, get_db, get_write_db
from datamill.annotate.ids import MAX_ID, DbId
from datamill.annotate.dashboard import dashboard as dashboard_data
from datamill.annotate.db import Assignment, Item, Member, Project, User, log_event
from datamill.annotate.export import EXPORT_KINDS, export_metadata, export_records
from datamill.annotate.projects import (OutsideDataRoot, check_format, create_project, import_records,
                                       inside_roots, load_dataset)
from datamill.annotate.templates_catalog import catalog
from datamill.annotate.uploads import load_upload

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


# ---------------------------------------------------------------------------------------------
# routes

router = APIRouter(prefix="/api")


@router.post("/auth/login", tags=["auth"], responses={429: {"description": "too many failed logins: wait "
                                                                       "`Retry-After` seconds"}})
async def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
    """Log in; returns ``token`` (Bearer), ``csrf_token`` and ``expires_at``, and sets the session cookie.
    Failed logins are throttled per address and per user name (429 with ``Retry-After``)."""
    res = await logins.login(request, body.username, body.password)
    if res is None:
        raise HTTPException(401, "wrong user name or password")
    set_session_cookie(response, res.token, request.app.state.settings)
    return {"token": res.token, "csrf_token": res.csrf_token, "expires_at": res.expires_at, "user": res.user}


def set_session_cookie(response: Response, token: str, settings) -> None:
    response.set_cookie(auth.SESSION_COOKIE, token, max_age=settings.session_ttl, httponly=True, samesite="lax",
                        secure=settings.cookie_secure, path="/")


@router.post("/auth/logout", tags=["auth"])
def logout(request: Request, response: Response, p: Principal = Depends(api_principal),
           db: Session = Depends(get_write_db)) -> dict[str, Any]:
    """End this session (the token stops working at once)."""
    token, _ = auth.request_token(request)
    auth.end_session(db, token)
    log_event(db, "logout", user_id=p.user.id)
    db.commit()
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/me", tags=["auth"])
def me(p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """The logged-in user, and the session's CSRF token and expiry."""
    return {"user": user_json(p.user), "csrf_token": p.session.csrf_token,
            "expires_at": p.session.expires_at.isoformat()}


# users (admin)

@router.get("/users", tags=["users"])
def list_users(p: Principal = Depends(api_admin), db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    return [user_json(u) for u in db.scalars(select(User).order_by(User.id))]


@router.post("/users", status_code=201, tags=["users"])
def create_user(body: UserIn, request: Request, p: Principal = Depends(api_admin),
                db: Session = Depends(get_write_db)) -> dict[str, Any]:
    u = auth.create_user(db, body.username, body.password, body.role, hasher=request.app.state.settings.hasher)
    db.commit()
    return user_json(u)


@router.patch("/users/{user_id}", tags=["users"])
def update_user(user_id: DbId, body: UserPatch, request: Request, p: Principal = Depends(api_admin),
                db: Session = Depends(get_write_db)) -> dict[str, Any]:
    u = db.get(User, user_id)
    if u is None:
        raise HTTPException(404, "no such user")
    if u.id == p.user.id and (body.active is False or (body.role and body.role != "admin")):
        raise HTTPException(400, "you cannot demote or deactivate yourself")
    if body.role is not None:
        auth.set_role(db, u, body.role)
    if body.active is not None:
        u.active = body.active
        if not body.active:
            from sqlalchemy import delete
            from datamill.annotate.db import AuthSession
            db.execute(delete(AuthSession).where(AuthSession.user_id == u.id))
    if body.password is not None:
        auth.set_password(db, u, body.password, request.app.state.settings.hasher)
    log_event(db, "update_user", user_id=p.user.id, target=u.id)
    db.commit()
    return user_json(u)


# templates and projects

@router.get("/templates", tags=["projects"])
def templates(p: Principal = Depends(api_principal)) -> list[dict[str, Any]]:
    """The ready question templates and their schemas."""
    return catalog()


@router.get("/projects", tags=["projects"])
def list_projects(p: Principal = Depends(api_principal), db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    """Projects the user belongs to (all for admins)."""
    return [project_json(pr) for pr in auth.visible_projects(db, p.user)]


@router.post("/projects", status_code=201, tags=["projects"])
def new_project(body: ProjectIn, p: Principal = Depends(api_admin), db: Session = Depends(get_write_db)) -> dict[str, Any]:
    pr = create_project(db, body.name, template=body.template, schema=body.question_schema, overlap=body.overlap,
                        review_rounds=body.review_rounds, lock_seconds=body.lock_seconds,
                        active_learning=body.active_learning, description=body.description, created_by=p.user,
                        labels=body.labels, criteria=body.criteria, scale=body.scale)
    for name in body.annotators:
        auth.add_member(db, pr, _user_by_name(db, name), "annotator")
    for name in body.reviewers:
        auth.add_member(db, pr, _user_by_name(db, name), "reviewer")
    db.commit()
    return project_json(pr, db, full=True)


@router.get("/projects/{project_id}", tags=["projects"])
def get_project(project_id: DbId, p: Principal = Depends(api_principal), db: Session = Depends(get_db)) -> dict[str, Any]:
    pr = auth.project_for(db, p.user, project_id)
    out = project_json(pr, db if (p.is_admin or "reviewer" in auth.memberships(db, p.user, pr.id)) else None,
                       full=True)
    out["my_roles"] = sorted(auth.memberships(db, p.user, pr.id)) + (["admin"] if p.is_admin else [])
    out["remaining_for_me"] = distribution.remaining(db, pr, p.user)
    return out


@router.post("/projects/{project_id}/members", status_code=201, tags=["projects"])
def add_member(project_id: DbId, body: MemberIn, p: Principal = Depends(api_admin),
               db: Session = Depends(get_write_db)) -> dict[str, Any]:
    pr = auth.project_for(db, p.user, project_id)
    auth.add_member(db, pr, _user_by_name(db, body.username), body.role)
    db.commit()
    return project_json(pr, db)


@router.delete("/projects/{project_id}/members/{username}", tags=["projects"])
def remove_member(project_id: DbId, username: str, role: Literal["annotator", "reviewer"] | None = None,
                  p: Principal = Depends(api_admin), db: Session = Depends(get_write_db)) -> dict[str, Any]:
    pr = auth.project_for(db, p.user, project_id)
    u = _user_by_name(db, username)
    revoked = auth.remove_member(db, pr, u, role)
    log_event(db, "remove_member", user_id=p.user.id, project_id=pr.id, target=u.id, role=role, revoked=revoked)
    db.commit()
    return project_json(pr, db)


def _check_server_path(request: Request, path: str) -> str:
    """``path`` resolved and inside the app's data roots (403 otherwise), and existing (400)."""
    try:
        real = inside_roots(path, request.app.state.settings.data_roots)
    except OutsideDataRoot as exc:
        raise HTTPException(403, str(exc)) from None
    if not os.path.exists(real):
        raise HTTPException(400, f"no such file or folder: {path}")
    return real


@router.post("/projects/{project_id}/items", status_code=201, tags=["projects"])
def import_items(project_id: DbId, body: ImportIn, request: Request, p: Principal = Depends(api_admin),
                 db: Session = Depends(get_write_db)) -> dict[str, Any]:
    """Import records given inline (``records``) or read from a server-side ``path``."""
    pr = auth.project_for(db, p.user, project_id)
    problems: list[str] = []
    check_format(body.format)
    if (body.records is None) == (body.path is None):
        raise HTTPException(400, "give either records or path")
    if body.path is not None:
        records, problems = load_dataset(_check_server_path(request, body.path), body.format,
                                          roots=request.app.state.settings.data_roots)
    else:
        records = body.records or []
    n = import_records(db, pr, records, score_field=body.score_field, user=p.user)
    db.commit()
    return {"imported": n, "problems": problems}


@router.post("/projects/{project_id}/upload", status_code=201, tags=["projects"])
async def upload_items(project_id: DbId, request: Request, file: UploadFile = File(...),
                       score_field: str | None = Form(default=None), format: str | None = Form(default=None),
                       p: Principal = Depends(api_admin)) -> dict[str, Any]:
    """Import an uploaded dataset file (multipart ``file``)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_import_upload, request.app, p.user.id, project_id, file, format, score_field)


def _import_upload(app, user_id: DbId, project_id: DbId, file: UploadFile, fmt: str | None,
                   score_field: str | None) -> dict[str, Any]:
    records, problems = load_upload(file, fmt)
    db = app.state.writer()
    try:
        user = db.get(User, user_id)
        pr = auth.project_for(db, user, project_id)
        n = import_records(db, pr, records, score_field=score_field, user=user)
        db.commit()
    finally:
        db.close()
    return {"imported": n, "problems": problems}


@router.get("/projects/{project_id}/items", tags=["projects"])
def list_items(project_id: DbId, offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0, limit: int = 100, p: Principal = Depends(api_principal),
               db: Session = Depends(get_db)) -> dict[str, Any]:
    """Items with their progress (admins and the project's reviewers)."""
    pr = auth.project_for(db, p.user, project_id, need="reviewer")
    limit = max(1, min(limit, 1000))
    rows = db.scalars(select(Item).where(Item.project_id == pr.id).order_by(Item.position)
                      .offset(max(0, offset)).limit(limit))
    return {"items": [{"id": i.id, "external_id": i.external_id, "kind": i.view.get("kind"), "score": i.score,
                       "uncertainty": i.uncertainty, "taken": i.taken} for i in rows]}


@router.get("/projects/{project_id}/dashboard", tags=["projects"])
def dashboard(project_id: DbId, p: Principal = Depends(api_principal), db: Session = Depends(get_db)) -> dict[str, Any]:
    """Progress and agreement per question (admins and the project's reviewers)."""
    pr = auth.project_for(db, p.user, project_id, need="reviewer")
    return dashboard_data(db, pr)


@router.get("/projects/{project_id}/export", tags=["projects"])
def export(project_id: DbId, kind: str = "sft", pairs: Literal["best_worst", "all"] = "best_worst",
           min_annotators: Annotated[int, Query(ge=1, le=1000)] = 1,
           aggregate: Literal["majority", "dawid-skene"] = "majority",
           p: Principal = Depends(api_admin), db: Session = Depends(get_db)) -> dict[str, Any]:
    """Accepted annotations as datamill post records (``kind``: sft, preference, kto, ranking,
    prompts). ``aggregate``: how label and pairwise questions are resolved (``majority`` or
    ``dawid-skene``, with per-item posterior confidence in each record's metadata).
    ``metadata``: the methods used and agreement per question."""
    pr = auth.project_for(db, p.user, project_id)
    if kind not in EXPORT_KINDS:
        raise HTTPException(400, f"kind: one of {', '.join(EXPORT_KINDS)}")
    recs = export_records(db, pr, kind, pairs=pairs, min_annotators=min_annotators, aggregate=aggregate)
    meta = export_metadata(db, pr, kind, pairs=pairs, aggregate=aggregate, count=len(recs))
    return {"kind": kind, "count": len(recs), "records": recs, "metadata": meta}


# tasks (annotators)

@router.post("/projects/{project_id}/next", tags=["tasks"])
def next_task(project_id: DbId, request: Request, p: Principal = Depends(api_principal),
              db: Session = Depends(get_db)) -> dict[str, Any]:
    """Lock and return the next task for me (my live lock or rework first); ``{"task": null}`` when
    nothing is left."""
    pr = auth.project_for(db, p.user, project_id, need="annotator")
    user = p.user

    def go(s: Session):
        a = distribution.next_task(s, user, pr)
        return a.id if a else None

    aid = distribution.with_retry(request.app.state.writer, go)
    if aid is None:
        return {"task": None}
    db.rollback()  # end the read snapshot: see what the writer committed
    return {"task": task_json(db, db.get(Assignment, aid), project=pr)}


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
def submit(task_id: DbId, body: SubmitIn, request: Request, p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """Submit my answer. The same answer twice is stored once (``duplicate: true``); a different
    answer to a task already submitted is 409."""
    user = p.user

    def go(s: Session):
        ann, dup = distribution.submit(s, user, task_id, body.answer, expected_version=body.version)
        a = s.get(Assignment, task_id)
        return {"annotation_id": ann.id, "round": ann.round, "status": a.status, "duplicate": dup}

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
