"""The FastAPI application: :func:`create_app` wires the database, the JSON API
(:mod:`datamill.annotate.api`), the HTML pages (:mod:`datamill.annotate.web`), limits and error
handling.

* Request bodies are capped (``max_body``, default 1 MiB; ``max_upload``, default 64 MiB, on
  dataset uploads by an admin whose session and CSRF token are checked from the headers first):
  a bigger one is refused with 413 before any handler runs. JSON bodies holding a lone
  surrogate are refused with 422.
* Logins are throttled (:mod:`datamill.annotate.throttle`): 429 with ``Retry-After``.
* Every response carries a strict Content-Security-Policy (no scripts at all; ``/docs``: scripts
  from this server only, see :mod:`datamill.annotate.apidocs`), ``nosniff``,
  ``DENY`` framing and ``no-referrer``; pages are ``no-store``.
* Errors: JSON ``{"detail": ...}`` under ``/api``, a small HTML page elsewhere; a page that
  needs a login redirects to ``/login``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datamill.annotate import auth
from datamill.annotate.apidocs import DOCS_CSP
from datamill.annotate.db import make_engine, make_sessionmaker
from datamill.annotate.distribution import Conflict, NotFound
from datamill.annotate.projects import OutsideDataRoot
from datamill.annotate.questions import AnswerError
from datamill.annotate.text_safety import find_surrogate
from datamill.annotate.throttle import LoginThrottle, Throttled
from datamill.core.errors import DatamillError

DEFAULT_SESSION_TTL = 8 * 3600
UPLOAD_PATHS = ("/admin/projects", "/upload", "/import")

CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@dataclass
class Settings:
    secret: str
    session_ttl: int = DEFAULT_SESSION_TTL
    max_body: int = 1 << 20
    max_upload: int = 64 << 20
    cookie_secure: bool = False
    data_roots: list[str] = field(default_factory=list)
    hasher: Any = None
    throttle: Any = None


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Request bodies are capped before the app reads them.

    * Any body: at most ``max_body`` (read and held in memory, then replayed to the app).
    * Dataset uploads (POST to a path ending in ``/upload``, ``/import`` or ``/admin/projects``):
      up to ``max_upload``, streamed (the multipart parser spools files to disk), but only when
      the request already shows, in its headers, an admin's session and, for a cookie session,
      its CSRF token (``X-CSRF-Token`` header or ``csrf_token`` query parameter; the upload forms
      carry it in their action URL). Anyone else gets the ``max_body`` cap: an anonymous client
      cannot make the server read 64 MiB before it is refused.
    """

    def __init__(self, app: ASGIApp, settings: Settings, state: Any = None):
        self.app, self.settings, self.state = app, settings, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        try:
            declared = int(length) if length is not None else None
        except ValueError:
            await JSONResponse({"detail": "bad Content-Length"}, status_code=400)(scope, receive, send)
            return
        if (scope["method"] == "POST" and any(path.endswith(p) for p in UPLOAD_PATHS)
                and await self._may_upload(scope)):
            await self._stream(scope, receive, send, declared)
            return
        limit = self.settings.max_body
        if declared is not None and declared > limit:
            await self._too_large(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        data = b"".join(chunks)
        if b"\\u" in data or b"\\U" in data:  # a JSON escape: maybe a lone surrogate
            problem = _surrogate_in_json(headers, data)
            if problem:
                await JSONResponse({"detail": [{"loc": ["body"] + problem[0], "msg": problem[1],
                                                "type": "unicode"}]}, status_code=422)(scope, receive, send)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _may_upload(self, scope: Scope) -> bool:
        """Does the request carry an admin's session (and its CSRF token, for a cookie)?"""
        if self.state is None:
            return False
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request as _Request

        request = _Request(scope)
        token, via = auth.request_token(request)
        if not token:
            return False

        def lookup() -> bool:
            db = self.state.sessionmaker()
            try:
                sess = auth.session_for_token(db, token)
                if sess is None or sess.user.role != "admin":
                    return False
                if via == "cookie":
                    sent = request.headers.get(auth.CSRF_HEADER) or request.query_params.get("csrf_token")
                    return auth.same_secret(sent, sess.csrf_token)
                return True
            finally:
                db.close()

        return await run_in_threadpool(lookup)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, declared: int | None) -> None:
        limit = self.settings.max_upload
        if declared is not None and declared > limit:
            await self._too_large(scope, receive, send, limit)
            return
        size = 0
        over = False
        answered = False

        async def counted() -> Message:
            nonlocal size, over
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                over = True
                raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if over:  # whatever the app made of the cut-off body, the answer is 413
                if not answered:
                    answered = True
                    await self._too_large(scope, receive, send, limit)
                return
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not answered:
            await self._too_large(scope, receive, send, limit)

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        resp = JSONResponse({"detail": f"payload too large (limit {limit} bytes)"}, status_code=413,
                            headers={"Connection": "close"})
        await resp(scope, receive, send)


