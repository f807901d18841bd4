"""Log in and out (HTML form; the login form has its own double-submit CSRF cookie)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from datamill.annotate import auth, logins
from datamill.annotate.auth import get_db, get_write_db
from datamill.annotate.db import log_event
from datamill.annotate.throttle import Throttled
from datamill.annotate.web.common import (MESSAGES, _login_token, _login_token_ok, form_principal, read_form,
                                          redirect, templates)

router = APIRouter(include_in_schema=False)

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
async def login_post(request: Request, form: FormData = Depends(read_form)):
    settings = request.app.state.settings
    token = form.get("csrf_token")
    cookie = request.cookies.get(auth.LOGIN_CSRF_COOKIE)
    if not (_login_token_ok(settings.secret, token) and auth.same_secret(token, cookie)):
        raise auth.CsrfFailed()
    username, password = form.get("username"), form.get("password")
    try:
        res = await logins.login(request, username if isinstance(username, str) else "",
                                 password if isinstance(password, str) else "")
    except Throttled as exc:
        resp = login_page(request, error=f"Too many attempts: {exc.reason} (in {exc.retry_after} s).")
        resp.status_code = 429
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    if res is None:
        return login_page(request, error="Wrong user name or password.")
    sess_token = res.token
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


