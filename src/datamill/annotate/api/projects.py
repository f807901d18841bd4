"""Templates, projects, members, dataset imports, items, dashboards and exports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from sqlalchemy import select
from sqlalchemy.orm import Session

from datamill.annotate import auth, distribution
from datamill.annotate.api.common import (ImportIn, MemberIn, ProjectIn, _check_server_path, _user_by_name,
                                          api_admin, api_principal, project_json)
from datamill.annotate.auth import Principal, get_db, get_write_db
from datamill.annotate.dashboard import dashboard as dashboard_data
from datamill.annotate.db import Item, User, log_event
from datamill.annotate.export import EXPORT_KINDS, export_metadata, export_records
from datamill.annotate.ids import MAX_ID, DbId
from datamill.annotate.projects import check_format, create_project, import_records, load_dataset
from datamill.annotate.templates_catalog import catalog
from datamill.annotate.uploads import load_upload

router = APIRouter(prefix="/api")


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
