"""Users, passwords, sessions, CSRF and who may see what.

* Passwords are hashed with argon2id (``argon2-cffi``); a wrong user name costs the same time as a
  wrong password.
* A session is a random token (the cookie ``dm_session``, HttpOnly, SameSite=Lax; or
  ``Authorization: Bearer <token>`` for scripts); the database keeps only its SHA-256, its CSRF
  token and its expiry.
* CSRF: HTML forms carry ``csrf_token`` (the session's); JSON calls authenticated by the cookie
  send it as the ``X-CSRF-Token`` header; bearer-token calls need none (a browser never sends
  one by itself). The login form, before any session, uses a double-submit cookie ``dm_csrf``.
* Roles: ``admin`` manages users and projects and sees everything; ``reviewer`` and
  ``annotator`` see only the projects they are members of, annotators only their own tasks.
  Objects a user may not see answer 404, as if they did not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import HTTPException, Request
from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.orm import Session

from datamill.annotate.db import (EXPIRED, LOCKED, MEMBER_ROLES, REVOKED, REWORK, ROLES, Assignment, AuthSession,
                                  Item, Member, Project, User, log_event, utcnow)
from datamill.core.errors import DatamillError

SESSION_COOKIE = "dm_session"
LOGIN_CSRF_COOKIE = "dm_csrf"
CSRF_HEADER = "X-CSRF-Token"
_USERNAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def make_hasher(fast: bool = False) -> PasswordHasher:
    """argon2id with the library's time and memory cost (3 passes over 64 MiB) in one lane, so
    that a check keeps one core busy, never the whole machine (the same work as four lanes;
    hashes made with other parameters still verify). ``fast`` (tests only): tiny costs."""
    if fast:
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher(parallelism=1)


_DEFAULT_HASHER = make_hasher()


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    return (hasher or _DEFAULT_HASHER).hash(password)


def verify_password(stored: str, password: str, hasher: PasswordHasher | None = None) -> bool:
    try:
        return (hasher or _DEFAULT_HASHER).verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise DatamillError("user name: 1-64 letters, digits or . _ @ -")
    return username


_COMMON: frozenset[str] | None = None


def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of the zxcvbn project's list (lower case)."""
    global _COMMON
    if _COMMON is None:
        from zxcvbn.frequency_lists import FREQUENCY_LISTS

        _COMMON = frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])
    return _COMMON


