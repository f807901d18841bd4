"""Security and bad input: every case is refused, or handled with nothing lost and nothing
leaked. Anonymous access, guessed ids, admin routes, SQL and script injection in every free-text
field, CSRF, oversized and malformed payloads, double and concurrent submissions."""

from __future__ import annotations

import re
import socket
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select

from annotate_helpers import (PASSWORDS, csrf_of, make_app, new_project, next_task, pair, rate_rank_answer,
                      sft, submit, web_login)
from datamill.annotate import api as api_mod
from datamill.annotate import web as web_mod
from datamill.annotate.db import Annotation, Assignment, Item, Review, User

PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/healthz"), ("GET", "/"), ("POST", "/api/auth/login")}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'
SQLI = "x'); DROP TABLE annotations; --  ' OR '1'='1"


def _routes():
    for r in list(api_mod.router.routes) + list(web_mod.router.routes):
        for m in sorted(r.methods - {"HEAD"}):
            yield m, r.path


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _setup(api):
    """Two projects: p1 (ann1, ann2 / rev1) with a submitted task of ann1, p2 (ann3 / rev2)."""
    p1 = new_project(api, name="p1", records=[pair(0), pair(1)], annotators=("ann1", "ann2"), reviewers=("rev1",))
    p2 = new_project(api, name="p2", records=[pair(2)], annotators=("ann3",), reviewers=("rev2",))
    t1 = next_task(api, "ann1", p1)
    assert submit(api, "ann1", t1["id"], rate_rank_answer()).status_code == 200
    t3 = next_task(api, "ann3", p2)
    return p1, p2, t1["id"], t3["id"]


# ---------------------------------------------------------------------------------------------
# anonymous access


def test_anonymous_access_to_every_route_is_refused(app):
    client = TestClient(app)
    seen = 0
    for method, path in _routes():
        if (method, path) in PUBLIC:
            continue
        url = _fill(path)
        r = client.request(method, url, follow_redirects=False)
        seen += 1
        if path.startswith("/api"):
            assert r.status_code == 401, (method, url, r.status_code)
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, url, r.status_code)
    assert seen > 35
    # the public ones leak nothing
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/healthz").json() == {"status": "ok"}


def test_garbage_or_forged_tokens_are_anonymous(app):
    client = TestClient(app)
    for token in ("", "x" * 5000, "' OR 1=1 --", "null"):
        assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        client.cookies.set("dm_session", token[:300] or "x")
        assert client.get("/projects", follow_redirects=False).status_code == 303
        client.cookies.clear()


# ---------------------------------------------------------------------------------------------
# guessing ids


def test_annotator_cannot_read_or_change_anothers_task(api, client):
    p1, p2, t1, t3 = _setup(api)
    other = api("ann2")
    for url in (f"/api/tasks/{t1}", f"/api/tasks/{t1}/history", f"/api/reviews/{t1}", f"/api/tasks/{t3}"):
        r = other.get(url)
        assert r.status_code == 404 and "Good answer" not in r.text, url
    assert other.post(f"/api/tasks/{t1}/submit", json={"answer": rate_rank_answer(best=1)}).status_code == 404
    assert other.post(f"/api/tasks/{t1}/skip").status_code == 404
    assert other.post(f"/api/reviews/{t1}", json={"decision": "accept"}).status_code == 404
    # a task id that does not exist answers the same as someone else's
    assert other.get("/api/tasks/99999").status_code == 404
    # their task list holds only their own
    assert all(t["id"] != t1 for t in other.get("/api/tasks").json())
    # the HTML pages too
    csrf = web_login(client, "ann2")
    assert client.get(f"/tasks/{t1}").status_code == 404
    assert client.post(f"/tasks/{t1}", data={"csrf_token": csrf, "q.comment": "hijack"}).status_code == 404
    assert client.post(f"/tasks/{t1}/skip", data={"csrf_token": csrf}).status_code == 404
    assert client.get(f"/reviews/{t1}").status_code == 404
    # and the task is unchanged
    assert api("ann1").get(f"/api/tasks/{t1}").json()["answer"]["ranking"] == [1, 2]


