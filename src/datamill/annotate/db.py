"""The annotation app's state: SQLAlchemy 2 models, and an engine/session factory from a URL.

SQLite (a file, the default) and PostgreSQL (``postgresql+psycopg://…``) run the same models.
Every state change that two people could race on is a *conditional* ``UPDATE … WHERE status =
…`` whose row count says who won, so the rules hold on both databases without table locks:

* ``items.taken`` counts the assignments that hold one of the item's ``overlap`` slots; a slot
  is taken with ``UPDATE items SET taken = taken + 1 WHERE taken < overlap``;
* ``assignments`` has one row per (item, user) — the unique key is what makes "never shown twice
  to the same person" hold even when one person clicks twice;
* submissions and review decisions move an assignment from an expected status and version.

On SQLite (WAL) reads run in plain transactions and every writing transaction starts with
``BEGIN IMMEDIATE`` (one writer at a time, waiting up to ``busy_timeout``; see
:func:`make_sessionmaker`) so that a read-then-write transaction never fails half-way under load.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, create_engine, event)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from datamill.annotate.text_safety import clean_deep
from datamill.core.errors import DatamillError

ROLES = ("admin", "reviewer", "annotator")
MEMBER_ROLES = ("annotator", "reviewer")

# assignment statuses
LOCKED = "locked"          # given to its annotator, lock running
EXPIRED = "expired"        # lock ran out before a submission: the slot went back to the pool
SKIPPED = "skipped"        # the annotator passed: never shown to them again
SUBMITTED = "submitted"    # waiting for review
REWORK = "rework"          # rejected with a comment, back with its annotator
ACCEPTED = "accepted"      # final (accepted, or fixed and accepted)
REJECTED = "rejected"      # final rejection after the last review round: the slot is freed
REVOKED = "revoked"        # its annotator was removed from the project: lock released, slot freed
HOLDS_SLOT = (LOCKED, SUBMITTED, REWORK, ACCEPTED)
OPEN_FOR_SUBMIT = (LOCKED, EXPIRED, REWORK)


def utcnow() -> datetime:
    """Naive UTC (SQLite stores no zone; the same value works on PostgreSQL)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="annotator")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuthSession(Base):
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    user: Mapped[User] = relationship(lazy="joined")


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[str] = mapped_column(String(64), default="custom")
    question_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    review_rounds: Mapped[int] = mapped_column(Integer, default=1)
    lock_seconds: Mapped[int] = mapped_column(Integer, default=1800)
    active_learning: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("project_id", "user_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))


class Item(Base):
    """One dataset row to annotate. ``record`` is the row as imported (a datamill post record, or
    ``{"id", "text"}`` for a raw document); ``view`` is what the task page shows (prompt,
    responses in display order and where each came from, document)."""

    __tablename__ = "items"
    # ix_items_order: the queue in dataset order is an index walk that stops after a few rows
    # (no sort of the whole project per request); ix_items_queue serves the uncertainty order
    __table_args__ = (Index("ix_items_queue", "project_id", "taken", "uncertainty"),
                      Index("ix_items_order", "project_id", "position", "taken"))
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    view: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    uncertainty: Mapped[float | None] = mapped_column(Float, nullable=True)
    taken: Mapped[int] = mapped_column(Integer, default=0)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),
                      Index("ix_assign_user", "user_id", "status"),
                      Index("ix_assign_project", "project_id", "status"))
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=LOCKED)
    round: Mapped[int] = mapped_column(Integer, default=0)       # submissions so far
    version: Mapped[int] = mapped_column(Integer, default=0)     # bumped on every change
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    item: Mapped[Item] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")