def _surrogate_in_json(headers: dict, data: bytes) -> tuple[list, str] | None:
    """``(location, message)`` when a JSON body holds a string with a lone surrogate."""
    ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if not (ctype == b"application/json" or ctype.endswith(b"+json")):
        return None
    import json

    try:
        value = json.loads(data)
    except ValueError:
        return None  # the app answers malformed JSON itself
    where = find_surrogate(value)
    if where is None:
        return None
    loc = [part for part in where.lstrip("$").replace("[", ".").replace("]", "").split(".") if part]
    return ([int(x) if x.isdigit() else x for x in loc],
            f"{where}: text holds an unpaired UTF-16 surrogate, which is not valid Unicode")


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path", "") == "/docs"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                         (b"referrer-policy", b"no-referrer")]
                # Swagger UI needs its scripts: from this server only
                extra.append((b"content-security-policy", (DOCS_CSP if docs else CSP).encode()))
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = headers + [h for h in extra if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def create_app(db_url: str | None = None, secret: str | None = None, session_ttl: int = DEFAULT_SESSION_TTL, *,
               max_body: int = 1 << 20, max_upload: int = 64 << 20, cookie_secure: bool = False,
               data_roots: list[str] | None = None, fast_hash: bool = False, engine_kwargs: dict | None = None,
               throttle: LoginThrottle | None = None) -> FastAPI:
    """The annotation app on ``db_url`` (default ``$DATAMILL_ANNOTATE_DB`` or
    ``sqlite:///datamill-annotate.db``; PostgreSQL by URL). ``secret`` signs the login form's
    CSRF cookie (default ``$DATAMILL_ANNOTATE_SECRET`` or random per process). ``session_ttl``:
    seconds a login lasts. ``data_roots``: folders admins may import server-side files from
    (default: the server's working folder); every file read is resolved (links followed) and
    must stay inside. ``throttle``: login throttling (:class:`LoginThrottle` defaults). ``fast_hash``: cheap password hashing, for tests."""
    from datamill.annotate import api, apidocs, web

    engine = make_engine(db_url, background_checkpoint=True, **(engine_kwargs or {}))
    settings = Settings(secret=secret or os.environ.get("DATAMILL_ANNOTATE_SECRET") or secrets.token_hex(32),
                        session_ttl=int(session_ttl), max_body=max_body, max_upload=max_upload,
                        cookie_secure=cookie_secure,
                        data_roots=[os.path.realpath(r) for r in (data_roots or [os.getcwd()])],
                        hasher=auth.make_hasher(fast_hash), throttle=throttle or LoginThrottle())
    app = FastAPI(title="datamill annotate", version="1", docs_url=None, redoc_url=None,
                  description="Annotation and review of LLM training data. Log in with POST /api/auth/login; "
                              "send the token as `Authorization: Bearer <token>`.")
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)              # reads
    app.state.writer = make_sessionmaker(engine, write=True)        # every transaction that writes
    app.state.settings = settings

    app.include_router(api.router)
    app.include_router(web.router)
    app.include_router(apidocs.router)

    @app.exception_handler(auth.LoginRequired)
    async def _login_required(request: Request, exc: auth.LoginRequired):
        from urllib.parse import quote

        nxt = request.url.path if request.method == "GET" else "/projects"
        return RedirectResponse(f"/login?next={quote(nxt)}", status_code=303)

    @app.exception_handler(auth.CsrfFailed)
    async def _csrf(request: Request, exc: auth.CsrfFailed):
        return _error(request, 403, "missing or wrong CSRF token: reload the page and try again")

    @app.exception_handler(Throttled)
    async def _throttled(request: Request, exc: Throttled):
        return _error(request, 429, exc.reason, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _error(request, 404, str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict):
        return _error(request, 409, str(exc))

    @app.exception_handler(AnswerError)
    async def _answer(request: Request, exc: AnswerError):
        return _error(request, 422, str(exc), field=exc.field)

    @app.exception_handler(OutsideDataRoot)
    async def _outside(request: Request, exc: OutsideDataRoot):
        return _error(request, 403, str(exc))

    @app.exception_handler(DatamillError)
    async def _datamill(request: Request, exc: DatamillError):
        return _error(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if not _is_api(request) and exc.status_code == 401:
            return await _login_required(request, auth.LoginRequired())
        return _error(request, exc.status_code, exc.detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        if _is_api(request):
            return JSONResponse({"detail": errors}, status_code=422)
        return _error(request, 422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))

    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, settings=settings, state=app.state)
    return app


def _error(request: Request, status: int, detail: Any, headers: dict | None = None, **extra: Any):
    if _is_api(request):
        return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)
    from datamill.annotate.web import render_error

    return render_error(request, status, str(detail))