def test_no_access_to_another_projects_data(api, client):
    p1, p2, t1, t3 = _setup(api)
    a = api("ann1")
    for url in (f"/api/projects/{p2}", f"/api/projects/{p2}/items", f"/api/projects/{p2}/dashboard",
                f"/api/projects/{p2}/reviews"):
        r = a.get(url)
        assert r.status_code == 404 and "pair-2" not in r.text, url
    assert a.post(f"/api/projects/{p2}/next").status_code == 404
    assert a.get(f"/api/projects/{p1}/items").status_code == 403  # own project, but not a reviewer
    assert a.get("/api/tasks", params={"project_id": p2}).json() == []
    rv = api("rev2")   # reviewer of p2 only
    assert rv.get(f"/api/projects/{p1}/reviews").status_code == 404
    assert rv.get(f"/api/reviews/{t1}").status_code == 404
    assert rv.post(f"/api/reviews/{t1}", json={"decision": "accept"}).status_code == 404
    csrf = web_login(client, "ann1")
    for url in (f"/projects/{p2}", f"/projects/{p2}/review", f"/projects/{p2}/dashboard"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/projects/{p2}/next", data={"csrf_token": csrf}).status_code == 404
    assert f"/projects/{p2}" not in client.get("/projects").text


# ---------------------------------------------------------------------------------------------
# admin routes


def test_non_admins_cannot_call_admin_routes(api, client):
    p1, p2, t1, t3 = _setup(api)
    for user in ("ann1", "rev1"):
        a = api(user)
        calls = [
            a.get("/api/users"),
            a.post("/api/users", json={"username": "evil", "password": "evil-pass-1", "role": "admin"}),
            a.patch("/api/users/2", json={"role": "admin"}),
            a.post("/api/projects", json={"name": "evil", "template": "pairwise"}),
            a.post(f"/api/projects/{p1}/members", json={"username": user, "role": "reviewer"}),
            a.delete(f"/api/projects/{p1}/members/ann2"),
            a.post(f"/api/projects/{p1}/items", json={"records": [pair(9)]}),
            a.post(f"/api/projects/{p1}/upload", files={"file": ("x.jsonl", b"{}")}),
            a.get(f"/api/projects/{p1}/export", params={"kind": "preference"}),
        ]
        assert [c.status_code for c in calls] == [403] * len(calls), [(c.request.url, c.status_code) for c in calls]
        csrf = web_login(client, user)
        for url in ("/admin/users", "/admin/projects/new", f"/admin/projects/{p1}", f"/projects/{p1}/export"):
            assert client.get(url).status_code == 403, url
        posts = [("/admin/users", {"username": "evil", "password": "evil-pass-1", "role": "admin"}),
                 ("/admin/users/2", {"role": "admin", "active": "on"}),
                 ("/admin/projects", {"name": "evil"}),
                 (f"/admin/projects/{p1}/members", {"username": user, "role": "reviewer"}),
                 (f"/admin/projects/{p1}/import", {"server_path": "/etc/passwd"})]
        for url, data in posts:
            assert client.post(url, data={"csrf_token": csrf, **data}).status_code == 403, url
    users = [u["username"] for u in api("admin").get("/api/users").json()]
    assert "evil" not in users
    assert api("admin").get("/api/users").json()[1]["role"] == "annotator"
    assert [p["name"] for p in api("admin").get("/api/projects").json()] == ["p1", "p2"]


def test_server_paths_limited_to_data_roots(tmp_path, shared_data):
    app = make_app(tmp_path, data_roots=[str(shared_data / "preference")])
    from annotate_helpers import Api

    admin = Api(app, "admin")
    pid = admin.post("/api/projects", json={"name": "x"}).json()["id"]
    ok = admin.post(f"/api/projects/{pid}/items", json={"path": str(shared_data / "preference/llamafactory/dpo_en_demo.json")})
    assert ok.status_code == 201
    for bad in ("/etc/passwd", str(shared_data / "preference/../instruction_sft/alpaca/seed_tasks.jsonl")):
        r = admin.post(f"/api/projects/{pid}/items", json={"path": bad})
        assert r.status_code == 403 and "root:" not in r.text and "instruction" not in r.text


# ---------------------------------------------------------------------------------------------
# injection


def test_sql_injection_in_every_free_text_field(api, client, app):
    # login fields
    for name in ("admin' --", "' OR '1'='1", "admin'/*"):
        assert client.post("/api/auth/login", json={"username": name, "password": "' OR '1'='1"}).status_code == 401
    client.cookies.clear()
    # project name/description, labels, answers, comments, review comments: stored verbatim
    pid = new_project(api, name=SQLI, description=SQLI, template="write_better_answer",
                      records=[sft(0), dict(sft(1), messages=[{"role": "user", "content": SQLI},
                                                              {"role": "assistant", "content": SQLI}])])
    t = next_task(api, "ann1", pid)
    assert submit(api, "ann1", t["id"], {"rewrite": SQLI, "comment": SQLI}).status_code == 200
    r = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "reject", "comment": SQLI})
    assert r.status_code == 200
    assert api("ann1").get(f"/api/tasks/{t['id']}").json()["review_comment"] == SQLI
    assert api("admin").get(f"/api/projects/{pid}").json()["name"] == SQLI
    # path/query parameters are typed
    assert api("admin").get("/api/projects/1 OR 1=1").status_code == 422
    assert api("admin").get(f"/api/projects/{pid}/items", params={"offset": "0; DROP TABLE items"}).status_code == 422
    assert api("admin").get(f"/api/projects/{pid}/export", params={"kind": SQLI}).status_code == 400
    # every table is still there, with its rows
    with app.state.sessionmaker() as db:
        assert set(inspect(db.get_bind()).get_table_names()) >= {"users", "annotations", "items", "reviews"}
        assert db.scalar(select(func.count()).select_from(Annotation)) == 1
        assert db.scalar(select(func.count()).select_from(User)) == len(PASSWORDS)


