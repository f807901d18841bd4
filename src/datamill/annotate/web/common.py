"""Plumbing shared by the HTML pages (:mod:`datamill.annotate.web`): the Jinja2 environment,
rendering, redirects, the logged-in user of a page or a form (with its CSRF check), form
helpers, and the mapping between stored answers and form controls.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from datamill.annotate import auth
from datamill.annotate.auth import Principal, get_db
from datamill.annotate.db import Project
from datamill.annotate.questions import applicable, prefill_text, rating_targets
from datamill.annotate.text_safety import clean_text
from datamill.core.errors import DatamillError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def _finalize(value: Any) -> Any:
    """Every value a template prints: text with a lone surrogate (which UTF-8 cannot encode)
    is shown with U+FFFD in its place, so no stored string can break a page."""
    return clean_text(value) if isinstance(value, str) else value


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), autoescape=True,
                          undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True,
                          finalize=_finalize, auto_reload=False, cache_size=400)
templates = Jinja2Templates(env=_env)

MESSAGES = {
    "submitted": "Answer saved.",
    "duplicate": "That answer was already saved.",
    "skipped": "Task skipped; you will not see it again.",
    "nothing_left": "No tasks left for you in this project.",
    "reviewed": "Decision saved.",
    "created": "Created.",
    "saved": "Saved.",
    "imported": "Dataset imported.",
    "logged_out": "You are logged out.",
    "expired": "Your session expired; log in again.",
}
MAX_FORM_FIELDS = 2000


# ---------------------------------------------------------------------------------------------
# plumbing


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    p: Principal | None = context.get("me")
    msg = MESSAGES.get(request.query_params.get("msg", ""))
    context.setdefault("flash", msg)
    context.setdefault("csrf", p.session.csrf_token if p else "")
    context.setdefault("user", p.user if p else None)
    return templates.TemplateResponse(request, name, context, status_code=status)


def render_error(request: Request, status: int, detail: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "error.html", {"status": status, "detail": detail, "user": None,
                                                              "csrf": "", "flash": None}, status_code=status)


def redirect(url: str, **params: Any) -> RedirectResponse:
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    return RedirectResponse(url, status_code=303)


def web_principal(request: Request, db: Session = Depends(get_db)) -> Principal:
    token = request.cookies.get(auth.SESSION_COOKIE)
    sess = auth.session_for_token(db, token)
    if sess is None:
        raise auth.LoginRequired()
    return Principal(sess.user, sess, "cookie")


async def read_form(request: Request) -> FormData:
    try:
        return await request.form(max_fields=MAX_FORM_FIELDS, max_files=4)
    except Exception as exc:  # multipart parse errors, too many fields
        raise HTTPException(400, f"malformed form: {type(exc).__name__}") from None


def form_principal(request: Request, form: FormData = Depends(read_form),
                   p: Principal = Depends(web_principal)) -> tuple[Principal, FormData]:
    """The logged-in user of a form post, after checking its CSRF token (a form field, or the
    ``csrf_token`` query parameter that upload forms carry so it is checked before their body)."""
    sent = form.get("csrf_token")
    if not isinstance(sent, str):
        sent = request.query_params.get("csrf_token")
    if not auth.same_secret(sent, p.session.csrf_token):
        raise auth.CsrfFailed()
    return p, form


def admin_form(pf: tuple[Principal, FormData] = Depends(form_principal)) -> tuple[Principal, FormData]:
    if not pf[0].is_admin:
        raise HTTPException(403, "admins only")
    return pf


def admin_page(p: Principal = Depends(web_principal)) -> Principal:
    if not p.is_admin:
        raise HTTPException(403, "admins only")
    return p


def _text(form: FormData, key: str, limit: int = 20_000) -> str:
    v = form.get(key)
    if not isinstance(v, str):
        return ""
    if len(v) > limit:
        raise DatamillError(f"{key}: at most {limit} characters")
    return v


def _login_token(secret: str, nonce: str) -> str:
    return nonce + "." + hmac.new(secret.encode(), nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _login_token_ok(secret: str, token: str | None) -> bool:
    if not isinstance(token, str) or "." not in token or len(token) > 200:
        return False
    nonce = token.split(".", 1)[0]
    return hmac.compare_digest(token, _login_token(secret, nonce))


def form_values(schema: dict[str, Any], view: dict[str, Any], answer: dict[str, Any] | None) -> dict[str, Any]:
    """An answer (stored, or raw from a form) as the strings the form controls compare with."""
    out: dict[str, Any] = {}
    answer = answer or {}
    for q in schema["questions"]:
        qid, t, v = q["id"], q["type"], answer.get(q["id"])
        if t == "labels":
            out[qid] = [str(x) for x in (v if isinstance(v, list) else [v] if v is not None else [])]
        elif t == "ratings":
            targets = rating_targets(q, view)
            if isinstance(v, list):
                v = {str(i): d for i, d in enumerate(v)}
            elif isinstance(v, dict) and targets == ["item"] and not set(v) <= {"item"}:
                v = {"item": v}
            out[qid] = {tg: {c: str(d.get(c)) for c in (d or {}) if d.get(c) is not None}
                        for tg, d in ((v or {}).items() if isinstance(v, dict) else [])
                        if isinstance(d, dict)}
        elif t == "ranking":
            if isinstance(v, list):
                v = {str(i): r for i, r in enumerate(v)}
            out[qid] = {str(k): str(r) for k, r in (v or {}).items() if r is not None} if isinstance(v, dict) else {}
        elif t == "pairwise":
            out[qid] = str(v) if v is not None else ""
        else:
            out[qid] = v if isinstance(v, str) else (prefill_text(q, view) if not answer else "")
    return out


def question_context(project: Project, view: dict[str, Any]) -> list[dict[str, Any]]:
    qs = []
    for q in project.question_schema["questions"]:
        if not applicable(q, view):
            continue
        d = dict(q)
        if q["type"] == "ratings":
            d["targets"] = rating_targets(q, view)
            d["levels"] = list(range(q["scale"][0], q["scale"][1] + 1))
        if q["type"] == "ranking":
            d["n"] = len(view["responses"])
        qs.append(d)
    return qs


