"""Who gets which task: overlap, locks, skips, never twice, uncertainty first.

* Each item has ``overlap`` (k) slots. Asking for work (:func:`next_task`) gives a person, in
  order: the task they hold a live lock on, then a task sent back to them for rework, then a new
  item that has a free slot and that they have never been given (the ``(item, user)`` unique key
  makes "never twice" hold even against double clicks).
* A new task is locked for the project's ``lock_seconds``. An abandoned lock expires: the slot
  goes back to the pool and someone else gets the item — not the same person again. A late
  submission on an expired lock is still accepted (nothing is lost; the item may end up with
  k + 1 answers).
* :func:`skip` passes on a task for good and frees its slot.
* Active learning: when the project orders by uncertainty and items carry a model score, the
  most uncertain items come first; otherwise dataset order. Items that already have some
  answers do not jump the queue (uncertainty, then position).
* On PostgreSQL a fetch, a submission and a lock sweep are one statement each
  (:mod:`datamill.annotate.distribution_pg`, same rules): :func:`quick_next_task` and
  :func:`submit` may run in autocommit mode there; the code below is the portable path.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Callable, TypeVar

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from datamill.annotate import distribution_pg
from datamill.annotate.db import (ACCEPTED, EXPIRED, HOLDS_SLOT, LOCKED, OPEN_FOR_SUBMIT, REWORK, SKIPPED,
                                  SUBMITTED, Annotation, Assignment, Item, Member, Project, User, log_event, utcnow)
from datamill.annotate.questions import AnswerError, validate_answer
from datamill.core.errors import DatamillError

T = TypeVar("T")


class Conflict(DatamillError):
    """The task is not in a state that allows this (already submitted, reviewed, …): HTTP 409."""


class NotFound(DatamillError):
    """No such task for this user: HTTP 404 (the same answer whether it exists or not)."""


def with_retry(sessionmaker, fn: Callable[[Session], T], attempts: int = 4) -> T:
    """Run ``fn(db)`` in a fresh transaction and commit; retry on a unique-key race or a
    deadlock/serialization failure (PostgreSQL), which roll the whole attempt back."""
    last: Exception | None = None
    for _ in range(attempts):
        db = sessionmaker()
        try:
            result = fn(db)
            db.commit()
            return result
        except (IntegrityError, OperationalError) as exc:
            db.rollback()
            last = exc
        finally:
            db.close()
    raise Conflict(f"the database was busy, try again ({type(last).__name__})")


def expire_locks(db: Session, project_id: int | None = None) -> int:
    """Mark live-looking locks whose time ran out as expired and free their slots."""
    now = utcnow()
    if project_id is not None and distribution_pg.applies(db):
        return distribution_pg.expire_locks(db, project_id, now)
    q = select(Assignment.id, Assignment.item_id).where(Assignment.status == LOCKED, Assignment.locked_until < now)
    if project_id is not None:
        q = q.where(Assignment.project_id == project_id)
    n = 0
    for aid, item_id in db.execute(q).all():
        res = db.execute(update(Assignment).where(Assignment.id == aid, Assignment.status == LOCKED,
                                                  Assignment.locked_until < now)
                         .values(status=EXPIRED, version=Assignment.version + 1, updated_at=now)
                         .execution_options(synchronize_session=False))
        if res.rowcount == 1:
            db.execute(update(Item).where(Item.id == item_id).values(taken=Item.taken - 1))
            log_event(db, "expire", assignment_id=aid, project_id=project_id)
            n += 1
    return n


EXPIRE_EVERY = 1.0   # seconds between two lock-expiry sweeps of one project, per server process
_last_expiry: dict[int, float] = {}


def _expire_now_and_then(db: Session, project_id: int) -> bool:
    """:func:`expire_locks` at most once a second per project (locks last minutes: a slot freed
    up to a second late changes nothing, and the sweep's query is saved on most requests)."""
    t = time.monotonic()
    if t - _last_expiry.get(project_id, -EXPIRE_EVERY) >= EXPIRE_EVERY:
        _last_expiry[project_id] = t
        expire_locks(db, project_id)
        return True
    return False


def queue_query(project: Project, user_id: int):
    """Items of ``project`` with a free slot that ``user_id`` was never given, best first."""
    seen = exists().where(and_(Assignment.item_id == Item.id, Assignment.user_id == user_id))
    q = select(Item.id).where(Item.project_id == project.id, Item.taken < project.overlap, ~seen)
    if project.active_learning:
        # NULLs (no score) last on both SQLite and PostgreSQL
        q = q.order_by((Item.uncertainty.is_(None)).asc(), Item.uncertainty.desc(), Item.position.asc())
    else:
        q = q.order_by(Item.position.asc())
    return q


def quick_next_task(db: Session, user: User, project: Project) -> Assignment | None:
    """PostgreSQL: the task :func:`next_task` would give, in one statement (and the lock sweep,
    one more, when due), safe to run in autocommit mode: no BEGIN and COMMIT round trips.
    ``None``: nothing found that way; run :func:`next_task` (``quick=False``) in a transaction,
    which tells "nothing left" from "every free row was held at that instant". SQLite: ``None``."""
    if not distribution_pg.applies(db):
        return None
    _expire_now_and_then(db, project.id)
    return distribution_pg.take_next(db, user, project, utcnow())


def next_task(db: Session, user: User, project: Project, *, quick: bool = True) -> Assignment | None:
    """The task ``user`` should work on now in ``project`` (locked for them), or ``None`` when
    there is nothing left for them. Flushes; the caller commits. ``quick``: on PostgreSQL try
    :func:`quick_next_task` first (``False`` when the caller just did)."""
    if quick and (a := quick_next_task(db, user, project)) is not None:
        return a
    now = utcnow()
    # one query for "my live lock, else my oldest rework"
    mine = db.scalar(select(Assignment).where(
        Assignment.project_id == project.id, Assignment.user_id == user.id,
        or_(and_(Assignment.status == LOCKED, Assignment.locked_until > now), Assignment.status == REWORK))
        .order_by((Assignment.status == LOCKED).desc(), Assignment.updated_at, Assignment.id).limit(1))
    if mine is not None:
        return mine
    swept = _expire_now_and_then(db, project.id)
    while True:  # when others took every candidate meanwhile (PostgreSQL), look again
        q = queue_query(project, user.id)
        candidates: list[int] = []
        if db.get_bind().dialect.name == "postgresql":
            # lock a few candidate rows and skip the ones other requests hold: concurrent fetches
            # take different items instead of queueing on the same row locks at the queue's head
            # (NO KEY UPDATE: a submission's foreign-key check on the item row does not block it)
            candidates = list(db.scalars(q.limit(5).with_for_update(skip_locked=True, key_share=True, of=Item)))
        if not candidates:  # SQLite (one writer at a time), or every free row is held right now
            candidates = list(db.scalars(q.limit(25)))
        if not candidates:
            if not swept:  # before saying "nothing left", free what expired since the last sweep
                swept = True
                if expire_locks(db, project.id):
                    continue
            return None
        for item_id in candidates:
            res = db.execute(update(Item).where(Item.id == item_id, Item.taken < project.overlap)
                             .values(taken=Item.taken + 1).execution_options(synchronize_session=False))
            if res.rowcount != 1:
                continue  # someone took the last slot meanwhile
            a = Assignment(project_id=project.id, item_id=item_id, user_id=user.id, status=LOCKED, round=0,
                           version=0, locked_until=now + timedelta(seconds=project.lock_seconds), created_at=now,
                           updated_at=now)
            db.add(a)
            db.flush()  # IntegrityError here = the same person raced themselves: with_retry starts over
            log_event(db, "assign", user_id=user.id, project_id=project.id, assignment_id=a.id, item_id=item_id)
            return a


def one_statement_writes(db: Session) -> bool:
    """Whether :func:`submit` writes in one statement on ``db`` (PostgreSQL), so that it may run
    in autocommit mode; otherwise (SQLite) run it in a write transaction (:func:`with_retry`)."""
    return distribution_pg.applies(db)


def retry_statement(db: Session, fn: Callable[[], T], attempts: int = 4) -> T:
    """Run ``fn()`` (one statement in autocommit mode, which rolls itself back when it fails) and
    run it again on a unique-key race or a deadlock/serialization failure."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            return fn()
        except (IntegrityError, OperationalError) as exc:
            db.rollback()
            last = exc
    raise Conflict(f"the database was busy, try again ({type(last).__name__})")


# built once (every submission runs it): the task, its project, and whether its owner still annotates there
_OWN_TASK = (select(Assignment, Project, Member.id).join(Project, Project.id == Assignment.project_id)
             .outerjoin(Member, and_(Member.project_id == Assignment.project_id, Member.user_id == Assignment.user_id,
                                     Member.role == "annotator"))
             .where(Assignment.id == bindparam("aid"), Assignment.user_id == bindparam("uid")).limit(1))


def own_task(db: Session, user: User, assignment_id: int) -> tuple[Assignment, Project]:
    """The user's own assignment in a project they still annotate in, and its project, in one
    query; :class:`NotFound` for anyone else's, for none, and once they were removed."""
    row = db.execute(_OWN_TASK, {"aid": assignment_id, "uid": user.id}).first()
    if row is None or row[2] is None:
        raise NotFound("no such task")
    return row[0], row[1]


def get_assignment(db: Session, user: User, assignment_id: int) -> Assignment:
    """The user's own assignment in a project they still annotate in; :class:`NotFound` for
    anyone else's, for none, and once they were removed from the project."""
    return own_task(db, user, assignment_id)[0]


def skip(db: Session, user: User, assignment_id: int) -> Assignment:
    a = get_assignment(db, user, assignment_id)
    if a.status not in (LOCKED, EXPIRED):
        raise Conflict(f"a task that is {a.status} cannot be skipped")
    now = utcnow()
    old_status, old_version = a.status, a.version
    res = db.execute(update(Assignment).where(Assignment.id == a.id, Assignment.status == old_status,
                                              Assignment.version == old_version)
                     .values(status=SKIPPED, version=Assignment.version + 1, locked_until=None, updated_at=now)
                     .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise Conflict("the task changed meanwhile; reload it")
    if old_status == LOCKED:
        db.execute(update(Item).where(Item.id == a.item_id).values(taken=Item.taken - 1))
    log_event(db, "skip", user_id=user.id, project_id=a.project_id, assignment_id=a.id)
    db.flush()
    db.refresh(a)
    return a


def latest_annotation(db: Session, assignment_id: int) -> Annotation | None:
    return db.scalar(select(Annotation).where(Annotation.assignment_id == assignment_id)
                     .order_by(Annotation.round.desc()).limit(1))


def submit(db: Session, user: User, assignment_id: int, answer: Any, *,
           expected_version: int | None = None) -> tuple[Annotation, bool]:
    """Store ``answer`` for the user's assignment. Returns ``(annotation, duplicate)``:
    submitting the same answer again returns the stored one with ``duplicate=True``; a
    different answer for a task already submitted is a :class:`Conflict`. The status change is
    a conditional update, so two concurrent submissions store exactly one answer."""
    ann, duplicate, _ = submit_task(db, user, assignment_id, answer, expected_version=expected_version)
    return ann, duplicate


def submit_task(db: Session, user: User, assignment_id: int, answer: Any, *,
                expected_version: int | None = None) -> tuple[Annotation, bool, Assignment]:
    """:func:`submit`, and the assignment as it is now (no second read)."""
    a, project = own_task(db, user, assignment_id)
    answer = validate_answer(project.question_schema, a.item.view, answer)
    if a.status not in OPEN_FOR_SUBMIT:
        last = latest_annotation(db, a.id)
        if last is not None and last.answer == answer:
            return last, True, a
        raise Conflict(f"this task is {a.status}; it cannot be answered again")
    if expected_version is not None and expected_version != a.version:
        last = latest_annotation(db, a.id)
        if last is not None and last.answer == answer:
            return last, True, a
        raise Conflict("the task changed since you opened it; reload it")
    now = utcnow()
    new_status = SUBMITTED if project.review_rounds > 0 else ACCEPTED
    old_status, old_version, old_round = a.status, a.version, a.round
    if distribution_pg.applies(db):  # one statement; safe in autocommit mode
        ann_id = distribution_pg.store_submission(db, a, user, answer, new_status, now)
        ann = None
        if ann_id is not None:
            ann = Annotation(id=ann_id, assignment_id=a.id, item_id=a.item_id, user_id=user.id, round=old_round + 1,
                             answer=answer, created_at=now)
            make_transient_to_detached(ann)
            ann = db.merge(ann, load=False)
    else:
        res = db.execute(update(Assignment).where(Assignment.id == a.id, Assignment.status == old_status,
                                                  Assignment.version == old_version)
                         .values(status=new_status, round=Assignment.round + 1, version=Assignment.version + 1,
                                 locked_until=None, updated_at=now)
                         .execution_options(synchronize_session=False))
        ann = None
        if res.rowcount == 1:
            if old_status == EXPIRED:  # the slot went back to the pool: take one again
                db.execute(update(Item).where(Item.id == a.item_id).values(taken=Item.taken + 1))
            ann = Annotation(assignment_id=a.id, item_id=a.item_id, user_id=user.id, round=old_round + 1,
                             answer=answer, created_at=now)
            db.add(ann)
            db.flush()
            log_event(db, "submit", user_id=user.id, project_id=a.project_id, assignment_id=a.id, round=ann.round)
    if ann is None:
        db.rollback()
        last = latest_annotation(db, a.id)
        if last is not None and last.answer == answer:
            return last, True, a
        raise Conflict("this task was submitted meanwhile")
    # the row as the conditional UPDATE left it, without reading it back
    for attr, value in (("status", new_status), ("round", old_round + 1), ("version", old_version + 1),
                        ("locked_until", None), ("updated_at", now)):
        set_committed_value(a, attr, value)
    return ann, False, a


def my_tasks(db: Session, user: User, project_id: int | None = None) -> list[Assignment]:
    member = and_(Member.project_id == Assignment.project_id, Member.user_id == Assignment.user_id,
                  Member.role == "annotator")
    q = select(Assignment).join(Member, member).where(Assignment.user_id == user.id)
    if project_id is not None:
        q = q.where(Assignment.project_id == project_id)
    return list(db.scalars(q.order_by(Assignment.updated_at.desc())))


def remaining(db: Session, project: Project, user: User) -> int:
    """How many items ``user`` could still be given (free slot, never seen)."""
    return db.scalar(select(func.count()).select_from(queue_query(project, user.id).order_by(None).subquery())) or 0


__all__ = ["Conflict", "NotFound", "AnswerError", "with_retry", "retry_statement", "one_statement_writes",
           "expire_locks", "next_task", "quick_next_task", "skip", "submit", "submit_task", "get_assignment",
           "own_task", "latest_annotation", "my_tasks", "remaining", "queue_query", "HOLDS_SLOT"]