def test_script_injection_is_stored_and_shown_escaped(api, client):
    pid = new_project(api, name=XSS, description=XSS, template="rate_and_rank", review_rounds=1,
                      records=[{"id": XSS, "kind": "preference", "messages": [{"role": "user", "content": XSS}],
                                "chosen": [{"role": "assistant", "content": XSS + " good"}],
                                "rejected": [{"role": "assistant", "content": XSS + " bad"}], "metadata": {}}])
    t = next_task(api, "ann1", pid)
    assert submit(api, "ann1", t["id"], rate_rank_answer(comment=XSS)).status_code == 200
    r = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "reject", "comment": XSS})
    assert r.status_code == 200
    # stored verbatim
    assert api("ann1").get(f"/api/tasks/{t['id']}").json()["answer"]["comment"] == XSS
    pages = []
    web_login(client, "ann1")
    pages += [client.get("/projects"), client.get(f"/projects/{pid}"), client.get(f"/tasks/{t['id']}")]
    web_login(client, "rev1")
    pages += [client.get(f"/projects/{pid}/review"), client.get(f"/reviews/{t['id']}"),
              client.get(f"/projects/{pid}/dashboard")]
    web_login(client, "admin")
    pages += [client.get(f"/admin/projects/{pid}"), client.get("/admin/users")]
    for page in pages:
        assert page.status_code == 200, page.url
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, page.url
        assert "<script" not in page.text.lower(), page.url  # the app ships no script at all
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[2].text
    # a user name cannot carry markup
    assert api("admin").post("/api/users", json={"username": "<b>x</b>", "password": "long-enough"}).status_code == 400


# ---------------------------------------------------------------------------------------------
# CSRF


def _web_posts(pid, tid):
    return [(f"/projects/{pid}/next", {}), (f"/tasks/{tid}", {"q.comment": "x"}), (f"/tasks/{tid}/skip", {}),
            (f"/reviews/{tid}", {"decision": "accept"}), ("/admin/users", {"username": "csrfuser",
                                                                           "password": "csrf-pass-1"}),
            ("/admin/users/2", {"role": "admin", "active": "on"}), ("/admin/projects", {"name": "csrf"}),
            (f"/admin/projects/{pid}/members", {"username": "outsider", "role": "annotator"}),
            (f"/admin/projects/{pid}/import", {"server_path": "/tmp"}), ("/logout", {})]