class Annotation(Base):
    """One submission (every round is kept)."""

    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("assignment_id", "round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("assignment_id", "round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotations.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))      # accept | fix | reject
    comment: Mapped[str] = mapped_column(Text, default="")
    fixed_answer: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Event(Base):
    """Audit log: who did what to which assignment, when."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    assignment_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# A request may hold a read and a write connection at once: the pool must hold two per worker
# thread (anyio's default 40), or under load busy threads wait on each other until the pool
# times out (500s after 30 s).
POOL_MAX = 2 * 40 + 10


def default_url() -> str:
    return os.environ.get("DATAMILL_ANNOTATE_DB") or "sqlite:///datamill-annotate.db"


def _load_json(text: str | bytes) -> Any:
    """JSON columns as read back: a lone surrogate escape (written before the app refused them,
    or by another tool) comes back as U+FFFD, so no stored string can break a page, an API
    answer or an export. A surrogate *pair* escape decodes to its character as usual."""
    if isinstance(text, memoryview):
        text = text.tobytes()
    value = json.loads(text)
    escapes = (b"\\ud", b"\\uD") if isinstance(text, (bytes, bytearray)) else ("\\ud", "\\uD")
    if escapes[0] in text or escapes[1] in text:
        value = clean_deep(value)
    return value


def make_engine(url: str | None = None, *, background_checkpoint: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default ``$DATAMILL_ANNOTATE_DB`` or ``sqlite:///datamill-annotate.db``)
    with the tables created. SQLite gets WAL, foreign keys, a 30 s busy timeout and
    ``BEGIN IMMEDIATE`` transactions."""
    url = url or default_url()
    kwargs.setdefault("json_deserializer", _load_json)
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError
        raise DatamillError(f"database URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            parent = os.path.dirname(os.path.abspath(db))
            if not os.path.isdir(parent):
                raise DatamillError(f"database URL {url!r}: folder {parent} does not exist")
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", POOL_MAX - 20)
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        checkpointer = (WalCheckpointer(db) if background_checkpoint and db and db != ":memory:" else None)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # WAL + NORMAL: a commit is not fsynced; it survives a crash of the app (every
            # acknowledged answer is in the WAL), and only a power cut can lose the last ones
            cur.execute("PRAGMA synchronous=NORMAL")
            if checkpointer is not None:  # the checkpointer thread moves the WAL into the file
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")
    else:
        # no ping before every checkout: it is one more round trip on each of a request's two
        # connections (a third of a fetch's time on a busy server); connections are recycled
        # instead, and one broken by a database restart fails a single request and is replaced
        kwargs.setdefault("pool_pre_ping", False)
        kwargs.setdefault("pool_recycle", 600)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", POOL_MAX - 10)
        try:
            engine = create_engine(parsed, **kwargs)
        except ModuleNotFoundError as exc:
            raise DatamillError(f"database URL {url!r}: driver not installed ({exc.name})") from None
    Base.metadata.create_all(engine)
    if parsed.get_backend_name() == "sqlite" and checkpointer is not None:
        checkpointer.start()
        engine.info = {"checkpointer": checkpointer}  # type: ignore[attr-defined]
    for table in Base.metadata.sorted_tables:  # indexes added since a database was created
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    return engine


class WalCheckpointer:
    """Moves SQLite's write-ahead log into the database file from a background thread, once a
    second (``PRAGMA wal_checkpoint(PASSIVE)``: never waits for readers or writers). Without it
    the request that happens to cross the 1000-page mark runs the checkpoint and its fsync, a
    latency spike of up to seconds on a busy disk. Each server process runs one."""

    def __init__(self, path: str, interval: float = 1.0):
        self.path, self.interval = path, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sqlite-wal-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        import sqlite3

        con = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                try:
                    con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.runs += 1
                except sqlite3.Error:
                    pass  # busy or locked: the next round catches up
        finally:
            con.close()


def make_sessionmaker(engine: Engine, *, write: bool = False) -> sessionmaker:
    """Sessions on ``engine``. ``write=True``: on SQLite each transaction takes the write lock
    at once (``BEGIN IMMEDIATE``), so a read-then-write transaction waits its turn instead of
    failing half-way; use it for every transaction that changes something. Plain sessions read
    (WAL: readers never block the writer; on PostgreSQL they run in autocommit mode)."""
    if write:
        bind = engine.execution_options(sqlite_begin="IMMEDIATE")
    elif engine.dialect.name == "postgresql":
        # reads need no transaction of their own: autocommit saves the BEGIN and ROLLBACK round
        # trips of every request (each statement still sees a consistent snapshot)
        bind = engine.execution_options(isolation_level="AUTOCOMMIT")
    else:
        bind = engine
    return sessionmaker(bind, expire_on_commit=False)


def log_event(db, action: str, *, user_id: int | None = None, project_id: int | None = None,
              assignment_id: int | None = None, **detail: Any) -> None:
    db.add(Event(action=action, user_id=user_id, project_id=project_id, assignment_id=assignment_id,
                 detail=detail))
