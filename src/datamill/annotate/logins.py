"""The login flow shared by ``POST /api/auth/login`` and the login form: throttle check, one
bounded hash slot (:mod:`datamill.annotate.throttle`), the password check in a worker thread,
then a new session. Runs on the event loop, so that logins waiting for a hash slot hold no
worker thread: a login flood never starves logged-in requests of threads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from datamill.annotate import auth
from datamill.annotate.db import User
from datamill.annotate.throttle import client_ip


@dataclass
class LoginResult:
    user: dict[str, Any]
    token: str
    csrf_token: str
    expires_at: str


def _check_password(app, username: str, password: str) -> int | None:
    settings = app.state.settings
    db = app.state.sessionmaker()
    try:
        user = auth.authenticate(db, username, password, settings.hasher)
        return user.id if user is not None else None
    finally:
        db.close()


def _start(app, uid: int) -> LoginResult:
    from datamill.annotate.distribution import with_retry

    settings = app.state.settings

    def go(s):
        user = s.get(User, uid)
        token, sess = auth.start_session(s, user, settings.session_ttl)
        return LoginResult(user={"id": user.id, "username": user.username, "role": user.role, "active": user.active,
                                 "created_at": user.created_at.isoformat()},
                           token=token, csrf_token=sess.csrf_token, expires_at=sess.expires_at.isoformat())

    return with_retry(app.state.writer, go)


async def login(request: Request, username: str, password: str) -> LoginResult | None:
    """Check the password and start a session; ``None`` for a wrong name or password.
    Raises :class:`datamill.annotate.throttle.Throttled` (HTTP 429) when this address or user
    name must wait, or when too many logins already wait for a hash slot."""
    app = request.app
    throttle = app.state.settings.throttle
    ip = client_ip(request)
    throttle.check(ip, username)
    async with throttle.hashing():
        throttle.check(ip, username)  # others may have failed while this one waited
        uid = await run_in_threadpool(_check_password, app, username, password)
    if uid is None:
        throttle.failed(ip, username)
        return None
    throttle.succeeded(ip, username)
    return await run_in_threadpool(_start, app, uid)