def test_missing_or_wrong_csrf_token_is_refused(api, client, app):
    p1, p2, t1, t3 = _setup(api)
    good = web_login(client, "admin")
    for url, data in _web_posts(p1, t1):
        for token in (None, "", "wrong", good[:-1] + ("A" if good[-1] != "A" else "B")):
            body = dict(data) if token is None else dict(data, csrf_token=token)
            r = client.post(url, data=body, follow_redirects=False)
            assert r.status_code == 403, (url, token, r.status_code)
    # nothing changed
    users = [u["username"] for u in api("admin").get("/api/users").json()]
    assert "csrfuser" not in users and api("admin").get("/api/users").json()[1]["role"] == "annotator"
    assert client.get("/projects").status_code == 200  # still logged in (logout was refused too)
    # the token of another session does not work either
    other = TestClient(app)
    other_csrf = web_login(other, "admin")
    assert other_csrf != good
    assert client.post("/admin/users", data={"csrf_token": other_csrf, "username": "csrf2",
                                             "password": "csrf-pass-2"}).status_code == 403
    # login itself needs the login form's token (double-submit cookie)
    anon = TestClient(app)
    r = anon.post("/login", data={"username": "admin", "password": PASSWORDS["admin"]}, follow_redirects=False)
    assert r.status_code == 403
    page = anon.get("/login")
    token = csrf_of(page.text)
    anon.cookies.delete("dm_csrf")
    r = anon.post("/login", data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": token},
                  follow_redirects=False)
    assert r.status_code == 403


