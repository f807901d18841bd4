"""The annotator's pages: projects, the next task, the task form, submit and skip."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from datamill.annotate import auth, distribution, review as review_mod
from datamill.annotate.ids import DbId
from datamill.annotate.auth import Principal, get_db
from datamill.annotate.db import REWORK, Assignment, Project, User
from datamill.annotate.export import EXPORT_KINDS
from datamill.annotate.questions import AnswerError, answer_from_form
from datamill.annotate.templates_catalog import TEMPLATES
from datamill.annotate.web.common import (form_principal, form_values, question_context, redirect, render,
                                          web_principal)

router = APIRouter(include_in_schema=False)

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
def project_page(project_id: DbId, request: Request, p: Principal = Depends(web_principal),
                 db: Session = Depends(get_db)):
    pr = auth.project_for(db, p.user, project_id)
    roles = auth.memberships(db, p.user, pr.id)
    tasks = distribution.my_tasks(db, p.user, pr.id)
    return render(request, "project.html", me=p, project=pr, roles=roles, tasks=tasks,
                  can_annotate="annotator" in roles, can_review=p.is_admin or "reviewer" in roles,
                  remaining=distribution.remaining(db, pr, p.user) if "annotator" in roles else 0,
                  template_title=TEMPLATES.get(pr.template, {}).get("title", pr.template),
                  export_kinds=EXPORT_KINDS)


def _next_redirect(request: Request, user_id: DbId, project_id: DbId, **msg: Any) -> RedirectResponse:
    def go(s: Session):
        return (a.id if (a := distribution.next_task(s, s.get(User, user_id), s.get(Project, project_id))) else None)

    aid = distribution.with_retry(request.app.state.writer, go)
    if aid is None:
        return redirect(f"/projects/{project_id}", msg="nothing_left")
    return redirect(f"/tasks/{aid}", **msg)


@router.post("/projects/{project_id}/next")
def next_task(project_id: DbId, request: Request, pf=Depends(form_principal), db: Session = Depends(get_db)):
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
def task_page(task_id: DbId, request: Request, p: Principal = Depends(web_principal), db: Session = Depends(get_db)):
    a = distribution.get_assignment(db, p.user, task_id)
    return _task_page(request, p, db, a)


@router.post("/tasks/{task_id}", response_class=HTMLResponse)
def task_submit(task_id: DbId, request: Request, pf=Depends(form_principal), db: Session = Depends(get_db)):
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
def task_skip(task_id: DbId, request: Request, pf=Depends(form_principal)):
    p, form = pf
    uid = p.user.id

    def go(s: Session):
        return distribution.skip(s, s.get(User, uid), task_id).project_id

    pid = distribution.with_retry(request.app.state.writer, go)
    if form.get("then") == "next":
        return _next_redirect(request, uid, pid, msg="skipped")
    return redirect(f"/projects/{pid}", msg="skipped")


