"""The reviewer's pages: the review queue, one review, the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from datamill.annotate import auth, distribution, review as review_mod
from datamill.annotate.ids import DbId
from datamill.annotate.auth import Principal, get_db
from datamill.annotate.dashboard import dashboard as dashboard_data
from datamill.annotate.db import Assignment, Project, User
from datamill.annotate.questions import AnswerError, answer_from_form
from datamill.annotate.web.common import (form_principal, form_values, question_context, redirect, render,
                                          web_principal)

router = APIRouter(include_in_schema=False)

# ---------------------------------------------------------------------------------------------
# review


@router.get("/projects/{project_id}/review", response_class=HTMLResponse)
def review_queue_page(project_id: DbId, request: Request, p: Principal = Depends(web_principal),
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
def review_page(task_id: DbId, request: Request, p: Principal = Depends(web_principal), db: Session = Depends(get_db)):
    a = review_mod.reviewable(db, p.user, task_id)
    return _review_page(request, p, db, a)


@router.post("/reviews/{task_id}", response_class=HTMLResponse)
def review_post(task_id: DbId, request: Request, pf=Depends(form_principal), db: Session = Depends(get_db)):
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
def dashboard_page(project_id: DbId, request: Request, p: Principal = Depends(web_principal),
                   db: Session = Depends(get_db)):
    pr = auth.project_for(db, p.user, project_id, need="reviewer")
    return render(request, "dashboard.html", me=p, project=pr, data=dashboard_data(db, pr))