def check_password(password: str, username: str | None = None) -> str:
    """The password if it is acceptable: 8 to 1024 characters, not only whitespace, not the
    user name, not on the common-password list; :class:`DatamillError` saying why not."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise DatamillError(f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not password.strip():
        raise DatamillError("password: not only spaces")
    if username and password.strip().lower() == username.lower():
        raise DatamillError("password: must not be the user name")
    if password.lower() in common_passwords():
        raise DatamillError("password: this one is on the list of the most common passwords; choose another")
    return password


def create_user(db: Session, username: str, password: str, role: str = "annotator", *,
                hasher: PasswordHasher | None = None) -> User:
    """A new user (flushed, not committed); :class:`DatamillError` for a taken name, a bad role
    or a short password."""
    check_username(username)
    check_password(password, username)
    if role not in ROLES:
        raise DatamillError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise DatamillError(f"user {username!r} exists already")
    user = User(username=username, password_hash=hash_password(password, hasher), role=role, active=True)
    db.add(user)
    db.flush()
    log_event(db, "create_user", user_id=user.id, username=username, role=role)
    return user


def set_password(db: Session, user: User, password: str, hasher: PasswordHasher | None = None) -> None:
    check_password(password, user.username)
    user.password_hash = hash_password(password, hasher)
    db.execute(delete(AuthSession).where(AuthSession.user_id == user.id))  # log out everywhere


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


_DUMMY_HASH: str | None = None


def authenticate(db: Session, username: str, password: str, hasher: PasswordHasher | None = None) -> User | None:
    global _DUMMY_HASH
    if not isinstance(username, str) or not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return None
    user = db.scalar(select(User).where(User.username == username)) if _USERNAME.match(username) else None
    if user is None or not user.active:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password("not-a-password", hasher)
        verify_password(_DUMMY_HASH, password, hasher)  # same cost as a real check
        return None
    if not verify_password(user.password_hash, password, hasher):
        return None
    return user


def start_session(db: Session, user: User, ttl_seconds: int) -> tuple[str, AuthSession]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    sess = AuthSession(token_hash=_token_hash(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                       created_at=now, expires_at=now + timedelta(seconds=ttl_seconds))
    db.add(sess)
    db.execute(delete(AuthSession).where(AuthSession.expires_at < now))  # housekeeping
    db.flush()
    log_event(db, "login", user_id=user.id)
    return token, sess


# built once: every request runs it (a reused statement skips SQLAlchemy's statement building)
_SESSION_BY_TOKEN = select(AuthSession).where(AuthSession.token_hash == bindparam("token_hash"))


def session_for_token(db: Session, token: str | None) -> AuthSession | None:
    if not token or len(token) > 200:
        return None
    sess = db.scalar(_SESSION_BY_TOKEN, {"token_hash": _token_hash(token)})
    if sess is None or sess.expires_at <= utcnow() or not sess.user.active:
        return None
    return sess


def end_session(db: Session, token: str | None) -> None:
    if token:
        db.execute(delete(AuthSession).where(AuthSession.token_hash == _token_hash(token)))


def same_secret(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


# ---------------------------------------------------------------------------------------------
# request plumbing


@dataclass
class Principal:
    user: User
    session: AuthSession
    via: str  # "cookie" or "bearer"

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


def get_db(request: Request) -> Iterator[Session]:
    db = request.app.state.sessionmaker()
    try:
        yield db
    finally:
        db.close()


def get_write_db(request: Request) -> Iterator[Session]:
    """A session for a request that changes something (takes the SQLite write lock up front)."""
    db = request.app.state.writer()
    try:
        yield db
    finally:
        db.close()


def request_token(request: Request) -> tuple[str | None, str]:
    auth = request.headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), "bearer"
    return request.cookies.get(SESSION_COOKIE), "cookie"


def principal_for(request: Request, db: Session) -> Principal | None:
    token, via = request_token(request)
    sess = session_for_token(db, token)
    return Principal(sess.user, sess, via) if sess else None


class LoginRequired(Exception):
    """Raised by HTML routes; the app turns it into a redirect to /login."""


class CsrfFailed(Exception):
    """Raised by HTML routes on a missing or wrong form token; the app answers 403."""


# ---------------------------------------------------------------------------------------------
# who may see what


def _allowed_roles(user: User, roles) -> set[str]:
    roles = {r for r in roles if r}
    if user.role == "annotator":  # a reviewer membership left from an older role counts for nothing
        roles.discard("reviewer")
    return roles


def memberships(db: Session, user: User, project_id: int) -> set[str]:
    """The user's roles in the project, as their account's role allows them now (a reviewer
    membership of a user who is no longer a reviewer counts for nothing)."""
    return _allowed_roles(user, db.scalars(select(Member.role).where(Member.project_id == project_id,
                                                                     Member.user_id == user.id)))


_PROJECT_AND_ROLES = (select(Project, Member.role)
                      .outerjoin(Member, and_(Member.project_id == Project.id, Member.user_id == bindparam("uid")))
                      .where(Project.id == bindparam("pid")))


def project_and_memberships(db: Session, user: User, project_id: int) -> tuple[Project | None, set[str]]:
    """The project (``None`` when there is none) and :func:`memberships`, in one query."""
    rows = db.execute(_PROJECT_AND_ROLES, {"pid": project_id, "uid": user.id}).all()
    if not rows:
        return None, set()
    return rows[0][0], _allowed_roles(user, (r for _, r in rows))


def is_annotator_of(db: Session, user_id: int, project_id: int) -> bool:
    return db.scalar(select(Member.id).where(Member.project_id == project_id, Member.user_id == user_id,
                                             Member.role == "annotator").limit(1)) is not None


def visible_projects(db: Session, user: User) -> list[Project]:
    if user.role == "admin":
        return list(db.scalars(select(Project).order_by(Project.id)))
    ids = select(Member.project_id).where(Member.user_id == user.id)
    return list(db.scalars(select(Project).where(Project.id.in_(ids)).order_by(Project.id)))


def project_for(db: Session, user: User, project_id: int, *, need: str | None = None) -> Project:
    """The project if ``user`` may see it (and has role ``need``: ``annotator``, ``reviewer`` or
    ``admin``); otherwise 404 — or 403 when they see it but lack the role."""
    project, roles = project_and_memberships(db, user, project_id)
    if project is None:
        raise HTTPException(404, "no such project")
    if user.role == "admin":
        if need in (None, "admin", "reviewer") or need in roles:
            return project
        raise HTTPException(403, f"you are not an {need} of this project (add yourself as a member)")
    if not roles:
        raise HTTPException(404, "no such project")
    if need == "admin" or (need and need not in roles):
        raise HTTPException(403, f"this needs the {need} role in the project")
    return project


def release_tasks(db: Session, project_id: int, user_id: int) -> int:
    """Revoke the open tasks (locked, rework, expired) of a user who may no longer annotate in
    the project: their locks are released and the slots go back to the pool at once. Submitted
    and accepted work stays. Returns how many tasks were revoked."""
    now = utcnow()
    rows = db.execute(select(Assignment.id, Assignment.item_id, Assignment.status)
                      .where(Assignment.project_id == project_id, Assignment.user_id == user_id,
                             Assignment.status.in_((LOCKED, REWORK, EXPIRED)))).all()
    n = 0
    for aid, item_id, status in rows:
        res = db.execute(update(Assignment).where(Assignment.id == aid, Assignment.status == status)
                         .values(status=REVOKED, version=Assignment.version + 1, locked_until=None, updated_at=now)
                         .execution_options(synchronize_session=False))
        if res.rowcount == 1:
            if status in (LOCKED, REWORK):
                db.execute(update(Item).where(Item.id == item_id).values(taken=Item.taken - 1)
                           .execution_options(synchronize_session=False))
            log_event(db, "revoke", user_id=user_id, project_id=project_id, assignment_id=aid, was=status)
            n += 1
    return n


def remove_member(db: Session, project: Project, user: User, role: str | None = None) -> int:
    """Remove ``user``'s ``role`` (both roles when ``None``) in ``project``. Losing the annotator
    role revokes their open tasks at once (:func:`release_tasks`). Returns the tasks revoked."""
    q = delete(Member).where(Member.project_id == project.id, Member.user_id == user.id)
    if role is not None:
        q = q.where(Member.role == role)
    db.execute(q)
    db.flush()
    if not is_annotator_of(db, user.id, project.id):
        return release_tasks(db, project.id, user.id)
    return 0


def set_role(db: Session, user: User, role: str) -> None:
    """Change an account's role; memberships the new role may not hold go at once (an
    annotator keeps no reviewer membership)."""
    if role not in ROLES:
        raise DatamillError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    if role == user.role:
        return
    user.role = role
    if role == "annotator":
        db.execute(delete(Member).where(Member.user_id == user.id, Member.role == "reviewer"))
    db.flush()


def add_member(db: Session, project: Project, user: User, role: str) -> None:
    if role not in MEMBER_ROLES:
        raise DatamillError(f"member role {role!r}: choose annotator or reviewer")
    if role == "reviewer" and user.role == "annotator":
        raise DatamillError(f"user {user.username!r} is an annotator; make them a reviewer first")
    exists = db.scalar(select(Member.id).where(Member.project_id == project.id, Member.user_id == user.id,
                                               Member.role == role))
    if exists is None:
        db.add(Member(project_id=project.id, user_id=user.id, role=role))
        db.flush()
