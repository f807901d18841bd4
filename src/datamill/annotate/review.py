"""Review rounds: accept, fix and accept, or reject with a comment.

A submitted task waits in its project's review queue. A reviewer (a project member with the
reviewer role, or an admin; never the task's own annotator) decides on the latest submission:

* ``accept`` — final;
* ``fix`` — the reviewer's corrected answer (checked against the question schema) becomes the
  final one; the annotator's stays in the history;
* ``reject`` — needs a comment. Before the project's last round (``review_rounds``) the task
  goes back to its annotator for rework (they see the comment and resubmit: round + 1); after
  the last round the rejection is final and the item's slot is freed for someone else.

Every submission and every decision is kept (:func:`history`). Decisions are conditional on the
task still being ``submitted`` in the round the reviewer saw, so two reviewers cannot both
decide, and a double click records one decision.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from datamill.annotate.db import (ACCEPTED, REJECTED, REWORK, SUBMITTED, Annotation, Assignment, Item, Project,
                                  Review, User, log_event, utcnow)
from datamill.annotate.distribution import Conflict, NotFound, latest_annotation
from datamill.annotate.questions import MAX_TEXT, AnswerError, validate_answer
from datamill.annotate.auth import is_annotator_of, memberships

DECISIONS = ("accept", "fix", "reject")


def can_review(db: Session, user: User, project_id: int) -> bool:
    """Admins, and reviewer accounts that are reviewers of the project now."""
    return user.role == "admin" or (user.role == "reviewer" and "reviewer" in memberships(db, user, project_id))


def review_queue(db: Session, user: User, project: Project, limit: int = 200) -> list[Assignment]:
    """Submitted tasks of ``project`` waiting for a decision, oldest first, without the user's own."""
    q = (select(Assignment).where(Assignment.project_id == project.id, Assignment.status == SUBMITTED,
                                  Assignment.user_id != user.id)
         .order_by(Assignment.updated_at, Assignment.id).limit(limit))
    return list(db.scalars(q))


def reviewable(db: Session, user: User, assignment_id: int) -> Assignment:
    """The assignment if ``user`` may review it (any status, for reading); else :class:`NotFound`."""
    a = db.get(Assignment, assignment_id)
    if a is None or not can_review(db, user, a.project_id) or a.user_id == user.id:
        raise NotFound("no such task to review")
    return a


def decide(db: Session, reviewer: User, assignment_id: int, decision: str, *, comment: str = "",
           fixed_answer: Any = None, expected_round: int | None = None) -> Review:
    """Record ``decision`` on the latest submission of the assignment (see the module docstring).
    :class:`Conflict` when the task is no longer waiting for review (or not in
    ``expected_round``); :class:`AnswerError` for a bad fix or a rejection without comment."""
    a = reviewable(db, reviewer, assignment_id)
    if decision not in DECISIONS:
        raise AnswerError("decision", f"expected one of {', '.join(DECISIONS)}")
    if not isinstance(comment, str) or len(comment) > MAX_TEXT:
        raise AnswerError("comment", f"expected text of at most {MAX_TEXT} characters")
    if "\x00" in comment:
        raise AnswerError("comment", "text holds a NUL character")
    if a.status != SUBMITTED:
        raise Conflict(f"this task is {a.status}, not waiting for review")
    if expected_round is not None and expected_round != a.round:
        raise Conflict("the task was resubmitted since you opened it; reload it")
    project = db.get(Project, a.project_id)
    fixed = None
    if decision == "fix":
        fixed = validate_answer(project.question_schema, a.item.view, fixed_answer)
    if decision == "reject" and not comment.strip():
        raise AnswerError("comment", "a rejection needs a comment for the annotator")
    ann = latest_annotation(db, a.id)
    if ann is None:  # pragma: no cover - submitted always has one
        raise Conflict("nothing to review")
    if decision == "reject":
        # back for rework only to an annotator still in the project; else the rejection is final
        rework = a.round < project.review_rounds and is_annotator_of(db, a.user_id, a.project_id)
        new_status = REWORK if rework else REJECTED
    else:
        new_status = ACCEPTED
    now = utcnow()
    old_version, old_round = a.version, a.round
    res = db.execute(update(Assignment).where(Assignment.id == a.id, Assignment.status == SUBMITTED,
                                              Assignment.version == old_version)
                     .values(status=new_status, version=Assignment.version + 1, updated_at=now)
                     .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise Conflict("another reviewer decided on this task meanwhile")
    if new_status == REJECTED:
        db.execute(update(Item).where(Item.id == a.item_id).values(taken=Item.taken - 1)
                   .execution_options(synchronize_session=False))
    rev = Review(assignment_id=a.id, annotation_id=ann.id, reviewer_id=reviewer.id, round=old_round,
                 decision=decision, comment=comment, fixed_answer=fixed, created_at=now)
    db.add(rev)
    db.flush()
    log_event(db, "review", user_id=reviewer.id, project_id=a.project_id, assignment_id=a.id, decision=decision,
              round=old_round, status=new_status)
    db.refresh(a)
    return rev


def reviews_of(db: Session, assignment_id: int) -> list[Review]:
    return list(db.scalars(select(Review).where(Review.assignment_id == assignment_id).order_by(Review.round)))


def history(db: Session, assignment_id: int) -> list[dict[str, Any]]:
    """Every submission and decision of an assignment, oldest first."""
    users = {}

    def name(uid: int) -> str:
        if uid not in users:
            u = db.get(User, uid)
            users[uid] = u.username if u else f"#{uid}"
        return users[uid]

    out: list[dict[str, Any]] = []
    for ann in db.scalars(select(Annotation).where(Annotation.assignment_id == assignment_id)
                          .order_by(Annotation.round)):
        out.append({"type": "submission", "round": ann.round, "user": name(ann.user_id),
                    "at": ann.created_at.isoformat(), "answer": ann.answer, "annotation_id": ann.id})
    for rev in reviews_of(db, assignment_id):
        out.append({"type": "review", "round": rev.round, "user": name(rev.reviewer_id),
                    "at": rev.created_at.isoformat(), "decision": rev.decision, "comment": rev.comment,
                    "fixed_answer": rev.fixed_answer})
    out.sort(key=lambda e: (e["round"], e["type"] != "submission", e["at"]))
    return out


def final_answer(db: Session, a: Assignment) -> tuple[dict[str, Any] | None, Review | None, Annotation | None]:
    """The accepted answer of an assignment (the fix when fixed), its review and submission;
    ``(None, None, None)`` unless the assignment is accepted."""
    if a.status != ACCEPTED:
        return None, None, None
    ann = latest_annotation(db, a.id)
    rev = db.scalar(select(Review).where(Review.assignment_id == a.id, Review.round == a.round))
    if rev is not None and rev.decision == "fix" and rev.fixed_answer is not None:
        return rev.fixed_answer, rev, ann
    return (ann.answer if ann else None), rev, ann


def last_rejection(db: Session, a: Assignment) -> Review | None:
    """The review that sent a rework task back (its comment is shown to the annotator)."""
    return db.scalar(select(Review).where(Review.assignment_id == a.id, Review.decision == "reject")
                     .order_by(Review.round.desc()).limit(1))
