"""Log in and out, who am I, users (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from datamill.annotate import auth, logins
from datamill.annotate.api.common import LoginIn, UserIn, UserPatch, api_admin, api_principal, user_json
from datamill.annotate.auth import Principal, get_db, get_write_db
from datamill.annotate.db import User, log_event
from datamill.annotate.ids import DbId

router = APIRouter(prefix="/api")


@router.post("/auth/login", tags=["auth"], responses={429: {"description": "too many failed logins: wait "
                                                                       "`Retry-After` seconds"}})
async def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
    """Log in; returns ``token`` (Bearer), ``csrf_token`` and ``expires_at``, and sets the session cookie.
    Failed logins are throttled per address and per user name (429 with ``Retry-After``)."""
    res = await logins.login(request, body.username, body.password)
    if res is None:
        raise HTTPException(401, "wrong user name or password")
    set_session_cookie(response, res.token, request.app.state.settings)
    return {"token": res.token, "csrf_token": res.csrf_token, "expires_at": res.expires_at, "user": res.user}


def set_session_cookie(response: Response, token: str, settings) -> None:
    response.set_cookie(auth.SESSION_COOKIE, token, max_age=settings.session_ttl, httponly=True, samesite="lax",
                        secure=settings.cookie_secure, path="/")


@router.post("/auth/logout", tags=["auth"])
def logout(request: Request, response: Response, p: Principal = Depends(api_principal),
           db: Session = Depends(get_write_db)) -> dict[str, Any]:
    """End this session (the token stops working at once)."""
    token, _ = auth.request_token(request)
    auth.end_session(db, token)
    log_event(db, "logout", user_id=p.user.id)
    db.commit()
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/me", tags=["auth"])
def me(p: Principal = Depends(api_principal)) -> dict[str, Any]:
    """The logged-in user, and the session's CSRF token and expiry."""
    return {"user": user_json(p.user), "csrf_token": p.session.csrf_token,
            "expires_at": p.session.expires_at.isoformat()}


# users (admin)

@router.get("/users", tags=["users"])
def list_users(p: Principal = Depends(api_admin), db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    return [user_json(u) for u in db.scalars(select(User).order_by(User.id))]


@router.post("/users", status_code=201, tags=["users"])
def create_user(body: UserIn, request: Request, p: Principal = Depends(api_admin),
                db: Session = Depends(get_write_db)) -> dict[str, Any]:
    u = auth.create_user(db, body.username, body.password, body.role, hasher=request.app.state.settings.hasher)
    db.commit()
    return user_json(u)


@router.patch("/users/{user_id}", tags=["users"])
def update_user(user_id: DbId, body: UserPatch, request: Request, p: Principal = Depends(api_admin),
                db: Session = Depends(get_write_db)) -> dict[str, Any]:
    u = db.get(User, user_id)
    if u is None:
        raise HTTPException(404, "no such user")
    if u.id == p.user.id and (body.active is False or (body.role and body.role != "admin")):
        raise HTTPException(400, "you cannot demote or deactivate yourself")
    if body.role is not None:
        auth.set_role(db, u, body.role)
    if body.active is not None:
        u.active = body.active
        if not body.active:
            from sqlalchemy import delete
            from datamill.annotate.db import AuthSession
            db.execute(delete(AuthSession).where(AuthSession.user_id == u.id))
    if body.password is not None:
        auth.set_password(db, u, body.password, request.app.state.settings.hasher)
    log_event(db, "update_user", user_id=p.user.id, target=u.id)
    db.commit()
    return user_json(u)