def test_api_with_session_cookie_needs_csrf_header(app):
    c = TestClient(app)
    r = c.post("/api/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
    csrf = r.json()["csrf_token"]
    body = {"username": "cookieuser", "password": "cookie-pass-1"}
    assert c.post("/api/users", json=body).status_code == 403                                   # cookie, no header
    assert c.post("/api/users", json=body, headers={"X-CSRF-Token": "nope"}).status_code == 403
    assert c.post("/api/users", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert c.get("/api/users").status_code == 200                                               # reads need none


def test_login_redirect_stays_on_site(app):
    c = TestClient(app)
    for nxt in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        page = c.get("/login", params={"next": nxt})
        r = c.post("/login", data={"username": "ann1", "password": PASSWORDS["ann1"], "csrf_token": csrf_of(page.text),
                                   "next": nxt}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/projects", nxt


# ---------------------------------------------------------------------------------------------
# payloads


def test_oversized_payloads_are_refused(api, app):
    pid, _, t1, _ = _setup(api)
    t = next_task(api, "ann2", pid)
    big = "x" * (300 * 1024)  # over the 256 KiB test limit
    r = api("ann2").post(f"/api/tasks/{t['id']}/submit", json={"answer": {"comment": big}})
    assert r.status_code == 413
    # streamed without Content-Length: still cut off
    def chunks():
        for _ in range(40):
            yield b"x" * 10_000
    r = api("ann2").client.post(f"/api/tasks/{t['id']}/submit", content=chunks(),
                                headers={**api("ann2").headers, "Content-Type": "application/json"})
    assert r.status_code == 413
    # a text answer over the per-field limit (within the body limit)
    r = submit(api, "ann2", t["id"], rate_rank_answer(comment="y" * 20_001))
    assert r.status_code == 422 and "20000" in r.text
    # uploads have their own, larger limit (4 MiB here)
    r = api("admin").post(f"/api/projects/{pid}/upload", files={"file": ("big.jsonl", b"{}\n" * (2 << 20))})
    assert r.status_code == 413
    # too many records in one request body
    r = api("admin").post(f"/api/projects/{pid}/items", json={"records": [pair(i) for i in range(2000)]})
    assert r.status_code == 413
    # nothing was stored by any of these
    assert api("ann2").get(f"/api/tasks/{t['id']}").json()["status"] == "locked"


def test_malformed_json_and_wrong_shapes(api):
    pid, _, t1, _ = _setup(api)
    t = next_task(api, "ann2", pid)
    a = api("ann2")
    url = f"/api/tasks/{t['id']}/submit"
    for raw in (b"{", b"not json", b'{"answer": }', b"\xff\xfe", b"[]", b"null", b'{"answer": "text"}',
                b'{"answer": {}, "extra": 1}'):
        r = a.client.post(url, content=raw, headers={**a.headers, "Content-Type": "application/json"})
        assert r.status_code == 422, (raw, r.status_code)
    bad_answers = [
        {"ratings": "5", "ranking": [1, 2]},
        {"ratings": [{"accuracy": 6, "safety": 5, "helpfulness": 5}] * 2, "ranking": [1, 2]},
        {"ratings": [{"accuracy": True, "safety": 5, "helpfulness": 5}] * 2, "ranking": [1, 2]},
        {"ratings": [{"accuracy": 5, "safety": 5, "helpfulness": 5, "evil": 1}] * 2, "ranking": [1, 2]},
        {"ratings": [{"accuracy": 5, "safety": 5, "helpfulness": 5}] * 2, "ranking": [1, 1]},
        {"ratings": [{"accuracy": 5, "safety": 5, "helpfulness": 5}] * 2, "ranking": [1, 2, 3]},
        {"ratings": [{"accuracy": 5, "safety": 5, "helpfulness": 5}] * 2, "ranking": [1, 2], "comment": 5},
        {"ratings": [{"accuracy": 5, "safety": 5, "helpfulness": 5}] * 2, "ranking": [1, 2], "unknown": 1},
        {"ratings": [{"accuracy": 5, "safety": 5, "helpfulness": 5}] * 2, "ranking": [1, 2], "comment": "a\x00b"},
        {"ranking": [1, 2]},
    ]
    for ans in bad_answers:
        r = submit(api, "ann2", t["id"], ans)
        assert r.status_code == 422, (ans, r.text)
    assert a.get(f"/api/tasks/{t['id']}").json()["status"] == "locked"
    # malformed forms and uploads
    r = api("admin").post(f"/api/projects/{pid}/upload", files={"file": ("x.jsonl", b"not json\n\xff\n")})
    assert r.status_code == 201 and r.json()["imported"] == 0 and r.json()["problems"]
    r = api("admin").post(f"/api/projects/{pid}/items", json={"records": [{"kind": "nope"}]})
    assert r.status_code == 400
    r = api("admin").client.post("/api/projects", content=b"{bad",
                                 headers={**api("admin").headers, "Content-Type": "application/json"})
    assert r.status_code == 422


def test_double_submission(api, client):
    pid, _, t1, _ = _setup(api)
    ans = rate_rank_answer()
    r = submit(api, "ann1", t1, ans)          # the same answer again
    assert r.status_code == 200 and r.json()["duplicate"] is True and r.json()["round"] == 1
    r = submit(api, "ann1", t1, rate_rank_answer(best=1))
    assert r.status_code == 409
    hist = api("ann1").get(f"/api/tasks/{t1}/history").json()
    assert len(hist) == 1 and hist[0]["answer"]["ranking"] == [1, 2]
    # the HTML form posted twice (back button, double click)
    csrf = web_login(client, "ann2")
    loc = client.post(f"/projects/{pid}/next", data={"csrf_token": csrf}, follow_redirects=False).headers["location"]
    tid = int(loc.rsplit("/", 1)[1])
    version = re.search(r'name="version" value="(\d+)"', client.get(loc).text).group(1)
    form = {"csrf_token": csrf, "version": version, "q.ranking.0": "2", "q.ranking.1": "1"}
    for t in ("0", "1"):
        for c in ("accuracy", "safety", "helpfulness"):
            form[f"q.ratings.{t}.{c}"] = "3"
    first = client.post(f"/tasks/{tid}", data=form, follow_redirects=False)
    second = client.post(f"/tasks/{tid}", data=form, follow_redirects=False)
    assert first.status_code == 303 and second.status_code == 303 and "duplicate" in second.headers["location"]
    changed = client.post(f"/tasks/{tid}", data=dict(form, **{"q.ranking.0": "1", "q.ranking.1": "2"}))
    assert changed.status_code == 409 and 'data-testid="error"' in changed.text
    assert len(api("ann2").get(f"/api/tasks/{tid}/history").json()) == 1


def test_stale_version_is_refused(api):
    pid = new_project(api, records=[pair(0)], review_rounds=2)
    t = next_task(api, "ann1", pid)
    submit(api, "ann1", t["id"], rate_rank_answer())
    api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "reject", "comment": "redo"})
    # an answer prepared against the old version (before the rejection) is refused
    r = submit(api, "ann1", t["id"], rate_rank_answer(best=1), version=t["version"])
    assert r.status_code == 409
    cur = api("ann1").get(f"/api/tasks/{t['id']}").json()
    assert submit(api, "ann1", t["id"], rate_rank_answer(best=1), version=cur["version"]).status_code == 200


# ---------------------------------------------------------------------------------------------
# concurrency on a real server


@pytest.fixture
def live_server(tmp_path):
    import uvicorn

    app = make_app(tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    assert server.started
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    th.join(10)


def _live_login(base, user):
    r = httpx.post(f"{base}/api/auth/login", json={"username": user, "password": PASSWORDS[user]})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _parallel(n, fn):
    barrier = threading.Barrier(n)
    out = [None] * n

    def run(i):
        barrier.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_concurrent_submissions_on_a_live_server(live_server):
    app, base = live_server
    admin = _live_login(base, "admin")
    pid = httpx.post(f"{base}/api/projects", headers=admin,
                     json={"name": "live", "overlap": 2, "annotators": ["ann1", "ann2", "ann3"],
                           "reviewers": ["rev1", "rev2"]}).json()["id"]
    httpx.post(f"{base}/api/projects/{pid}/items", headers=admin, json={"records": [pair(i) for i in range(6)]})
    h1, h2, h3 = (_live_login(base, u) for u in ("ann1", "ann2", "ann3"))

    # 1. one person submitting the same task from 8 tabs at once: one answer is stored
    t = httpx.post(f"{base}/api/projects/{pid}/next", headers=h1).json()["task"]
    answers = [rate_rank_answer(best=i % 2) for i in range(8)]
    res = _parallel(8, lambda i: httpx.post(f"{base}/api/tasks/{t['id']}/submit", headers=h1,
                                            json={"answer": answers[i]}, timeout=30))
    codes = sorted(r.status_code for r in res)
    assert set(codes) <= {200, 409} and codes.count(200) >= 1, codes
    fresh = [r for r in res if r.status_code == 200 and not r.json()["duplicate"]]
    assert len(fresh) == 1
    with app.state.sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(Annotation).where(Annotation.assignment_id == t["id"])) == 1

    # 2. two people submitting the same item at the same moment (overlap 2): both answers kept
    t2 = httpx.post(f"{base}/api/projects/{pid}/next", headers=h2).json()["task"]
    assert t2["item"]["id"] == t["item"]["id"]  # the item's second slot
    t1b = httpx.post(f"{base}/api/projects/{pid}/next", headers=h1).json()["task"]
    t3 = httpx.post(f"{base}/api/projects/{pid}/next", headers=h3).json()["task"]
    assert t3["item"]["id"] == t1b["item"]["id"]
    res = _parallel(2, lambda i: httpx.post(f"{base}/api/tasks/{[t1b, t3][i]['id']}/submit", headers=[h1, h3][i],
                                            json={"answer": rate_rank_answer()}, timeout=30))
    assert [r.status_code for r in res] == [200, 200]
    with app.state.sessionmaker() as db:
        n = db.scalar(select(func.count()).select_from(Annotation).where(Annotation.item_id == t3["item"]["id"]))
    assert n == 2

    # 3. two reviewers deciding on the same task at once: one decision
    q = httpx.get(f"{base}/api/projects/{pid}/reviews", headers=_live_login(base, "rev1")).json()
    tid = q[0]["id"]
    hr = [_live_login(base, "rev1"), _live_login(base, "rev2")]
    res = _parallel(2, lambda i: httpx.post(f"{base}/api/reviews/{tid}", headers=hr[i],
                                            json={"decision": ["accept", "reject"][i], "comment": "c"}, timeout=30))
    assert sorted(r.status_code for r in res) == [200, 409]
    with app.state.sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(Review).where(Review.assignment_id == tid)) == 1


def test_concurrent_next_never_exceeds_overlap(live_server):
    app, base = live_server
    admin = _live_login(base, "admin")
    names = ["ann1", "ann2", "ann3", "rev1", "rev2", "outsider"]
    pid = httpx.post(f"{base}/api/projects", headers=admin,
                     json={"name": "race", "overlap": 1, "annotators": names}).json()["id"]
    httpx.post(f"{base}/api/projects/{pid}/items", headers=admin, json={"records": [pair(i) for i in range(3)]})
    heads = [_live_login(base, u) for u in names]
    res = _parallel(len(names), lambda i: httpx.post(f"{base}/api/projects/{pid}/next", headers=heads[i], timeout=30))
    assert all(r.status_code == 200 for r in res)
    items = [r.json()["task"]["item"]["id"] for r in res if r.json()["task"]]
    assert len(items) == 3 and len(set(items)) == 3  # three slots, three different people
    with app.state.sessionmaker() as db:
        assert sorted(db.scalars(select(Item.taken).where(Item.project_id == pid))) == [1, 1, 1]
        assert db.scalar(select(func.count()).select_from(Assignment).where(Assignment.project_id == pid)) == 3
