"""The admin's pages: users, new projects, members, dataset imports, export downloads."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.datastructures import FormData

from datamill.annotate import auth
from datamill.annotate.ids import DbId
from datamill.annotate.auth import Principal, get_db, get_write_db
from datamill.annotate.db import ROLES, AuthSession, Item, Member, User, log_event
from datamill.annotate.export import EXPORT_KINDS, export_records
from datamill.annotate.projects import create_project, import_records, load_dataset
from datamill.annotate.templates_catalog import TEMPLATES
from datamill.annotate.uploads import has_file, load_upload
from datamill.annotate.web.common import (_text, admin_form, admin_page, form_principal, read_form, redirect,
                                          render, web_principal)
from datamill.core.errors import DatamillError

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project_id}/export")
def export_download(project_id: DbId, request: Request, kind: str = "sft", format: str = "datamill",
                    pairs: Literal["best_worst", "all"] = "best_worst",
                    aggregate: Literal["majority", "dawid-skene"] = "majority",
                    p: Principal = Depends(admin_page), db: Session = Depends(get_db)):
    from datamill.post.formats import FORMATS, write_records

    pr = auth.project_for(db, p.user, project_id)
    if kind not in EXPORT_KINDS:
        raise HTTPException(400, f"kind: one of {', '.join(EXPORT_KINDS)}")
    if kind != "prompts" and format not in FORMATS:
        raise HTTPException(400, f"format: one of {', '.join(sorted(FORMATS))}")
    records = export_records(db, pr, kind, pairs=pairs, aggregate=aggregate)
    tmp = tempfile.mkdtemp(prefix="dm-export-")
    name = f"project{pr.id}-{kind}.jsonl"
    path = os.path.join(tmp, name)
    if kind == "prompts":
        with open(path, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    else:
        write_records(records, path, format)

    def cleanup() -> None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)

    return FileResponse(path, media_type="application/x-ndjson", filename=name, background=BackgroundTask(cleanup))


# ---------------------------------------------------------------------------------------------
# admin


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, p: Principal = Depends(admin_page), db: Session = Depends(get_db)):
    return render(request, "admin_users.html", me=p, users=list(db.scalars(select(User).order_by(User.id))),
                  roles=ROLES)


@router.post("/admin/users", response_class=HTMLResponse)
def users_create(request: Request, pf=Depends(admin_form), db: Session = Depends(get_write_db)):
    p, form = pf
    try:
        auth.create_user(db, _text(form, "username", 64), _text(form, "password", 1024),
                         _text(form, "role", 16) or "annotator", hasher=request.app.state.settings.hasher)
        db.commit()
    except DatamillError as exc:
        db.rollback()
        return render(request, "admin_users.html", status=400, me=p, roles=ROLES, error=str(exc),
                      users=list(db.scalars(select(User).order_by(User.id))))
    return redirect("/admin/users", msg="created")


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def users_update(user_id: DbId, request: Request, pf=Depends(admin_form), db: Session = Depends(get_write_db)):
    p, form = pf
    u = db.get(User, user_id)
    if u is None:
        raise HTTPException(404, "no such user")
    role = _text(form, "role", 16)
    active = form.get("active") == "on"
    password = _text(form, "password", 1024)
    error = None
    if u.id == p.user.id and (not active or (role and role != "admin")):
        error = "You cannot demote or deactivate yourself."
    elif role and role not in ROLES:
        error = f"role {role!r}: choose one of {', '.join(ROLES)}"
    if error is None:
        try:
            if role:
                auth.set_role(db, u, role)
            if u.active and not active:
                db.execute(delete(AuthSession).where(AuthSession.user_id == u.id))
            u.active = active
            if password:
                auth.set_password(db, u, password, request.app.state.settings.hasher)
            log_event(db, "update_user", user_id=p.user.id, target=u.id)
            db.commit()
        except DatamillError as exc:
            db.rollback()
            error = str(exc)
    if error:
        return render(request, "admin_users.html", status=400, me=p, roles=ROLES, error=error,
                      users=list(db.scalars(select(User).order_by(User.id))))
    return redirect("/admin/users", msg="saved")


def _new_project_page(request: Request, p: Principal, db: Session, *, error=None, values=None, status=200):
    users = list(db.scalars(select(User).where(User.active.is_(True)).order_by(User.username)))
    return render(request, "admin_project_new.html", status=status, me=p, error=error, values=values or {},
                  templates_list=[(n, t["title"]) for n, t in TEMPLATES.items()], users=users)


@router.get("/admin/projects/new", response_class=HTMLResponse)
def project_new_page(request: Request, p: Principal = Depends(admin_page), db: Session = Depends(get_db)):
    return _new_project_page(request, p, db)


def _names(form: FormData, key: str) -> list[str]:
    out: list[str] = []
    for v in form.getlist(key):
        if isinstance(v, str):
            out += [x.strip() for x in v.replace("\n", ",").split(",") if x.strip()]
    return out


def _int_field(form: FormData, key: str, default: int) -> int:
    v = form.get(key)
    if not isinstance(v, str) or not v.strip():
        return default
    try:
        return int(v.strip())
    except ValueError:
        raise DatamillError(f"{key}: expected a whole number") from None


def _server_path(request: Request, path: str) -> str:
    from datamill.annotate.api.common import _check_server_path

    return _check_server_path(request, path)


@router.post("/admin/projects", response_class=HTMLResponse)
async def project_create(request: Request, form: FormData = Depends(read_form)):
    """Create a project from an uploaded file or a server-side path (async only to read the
    upload; the database work runs in a worker thread)."""
    from starlette.concurrency import run_in_threadpool

    upload = form.get("file") if has_file(form.get("file")) else None
    return await run_in_threadpool(_project_create_sync, request, form, upload)


def _admin_of_form(request: Request, form: FormData) -> Principal:
    """Login, CSRF and admin checks for the async upload routes (on a read session, so that
    reading a big upload never holds the write lock)."""
    rdb = request.app.state.sessionmaker()
    try:
        p = web_principal(request, rdb)
        form_principal(request, form, p)
    finally:
        rdb.close()
    if not p.is_admin:
        raise HTTPException(403, "admins only")
    return p


def _project_create_sync(request: Request, form: FormData, upload) -> Response:
    p = _admin_of_form(request, form)
    db = request.app.state.writer()
    try:
        values = {k: form.get(k) for k in ("name", "description", "template", "schema_json", "labels", "criteria",
                                           "overlap", "review_rounds", "lock_minutes", "score_field", "server_path",
                                           "annotators", "reviewers", "format")
                  if isinstance(form.get(k), str)}
        values["active_learning"] = form.get("active_learning") == "on"
        try:
            schema = None
            schema_text = _text(form, "schema_json", 100_000).strip()
            if schema_text:
                try:
                    schema = json.loads(schema_text)
                except json.JSONDecodeError as exc:
                    raise DatamillError(f"question schema: not valid JSON ({exc.msg}, line {exc.lineno})") from None
            labels = [x.strip() for x in _text(form, "labels", 10_000).split(",") if x.strip()] or None
            criteria = [x.strip() for x in _text(form, "criteria", 2_000).split(",") if x.strip()] or None
            template = _text(form, "template", 64) or None
            fmt = _text(form, "format", 32) or None
            server_path = _text(form, "server_path", 4096).strip()
            if upload is not None:
                records, problems = load_upload(upload, fmt)
                source = upload.filename
            elif server_path:
                records, problems = load_dataset(_server_path(request, server_path), fmt,
                                                  roots=request.app.state.settings.data_roots)
                source = server_path
            else:
                records, problems, source = [], [], ""
            pr = create_project(db, _text(form, "name", 200), template=template, schema=schema,
                                overlap=_int_field(form, "overlap", 1), review_rounds=_int_field(form, "review_rounds", 1),
                                lock_seconds=60 * _int_field(form, "lock_minutes", 30),
                                active_learning=values["active_learning"],
                                description=_text(form, "description"), created_by=p.user, labels=labels,
                                criteria=criteria)
            pr.source = source
            for name in _names(form, "annotators"):
                u = db.scalar(select(User).where(User.username == name))
                if u is None:
                    raise DatamillError(f"no user {name!r}")
                auth.add_member(db, pr, u, "annotator")
            for name in _names(form, "reviewers"):
                u = db.scalar(select(User).where(User.username == name))
                if u is None:
                    raise DatamillError(f"no user {name!r}")
                auth.add_member(db, pr, u, "reviewer")
            if records:
                import_records(db, pr, records, score_field=_text(form, "score_field", 200) or None, user=p.user)
            elif source:
                raise DatamillError("the dataset holds no readable rows" + (f": {problems[0]}" if problems else ""))
            db.commit()
        except DatamillError as exc:
            db.rollback()
            return _new_project_page(request, p, db, error=str(exc), values=values, status=400)
        except HTTPException:
            raise
        return redirect(f"/admin/projects/{pr.id}", msg="created")
    finally:
        db.close()


@router.get("/admin/projects/{project_id}", response_class=HTMLResponse)
def project_admin_page(project_id: DbId, request: Request, p: Principal = Depends(admin_page),
                       db: Session = Depends(get_db), error: str | None = None, status: int = 200):
    pr = auth.project_for(db, p.user, project_id)
    members = db.execute(select(User, Member.role).join(Member, Member.user_id == User.id)
                         .where(Member.project_id == pr.id).order_by(User.username)).all()
    n_items = db.scalar(select(func.count()).select_from(Item).where(Item.project_id == pr.id))
    return render(request, "admin_project.html", status=status, me=p, project=pr, members=members, n_items=n_items,
                  users=list(db.scalars(select(User).where(User.active.is_(True)).order_by(User.username))),
                  error=error, export_kinds=EXPORT_KINDS,
                  schema_json=json.dumps(pr.question_schema, indent=2, ensure_ascii=False))


@router.post("/admin/projects/{project_id}/members", response_class=HTMLResponse)
def project_members(project_id: DbId, request: Request, pf=Depends(admin_form), db: Session = Depends(get_write_db)):
    p, form = pf
    pr = auth.project_for(db, p.user, project_id)
    action = form.get("action") or "add"
    try:
        u = db.scalar(select(User).where(User.username == _text(form, "username", 64)))
        if u is None:
            raise DatamillError("no such user")
        role = _text(form, "role", 16)
        if action == "remove":
            revoked = auth.remove_member(db, pr, u, role or None)
            log_event(db, "remove_member", user_id=p.user.id, project_id=pr.id, target=u.id, role=role,
                      revoked=revoked)
        else:
            auth.add_member(db, pr, u, role)
        db.commit()
    except DatamillError as exc:
        db.rollback()
        return project_admin_page(project_id, request, p, db, error=str(exc), status=400)
    return redirect(f"/admin/projects/{pr.id}", msg="saved")


@router.post("/admin/projects/{project_id}/import", response_class=HTMLResponse)
async def project_import(project_id: DbId, request: Request, form: FormData = Depends(read_form)):
    from starlette.concurrency import run_in_threadpool

    upload = form.get("file") if has_file(form.get("file")) else None
    return await run_in_threadpool(_project_import_sync, request, project_id, form, upload)


def _project_import_sync(request: Request, project_id: DbId, form: FormData, upload) -> Response:
    p = _admin_of_form(request, form)
    db = request.app.state.writer()
    try:
        pr = auth.project_for(db, p.user, project_id)
        try:
            fmt = _text(form, "format", 32) or None
            server_path = _text(form, "server_path", 4096).strip()
            if upload is not None:
                records, problems = load_upload(upload, fmt)
            elif server_path:
                records, problems = load_dataset(_server_path(request, server_path), fmt,
                                                  roots=request.app.state.settings.data_roots)
            else:
                raise DatamillError("choose a file or give a server path")
            if not records:
                raise DatamillError("the dataset holds no readable rows" + (f": {problems[0]}" if problems else ""))
            import_records(db, pr, records, score_field=_text(form, "score_field", 200) or None, user=p.user)
            db.commit()
        except DatamillError as exc:
            db.rollback()
            return project_admin_page(project_id, request, p, db, error=str(exc), status=400)
        return redirect(f"/admin/projects/{pr.id}", msg="imported")
    finally:
        db.close()
