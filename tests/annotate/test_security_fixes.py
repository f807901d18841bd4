"""Regression tests for the findings of the attack run (issue #10, fixes 2-7): each failed on the
code before the fix."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from annotate_helpers import csrf_of, make_app, new_project, next_task, pair, rate_rank_answer, submit, web_login

UPLOAD_ROUTES = ("/admin/projects", "/admin/projects/1/import", "/api/projects/1/upload", "/api/projects/1/import")


def _drive(app, path: str, total: int, headers: list[tuple[bytes, bytes]] = (), query: str = "",
           chunk: int = 64 * 1024) -> tuple[int, int]:
    """POST ``total`` bytes to ``path`` in chunks without a Content-Length (as a chunked
    upload does); returns (bytes the server pulled, status)."""
    head = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--xyz--\r\n"
    body = head + b"x" * max(0, total - len(head) - len(tail)) + tail
    pulled = 0
    status: list[int] = []

    async def receive():
        nonlocal pulled
        if pulled >= len(body):
            await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        part = body[pulled:pulled + chunk]
        pulled += len(part)
        return {"type": "http.request", "body": part, "more_body": pulled < len(body)}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"content-type", b"multipart/form-data; boundary=xyz"), *headers],
             "client": ("127.0.0.1", 5555), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return pulled, status[0] if status else 0


def test_anonymous_and_non_admin_uploads_are_cut_at_the_small_cap(app, api):
    small = app.state.settings.max_body
    big = 3 << 20   # under max_upload (4 MiB): the old code read all of it before checking anyone
    ann = api("ann1")
    for path in UPLOAD_ROUTES:
        for headers in ([], [(b"authorization", f"Bearer {ann.token}".encode())],
                        [(b"authorization", b"Bearer forged-token")]):
            pulled, status = _drive(app, path, big, headers)
            assert pulled <= small + 64 * 1024, (path, headers, pulled)
            assert status == 413, (path, status)


def test_admin_cookie_upload_needs_the_csrf_token_before_the_body(app, client):
    csrf = web_login(client, "admin")
    cookie = [(b"cookie", f"dm_session={client.cookies.get('dm_session')}".encode())]
    pulled, status = _drive(app, "/admin/projects", 3 << 20, cookie)
    assert pulled <= app.state.settings.max_body + 64 * 1024 and status == 413
    pulled, status = _drive(app, "/admin/projects", 3 << 20, cookie, query="csrf_token=wrong")
    assert pulled <= app.state.settings.max_body + 64 * 1024 and status == 413
    # with the token (the upload forms carry it in their action URL) the body streams up to max_upload
    pulled, status = _drive(app, "/admin/projects", 3 << 20, cookie, query=f"csrf_token={csrf}")
    assert pulled >= 3 << 20 and status in (400, 303)  # a garbage multipart body, read in full
    pulled, status = _drive(app, "/admin/projects", 16 << 20, cookie, query=f"csrf_token={csrf}")
    assert status == 413 and pulled <= app.state.settings.max_upload + 64 * 1024


def test_upload_forms_carry_the_csrf_token_in_their_action(app, api, client):
    pid = new_project(api, name="up", records=[pair(0)])
    csrf = web_login(client, "admin")
    assert f'action="/admin/projects?csrf_token={csrf}"' in client.get("/admin/projects/new").text
    page = client.get(f"/admin/projects/{pid}").text
    assert f'action="/admin/projects/{pid}/import?csrf_token={csrf}"' in page
    # and a real upload through that form works, past the small cap, streamed to disk
    rows = "".join(json.dumps(pair(i, prompt="p" * 2000)) + "\n" for i in range(200)).encode()
    assert len(rows) > app.state.settings.max_body
    r = client.post(f"/admin/projects/{pid}/import?csrf_token={csrf}", data={"csrf_token": csrf},
                    files={"file": ("more.jsonl", rows)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert len(api("admin").get(f"/api/projects/{pid}/items", params={"limit": 1000}).json()["items"]) == 201
