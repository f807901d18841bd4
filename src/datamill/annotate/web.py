"""The HTML pages: server-rendered Jinja2 templates (``annotate/templates/``), plain forms, no
JavaScript. Every form that changes something carries ``csrf_token``; every control has an
``id`` and a ``data-testid`` (listed in ``docs/annotation.md``) so browser tests can drive it.

Everything shown comes through Jinja2's autoescaping: text people typed (answers, comments,
prompts, dataset content, user and project names) is displayed as text, never as markup.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.datastructures import FormData, UploadFile

from datamill.annotate import auth, distribution, review as review_mod
from datamill.annotate.auth import Principal, get_db, get_write_db
from datamill.annotate.dashboard import dashboard as dashboard_data
from datamill.annotate.db import (REWORK, ROLES, Assignment, AuthSession, Member, Project, User,
                                  log_event)
from datamill.annotate.export import EXPORT_KINDS, export_records
from datamill.annotate.projects import create_project, import_records, load_dataset
from datamill.annotate.questions import AnswerError, answer_from_form, applicable, prefill_text, rating_targets
from datamill.annotate.templates_catalog import TEMPLATES
from datamill.core.errors import DatamillError

TEMPLATE_DIR = Path(__file__).with_name("templates")
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                          undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
templates = Jinja2Templates(env=_env)

router = APIRouter(include_in_schema=False)

MESSAGES = {
    "submitted": "Answer saved.",
    "duplicate": "That answer was already saved.",
    "skipped": "Task skipped; you will not see it again.",
    "nothing_left": "No tasks left for you in this project.",
    "reviewed": "Decision saved.",
    "created": "Created.",
    "saved": "Saved.",
    "imported": "Dataset imported.",
    "logged_out": "You are logged out.",
    "expired": "Your session expired; log in again.",
}
MAX_FORM_FIELDS = 2000


# ---------------------------------------------------------------------------------------------
# plumbing


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    p: Principal | None = context.get("me")
    msg = MESSAGES.get(request.query_params.get("msg", ""))
    context.setdefault("flash", msg)
    context.setdefault("csrf", p.session.csrf_token if p else "")
    context.setdefault("user", p.user if p else None)
    return templates.TemplateResponse(request, name, context, status_code=status)


def render_error(request: Request, status: int, detail: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"status": status, "detail": detail, "user": None,
                                                              "csrf": "", "flash": None}, status_code=status)


def redirect(url: str, **params: Any) -> RedirectResponse:
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    return RedirectResponse(url, status_code=303)


def web_principal(request: Request, db: Session = Depends(get_db)) -> Principal:
    token = request.cookies.get(auth.SESSION_COOKIE)
    sess = auth.session_for_token(db, token)
    if sess is None:
        raise auth.LoginRequired()
    return Principal(sess.user, sess, "cookie")


async def read_form(request: Request) -> FormData:
    try:
        return await request.form(max_fields=MAX_FORM_FIELDS, max_files=4)
    except Exception as exc:  # multipart parse errors, too many fields
        raise HTTPException(400, f"malformed form: {type(exc).__name__}") from None


def form_principal(request: Request, form: FormData = Depends(read_form),
                   p: Principal = Depends(web_principal)) -> tuple[Principal, FormData]:
    """The logged-in user of a form post, after checking its CSRF token."""
    if not auth.same_secret(form.get("csrf_token") if isinstance(form.get("csrf_token"), str) else None,
                            p.session.csrf_token):
        raise auth.CsrfFailed()
    return p, form


def admin_form(pf: tuple[Principal, FormData] = Depends(form_principal)) -> tuple[Principal, FormData]:
    if not pf[0].is_admin:
        raise HTTPException(403, "admins only")
    return pf


def admin_page(p: Principal = Depends(web_principal)) -> Principal:
    if not p.is_admin:
        raise HTTPException(403, "admins only")
    return p


def _text(form: FormData, key: str, limit: int = 20_000) -> str:
    v = form.get(key)
    if not isinstance(v, str):
        return ""
    if len(v) > limit:
        raise DatamillError(f"{key}: at most {limit} characters")
    return v


def _login_token(secret: str, nonce: str) -> str:
    return nonce + "." + hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _login_token_ok(secret: str, token: str | None) -> bool:
    if not isinstance(token, str) or "." not in token or len(token) > 200:
        return False
    nonce = token.split(".", 1)[0]
    return hmac.compare_digest(token, _login_token(secret, nonce))


def form_values(schema: dict[str, Any], view: dict[str, Any], answer: dict[str, Any] | None) -> dict[str, Any]:
    """An answer (stored, or raw from a form) as the strings the form controls compare with."""
    out: dict[str, Any] = {}
    answer = answer or {}
    for q in schema["questions"]:
        qid, t, v = q["id"], q["type"], answer.get(q["id"])
        if t == "labels":
            out[qid] = [str(x) for x in (v if isinstance(v, list) else [v] if v is not None else [])]
        elif t == "ratings":
            targets = rating_targets(q, view)
            if isinstance(v, list):
                v = {str(i): d for i, d in enumerate(v)}
            elif isinstance(v, dict) and targets == ["item"] and not set(v) <= {"item"}:
                v = {"item": v}
            out[qid] = {tg: {c: str(d.get(c)) for c in (d or {}) if d.get(c) is not None}
                        for tg, d in ((v or {}).items() if isinstance(v, dict) else [])
                        if isinstance(d, dict)}
        elif t == "ranking":
            if isinstance(v, list):
                v = {str(i): r for i, r in enumerate(v)}
            out[qid] = {str(k): str(r) for k, r in (v or {}).items() if r is not None} if isinstance(v, dict) else {}
        elif t == "pairwise":
            out[qid] = str(v) if v is not None else ""
        else:
            out[qid] = v if isinstance(v, str) else (prefill_text(q, view) if not answer else "")
    return out


def question_context(project: Project, view: dict[str, Any]) -> list[dict[str, Any]]:
    qs = []
    for q in project.question_schema["questions"]:
        if not applicable(q, view):
            continue
        d = dict(q)
        if q["type"] == "ratings":
            d["targets"] = rating_targets(q, view)
            d["levels"] = list(range(q["scale"][0], q["scale"][1] + 1))
        if q["type"] == "ranking":
            d["n"] = len(view["responses"])
        qs.append(d)
    return qs


# ---------------------------------------------------------------------------------------------
# login


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: Session = Depends(get_db)):
    return redirect("/projects" if auth.principal_for(request, db) else "/login")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str | None = None):
    secret = request.app.state.settings.secret
    token = _login_token(secret, secrets.token_urlsafe(16))
    nxt = request.query_params.get("next") or "/projects"
    resp = templates.TemplateResponse(request, "login.html", {
        "login_csrf": token, "next": nxt if nxt.startswith("/") and not nxt.startswith("//") else "/projects",
        "error": error, "user": None, "csrf": "", "flash": MESSAGES.get(request.query_params.get("msg", ""))},
        status_code=200 if error is None else 401)
    resp.set_cookie(auth.LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
                    secure=request.app.state.settings.cookie_secure, path="/")
    return resp


@router.post("/login", response_class=HTMLResponse)
def login_post(request: Request, form: FormData = Depends(read_form), db: Session = Depends(get_db)):
    settings = request.app.state.settings
    token = form.get("csrf_token")
    cookie = request.cookies.get(auth.LOGIN_CSRF_COOKIE)
    if not (_login_token_ok(settings.secret, token) and auth.same_secret(token, cookie)):
        raise auth.CsrfFailed()
    username, password = form.get("username"), form.get("password")
    user = auth.authenticate(db, username if isinstance(username, str) else "",
                             password if isinstance(password, str) else "", settings.hasher)
    db.rollback()
    if user is None:
        return login_page(request, error="Wrong user name or password.")
    uid = user.id
    sess_token, _ = distribution.with_retry(request.app.state.writer,
                                            lambda s: auth.start_session(s, s.get(User, uid), settings.session_ttl))
    nxt = form.get("next") if isinstance(form.get("next"), str) else "/projects"
    if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        nxt = "/projects"
    resp = redirect(nxt)
    resp.set_cookie(auth.SESSION_COOKIE, sess_token, max_age=settings.session_ttl, httponly=True, samesite="lax",
                    secure=settings.cookie_secure, path="/")
    resp.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(request: Request, pf=Depends(form_principal), db: Session = Depends(get_write_db)):
    p, _ = pf
    auth.end_session(db, request.cookies.get(auth.SESSION_COOKIE))
    log_event(db, "logout", user_id=p.user.id)
    db.commit()
    resp = redirect("/login", msg="logged_out")
    resp.delete_cookie(auth.SESSION_COOKIE, path="/")
    return resp


# ---------------------------------------------------------------------------------------------
# projects and tasks


@router.get("/projects", response_class=HTMLResponse)
def projects_page(request: Request, p: Principal = Depends(web_principal), db: Session = Depends(get_db)):
    rows = []
    for pr in auth.visible_projects(db, p.user):
        roles = sorted(auth.memberships(db, p.user, pr.id))
        rows.append({"project": pr, "roles": roles, "remaining": distribution.remaining(db, pr, p.user)
                     if "annotator" in roles else None})
    return render(request, "projects.html", me=p, rows=rows)


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(project_id: int, request: Request, p: Principal = Depends(web_principal),
                 db: Session = Depends(get_db)):
    pr = auth.project_for(db, p.user, project_id)
    roles = auth.memberships(db, p.user, pr.id)
    tasks = distribution.my_tasks(db, p.user, pr.id)
    return render(request, "project.html", me=p, project=pr, roles=roles, tasks=tasks,
                  can_annotate="annotator" in roles, can_review=p.is_admin or "reviewer" in roles,
                  remaining=distribution.remaining(db, pr, p.user) if "annotator" in roles else 0,
                  template_title=TEMPLATES.get(pr.template, {}).get("title", pr.template),
                  export_kinds=EXPORT_KINDS)


def _next_redirect(request: Request, user_id: int, project_id: int, **msg: Any) -> RedirectResponse:
    def go(s: Session):
        return (a.id if (a := distribution.next_task(s, s.get(User, user_id), s.get(Project, project_id))) else None)

    aid = distribution.with_retry(request.app.state.writer, go)
    if aid is None:
        return redirect(f"/projects/{project_id}", msg="nothing_left")
    return redirect(f"/tasks/{aid}", **msg)


@router.post("/projects/{project_id}/next")
def next_task(project_id: int, request: Request, pf=Depends(form_principal), db: Session = Depends(get_db)):
    p, _ = pf
    auth.project_for(db, p.user, project_id, need="annotator")
    return _next_redirect(request, p.user.id, project_id)


def _task_page(request: Request, p: Principal, db: Session, a: Assignment, *, values=None, error=None,
               status: int = 200) -> HTMLResponse:
    pr = db.get(Project, a.project_id)
    view = a.item.view
    last = distribution.latest_annotation(db, a.id)
    if values is None:
        values = form_values(pr.question_schema, view, last.answer if last else None)
    rejection = review_mod.last_rejection(db, a) if a.status == REWORK else None
    editable = a.status in ("locked", "expired", "rework")
    return render(request, "task.html", status=status, me=p, project=pr, task=a, view=view,
                  questions=question_context(pr, view), values=values, error=error, rejection=rejection,
                  editable=editable)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: int, request: Request, p: Principal = Depends(web_principal), db: Session = Depends(get_db)):
    a = distribution.get_assignment(db, p.user, task_id)
    return _task_page(request, p, db, a)


@router.post("/tasks/{task_id}", response_class=HTMLResponse)
def task_submit(task_id: int, request: Request, pf=Depends(form_principal), db: Session = Depends(get_db)):
    p, form = pf
    a = distribution.get_assignment(db, p.user, task_id)
    pr = db.get(Project, a.project_id)
    raw = answer_from_form(pr.question_schema, a.item.view, form)
    version = form.get("version")
    try:
        expected = int(version) if isinstance(version, str) and version.strip().isdigit() else None
    except ValueError:
        expected = None
    uid, pid = p.user.id, a.project_id

    def go(s: Session):
        ann, dup = distribution.submit(s, s.get(User, uid), task_id, raw, expected_version=expected)
        return dup

    try:
        dup = distribution.with_retry(request.app.state.writer, go)
    except AnswerError as exc:  # show the form again with what they typed: nothing is lost
        return _task_page(request, p, db, a, values=form_values(pr.question_schema, a.item.view, raw),
                          error=str(exc), status=422)
    except distribution.Conflict as exc:
        db.rollback()  # end the read snapshot: see what the writer committed
        return _task_page(request, p, db, db.get(Assignment, task_id),
                          values=form_values(pr.question_schema, a.item.view, raw), error=str(exc), status=409)
    msg = "duplicate" if dup else "submitted"
    if form.get("then") == "next":
        return _next_redirect(request, uid, pid, msg=msg)
    return redirect(f"/projects/{pid}", msg=msg)


@router.post("/tasks/{task_id}/skip")
def task_skip(task_id: int, request: Request, pf=Depends(form_principal)):
    p, form = pf
    uid = p.user.id

    def go(s: Session):
        return distribution.skip(s, s.get(User, uid), task_id).project_id

    pid = distribution.with_retry(request.app.state.writer, go)
    if form.get("then") == "next":
        return _next_redirect(request, uid, pid, msg="skipped")
    return redirect(f"/projects/{pid}", msg="skipped")


# ---------------------------------------------------------------------------------------------
# review


@router.get("/projects/{project_id}/review", response_class=HTMLResponse)
def review_queue_page(project_id: int, request: Request, p: Principal = Depends(web_principal),
                      db: Session = Depends(get_db)):
    pr = auth.project_for(db, p.user, project_id, need="reviewer")
    return render(request, "review_queue.html", me=p, project=pr, queue=review_mod.review_queue(db, p.user, pr))


def _review_page(request: Request, p: Principal, db: Session, a: Assignment, *, values=None, error=None,
                 comment: str = "", status: int = 200) -> HTMLResponse:
    pr = db.get(Project, a.project_id)
    view = a.item.view
    last = distribution.latest_annotation(db, a.id)
    if values is None:
        values = form_values(pr.question_schema, view, last.answer if last else None)
    return render(request, "review.html", status=status, me=p, project=pr, task=a, view=view,
                  questions=question_context(pr, view), values=values, answer=last.answer if last else {},
                  history=review_mod.history(db, a.id), error=error, comment=comment,
                  editable=a.status == "submitted")


@router.get("/reviews/{task_id}", response_class=HTMLResponse)
def review_page(task_id: int, request: Request, p: Principal = Depends(web_principal), db: Session = Depends(get_db)):
    a = review_mod.reviewable(db, p.user, task_id)
    return _review_page(request, p, db, a)


@router.post("/reviews/{task_id}", response_class=HTMLResponse)
def review_post(task_id: int, request: Request, pf=Depends(form_principal), db: Session = Depends(get_db)):
    p, form = pf
    a = review_mod.reviewable(db, p.user, task_id)
    pr = db.get(Project, a.project_id)
    decision = form.get("decision")
    comment = form.get("comment") if isinstance(form.get("comment"), str) else ""
    raw = answer_from_form(pr.question_schema, a.item.view, form) if decision == "fix" else None
    rnd = form.get("round")
    expected = int(rnd) if isinstance(rnd, str) and rnd.isdigit() else None
    uid, pid = p.user.id, a.project_id

    def go(s: Session):
        review_mod.decide(s, s.get(User, uid), task_id, decision if isinstance(decision, str) else "",
                          comment=comment, fixed_answer=raw, expected_round=expected)

    try:
        distribution.with_retry(request.app.state.writer, go)
    except (AnswerError, distribution.Conflict) as exc:
        db.rollback()  # end the read snapshot: see what the writer committed
        values = form_values(pr.question_schema, a.item.view, raw) if raw is not None else None
        return _review_page(request, p, db, db.get(Assignment, task_id), values=values, error=str(exc),
                            comment=comment, status=422 if isinstance(exc, AnswerError) else 409)
    return redirect(f"/projects/{pid}/review", msg="reviewed")


@router.get("/projects/{project_id}/dashboard", response_class=HTMLResponse)
def dashboard_page(project_id: int, request: Request, p: Principal = Depends(web_principal),
                   db: Session = Depends(get_db)):
    pr = auth.project_for(db, p.user, project_id, need="reviewer")
    return render(request, "dashboard.html", me=p, project=pr, data=dashboard_data(db, pr))


@router.get("/projects/{project_id}/export")
def export_download(project_id: int, request: Request, kind: str = "sft", format: str = "datamill",
                    p: Principal = Depends(admin_page), db: Session = Depends(get_db)):
    from datamill.post.formats import FORMATS, write_records

    pr = auth.project_for(db, p.user, project_id)
    if kind not in EXPORT_KINDS:
        raise HTTPException(400, f"kind: one of {', '.join(EXPORT_KINDS)}")
    if kind != "prompts" and format not in FORMATS:
        raise HTTPException(400, f"format: one of {', '.join(sorted(FORMATS))}")
    records = export_records(db, pr, kind)
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
def users_update(user_id: int, request: Request, pf=Depends(admin_form), db: Session = Depends(get_write_db)):
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
                u.role = role
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


async def _upload_bytes(form: FormData, key: str) -> tuple[str, bytes] | None:
    f = form.get(key)
    if isinstance(f, UploadFile) and f.filename:
        return f.filename, await f.read()
    return None


def _load_upload(filename: str, data: bytes, fmt: str | None) -> tuple[list[dict], list[str]]:
    suffix = "".join(c for c in os.path.basename(filename)[-40:] if c.isalnum() or c in "._-") or "upload.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, suffix)
        with open(path, "wb") as fh:
            fh.write(data)
        records, problems = load_dataset(path, fmt)
        return records, [x.replace(tmp + os.sep, "") for x in problems]


def _server_path(request: Request, path: str) -> str:
    from datamill.annotate.api import _check_server_path

    return _check_server_path(request, path)


@router.post("/admin/projects", response_class=HTMLResponse)
async def project_create(request: Request, form: FormData = Depends(read_form)):
    """Create a project from an uploaded file or a server-side path (async only to read the
    upload; the database work runs in a worker thread)."""
    from starlette.concurrency import run_in_threadpool

    upload = await _upload_bytes(form, "file")
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
                records, problems = _load_upload(upload[0], upload[1], fmt)
                source = upload[0]
            elif server_path:
                records, problems = load_dataset(_server_path(request, server_path), fmt)
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
def project_admin_page(project_id: int, request: Request, p: Principal = Depends(admin_page),
                       db: Session = Depends(get_db), error: str | None = None, status: int = 200):
    pr = auth.project_for(db, p.user, project_id)
    members = db.execute(select(User, Member.role).join(Member, Member.user_id == User.id)
                         .where(Member.project_id == pr.id).order_by(User.username)).all()
    from sqlalchemy import func
    from datamill.annotate.db import Item

    n_items = db.scalar(select(func.count()).select_from(Item).where(Item.project_id == pr.id))
    return render(request, "admin_project.html", status=status, me=p, project=pr, members=members, n_items=n_items,
                  users=list(db.scalars(select(User).where(User.active.is_(True)).order_by(User.username))),
                  error=error, export_kinds=EXPORT_KINDS,
                  schema_json=json.dumps(pr.question_schema, indent=2, ensure_ascii=False))


@router.post("/admin/projects/{project_id}/members", response_class=HTMLResponse)
def project_members(project_id: int, request: Request, pf=Depends(admin_form), db: Session = Depends(get_write_db)):
    p, form = pf
    pr = auth.project_for(db, p.user, project_id)
    action = form.get("action") or "add"
    try:
        u = db.scalar(select(User).where(User.username == _text(form, "username", 64)))
        if u is None:
            raise DatamillError("no such user")
        role = _text(form, "role", 16)
        if action == "remove":
            db.execute(delete(Member).where(Member.project_id == pr.id, Member.user_id == u.id, Member.role == role))
        else:
            auth.add_member(db, pr, u, role)
        db.commit()
    except DatamillError as exc:
        db.rollback()
        return project_admin_page(project_id, request, p, db, error=str(exc), status=400)
    return redirect(f"/admin/projects/{pr.id}", msg="saved")


@router.post("/admin/projects/{project_id}/import", response_class=HTMLResponse)
async def project_import(project_id: int, request: Request, form: FormData = Depends(read_form)):
    from starlette.concurrency import run_in_threadpool

    upload = await _upload_bytes(form, "file")
    return await run_in_threadpool(_project_import_sync, request, project_id, form, upload)


def _project_import_sync(request: Request, project_id: int, form: FormData, upload) -> Response:
    p = _admin_of_form(request, form)
    db = request.app.state.writer()
    try:
        pr = auth.project_for(db, p.user, project_id)
        try:
            fmt = _text(form, "format", 32) or None
            server_path = _text(form, "server_path", 4096).strip()
            if upload is not None:
                records, problems = _load_upload(upload[0], upload[1], fmt)
            elif server_path:
                records, problems = load_dataset(_server_path(request, server_path), fmt)
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
