"""PostgreSQL: a fetch, a submission and a lock sweep, each in **one** statement.

The portable code in :mod:`datamill.annotate.distribution` takes a task in about eight round
trips to the database (BEGIN, "my lock or rework", the candidate rows, ``UPDATE items``, ``INSERT
assignments``, ``INSERT events``, the item's row, COMMIT) and stores a submission in about seven.
On PostgreSQL each round trip is a wake-up of a server process and a pass through SQLAlchemy:
on a busy 2-core machine that, not the work, is what the tail latency is made of (measured in
docs/annotation.md: half the app's CPU per request). Here each is one statement built from data-modifying
CTEs, which PostgreSQL runs atomically on its own, so callers may run it in autocommit mode (no
BEGIN and COMMIT round trips) or inside a transaction. The rules are the portable code's:

* :func:`take_next`: the user's live lock, else their oldest rework, else the first item in queue
  order with a free slot that they were never given, taken with ``FOR NO KEY UPDATE SKIP LOCKED``
  (two concurrent fetches take different rows) and the same conditional ``UPDATE items SET taken =
  taken + 1 WHERE taken < overlap``; the ``(item, user)`` unique key still stops a person racing
  themselves (``IntegrityError``: retry). ``None`` means "not here": the caller falls back to
  the portable code, which tells "nothing left" from "every free row was held at that instant".
* :func:`store_submission`: the conditional status/version ``UPDATE``, the slot taken again for a
  late answer on an expired lock, the annotation row and the audit event.
* :func:`expire_locks`: expired locks, their slots and their audit events.

SQLite keeps the portable path (one writer at a time: there round trips cost nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (JSON, DateTime, Integer, String, and_, bindparam, exists, func, insert, literal, or_, select,
                        update)
from sqlalchemy.orm import Session, make_transient_to_detached

from datamill.annotate.db import (EXPIRED, LOCKED, REWORK, Annotation, Assignment, Event, Item, Member, Project,
                                  User)

A, I, E, N, M = Assignment.__table__, Item.__table__, Event.__table__, Annotation.__table__, Member.__table__
_ASSIGNMENT_COLS = [c.name for c in A.columns]
# Each statement is built once per variant with bound parameters: building a statement of five
# CTEs costs more CPU than running it, and a reused one hits SQLAlchemy's compiled cache at once
# (psycopg then prepares it on each pooled connection after its fifth run, ``prepare_threshold``).
_PID, _UID = bindparam("pid", type_=Integer), bindparam("uid", type_=Integer)
_NOW = bindparam("now", type_=DateTime)


def applies(db: Session) -> bool:
    """Whether ``db`` talks to PostgreSQL (the statements below are PostgreSQL's dialect)."""
    return db.get_bind().dialect.name == "postgresql"


def _event(action: str, user_id, assignment_id_col, detail):
    """``INSERT INTO events … SELECT`` columns for one audit row per row of a CTE."""
    cols = [E.c.at, E.c.user_id, E.c.project_id, E.c.assignment_id, E.c.action, E.c.detail]
    return cols, [_NOW, user_id, _PID, assignment_id_col, literal(action, String), detail]


@lru_cache(maxsize=None)
def _expire_statement():
    exp = (update(A).where(A.c.project_id == _PID, A.c.status == LOCKED, A.c.locked_until < _NOW)
           .values(status=EXPIRED, version=A.c.version + 1, updated_at=_NOW)
           .returning(A.c.id, A.c.item_id).cte("exp"))
    per_item = select(exp.c.item_id, func.count().label("n")).group_by(exp.c.item_id).subquery("per_item")
    dec = (update(I).where(I.c.id == per_item.c.item_id).values(taken=I.c.taken - per_item.c.n)
           .returning(I.c.id).cte("dec"))
    cols, vals = _event("expire", literal(None, Integer), exp.c.id, func.json_build_object())
    ev = insert(E).from_select(cols, select(*vals).select_from(exp)).returning(E.c.id).cte("ev")
    return select(func.count()).select_from(exp).add_cte(dec).add_cte(ev)


def expire_locks(db: Session, project_id: int, now: datetime) -> int:
    """Mark the project's locks that ran out as expired, free their slots and log one ``expire``
    event each, in one statement. Returns how many expired."""
    return int(db.execute(_expire_statement(), {"pid": project_id, "now": now}).scalar_one())


def _queue_order(active_learning: bool):
    if active_learning:  # NULLs (no score) last, as the portable queue
        return [I.c.uncertainty.is_(None).asc(), I.c.uncertainty.desc(), I.c.position.asc()]
    return [I.c.position.asc()]


@lru_cache(maxsize=None)
def _take_statement(active_learning: bool):
    overlap = bindparam("overlap", type_=Integer)
    mine = (select(A).where(A.c.project_id == _PID, A.c.user_id == _UID,
                            or_(and_(A.c.status == LOCKED, A.c.locked_until > _NOW), A.c.status == REWORK))
            .order_by((A.c.status == LOCKED).desc(), A.c.updated_at, A.c.id).limit(1).cte("mine"))
    seen = exists().where(A.c.item_id == I.c.id, A.c.user_id == _UID)
    # still an annotator of the project, and stays one until this commits: KEY SHARE on the
    # membership row makes a concurrent removal wait, and its release of the member's tasks then
    # sees (and revokes) this one; a removal that came first leaves no row, so no new task
    member = (select(M.c.id).where(M.c.project_id == _PID, M.c.user_id == _UID, M.c.role == "annotator")
              .limit(1).with_for_update(read=True, key_share=True).cte("member"))
    # NO KEY UPDATE: a submission's foreign-key check (KEY SHARE) on the item row neither blocks
    # this nor makes it skip the row
    cand = (select(I.c.id).where(I.c.project_id == _PID, I.c.taken < overlap, ~seen, ~exists(select(mine.c.id)),
                                 exists(select(member.c.id)))
            .order_by(*_queue_order(active_learning)).limit(1)
            .with_for_update(skip_locked=True, key_share=True, of=I).cte("cand"))
    took = (update(I).where(I.c.id == cand.c.id, I.c.taken < overlap).values(taken=I.c.taken + 1)
            .returning(I.c.id).cte("took"))
    values = {"project_id": _PID, "item_id": took.c.id, "user_id": _UID, "status": literal(LOCKED, String),
              "round": literal(0, Integer), "version": literal(0, Integer),
              "locked_until": bindparam("until", type_=DateTime), "created_at": _NOW, "updated_at": _NOW}
    ins = (insert(A).from_select([A.c[k] for k in values], select(*values.values()).select_from(took))
           .returning(*A.columns).cte("ins"))
    cols, vals = _event("assign", _UID, ins.c.id, func.json_build_object("item_id", ins.c.item_id))
    ev = insert(E).from_select(cols, select(*vals).select_from(ins)).returning(E.c.id).cte("ev")
    picked = select(mine).union_all(select(ins)).subquery("picked")
    return (select(picked, I.c.external_id, I.c.view, I.c.record, I.c.position, I.c.score, I.c.uncertainty,
                   I.c.taken).join(I, I.c.id == picked.c.item_id).add_cte(ev))


def take_next(db: Session, user: User, project: Project, now: datetime) -> Assignment | None:
    """The user's live lock or oldest rework, else a new task locked for them: one statement.
    ``None`` when it found neither (nothing left, every free row held by another fetch at that
    instant, or the last slot taken meanwhile): let the portable code decide."""
    row = db.execute(_take_statement(bool(project.active_learning)),
                     {"pid": project.id, "uid": user.id, "now": now, "overlap": project.overlap,
                      "until": now + timedelta(seconds=project.lock_seconds)}).mappings().first()
    if row is None:
        return None
    item = Item(id=row["item_id"], project_id=project.id, external_id=row["external_id"], position=row["position"],
                record=row["record"], view=row["view"], score=row["score"], uncertainty=row["uncertainty"],
                taken=row["taken"])
    a = Assignment(**{k: row[k] for k in _ASSIGNMENT_COLS})
    a.item = item
    return _as_loaded(db, a, item)


def _as_loaded(db: Session, a: Assignment, item: Item) -> Assignment:
    """Objects built from a statement's row, made persistent in ``db`` as if loaded from it (no
    INSERT at the next flush, no read back); ``a.user`` loads on first use."""
    make_transient_to_detached(item)
    make_transient_to_detached(a)
    return db.merge(a, load=False)


@lru_cache(maxsize=None)
def _submit_statement(retake: bool):
    upd = (update(A).where(A.c.id == bindparam("aid", type_=Integer), A.c.status == bindparam("old_status"),
                           A.c.version == bindparam("old_version", type_=Integer))
           .values(status=bindparam("new_status"), round=A.c.round + 1, version=A.c.version + 1, locked_until=None,
                   updated_at=_NOW)
           .returning(A.c.id, A.c.item_id).cte("upd"))
    new_round = bindparam("round", type_=Integer)
    values = {"assignment_id": upd.c.id, "item_id": upd.c.item_id, "user_id": _UID, "round": new_round,
              "answer": bindparam("answer", type_=JSON), "created_at": _NOW}
    ann = (insert(N).from_select([N.c[k] for k in values], select(*values.values()).select_from(upd))
           .returning(N.c.id).cte("ann"))
    cols, vals = _event("submit", _UID, upd.c.id, func.json_build_object("round", new_round))
    ev = insert(E).from_select(cols, select(*vals).select_from(upd)).returning(E.c.id).cte("ev")
    stmt = select(ann.c.id).add_cte(ev)
    if retake:  # a late answer on an expired lock: the slot went back to the pool, take one again
        stmt = stmt.add_cte(update(I).where(I.c.id == upd.c.item_id).values(taken=I.c.taken + 1)
                            .returning(I.c.id).cte("retake"))
    return stmt


def store_submission(db: Session, a: Assignment, user: User, answer: Any, new_status: str,
                     now: datetime) -> int | None:
    """Move ``a`` from the status and version it was read with to ``new_status`` and store the
    answer (a new annotation row, round + 1) and the ``submit`` event, in one statement. Returns
    the annotation's id, or ``None`` when the assignment changed meanwhile (another submission
    won, a revocation, an expiry sweep): the caller says why."""
    return db.execute(_submit_statement(a.status == EXPIRED),
                      {"aid": a.id, "old_status": a.status, "old_version": a.version, "new_status": new_status,
                       "now": now, "uid": user.id, "pid": a.project_id, "round": a.round + 1,
                       "answer": answer}).scalar_one_or_none()
