"""Helpers for the annotation app tests (fixtures live in conftest.py): an app on a temporary
SQLite file with users, and small helpers to log in and drive the API and the HTML forms."""

from __future__ import annotations

import os
import re
import secrets

import pytest

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("argon2")

from fastapi.testclient import TestClient  # noqa: E402

from datamill.annotate import create_app  # noqa: E402
from datamill.annotate.auth import create_user  # noqa: E402
from pg_server import PostgresUnavailable, start_postgres  # noqa: E402

PASSWORDS = {"admin": "admin-pass-1", "ann1": "ann1-pass-1", "ann2": "ann2-pass-1", "ann3": "ann3-pass-1",
             "rev1": "rev1-pass-1", "rev2": "rev2-pass-1", "outsider": "outsider-pass-1"}
ROLES = {"admin": "admin", "ann1": "annotator", "ann2": "annotator", "ann3": "annotator", "rev1": "reviewer",
         "rev2": "reviewer", "outsider": "annotator"}


# DATAMILL_TEST_POSTGRES=1 (CI sets it): tests that take the ``app`` fixture with
# ``@pytest.mark.parametrize("app", BACKENDS, indirect=True)`` run on a throw-away PostgreSQL too
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("DATAMILL_TEST_POSTGRES") == "1" else [])


def make_app(tmp_path, db_url: str | None = None, **kwargs):
    kwargs.setdefault("fast_hash", True)
    app = create_app(db_url or f"sqlite:///{tmp_path / 'annotate.db'}", secret="test-secret", **kwargs)
    with app.state.writer() as db:
        for name, role in ROLES.items():
            create_user(db, name, PASSWORDS[name], role, hasher=app.state.settings.hasher)
        db.commit()
    return app


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL cluster for the session (:mod:`pg_server`); skips when it cannot be
    had without root, fails when ``DATAMILL_TEST_POSTGRES=1`` asked for it and it does not start."""
    pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' for the PostgreSQL run")
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        if "not running as root" in str(exc):
            pytest.skip(str(exc))
        pytest.fail(f"DATAMILL_TEST_POSTGRES=1 but {exc}")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def app(request, tmp_path):
    """The app on a fresh SQLite file, or (``parametrize("app", BACKENDS, indirect=True)``) on a
    fresh database of the session's PostgreSQL."""
    db_url = None
    if getattr(request, "param", "sqlite") == "postgresql":
        db_url = request.getfixturevalue("postgres_server").new_database(f"annotate_{secrets.token_hex(4)}")
    app = make_app(tmp_path, db_url, max_body=256 * 1024, max_upload=4 << 20)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


class Api:
    """Bearer-token calls as one user, on its own client (no cookies kept)."""

    def __init__(self, app, username: str):
        self.client = client = TestClient(app)
        r = client.post("/api/auth/login", json={"username": username, "password": PASSWORDS[username]})
        assert r.status_code == 200, r.text
        client.cookies.clear()
        self.token = r.json()["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def get(self, url, **kw):
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url, **kw):
        return self.client.post(url, headers=self.headers, **kw)

    def patch(self, url, **kw):
        return self.client.patch(url, headers=self.headers, **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self.headers, **kw)


@pytest.fixture
def api(app):
    cache: dict[str, Api] = {}

    def get(username: str) -> Api:
        if username not in cache:
            cache[username] = Api(app, username)
        return cache[username]

    yield get
    for a in cache.values():
        a.client.close()


def pair(i: int, prompt: str | None = None, score: float | None = None) -> dict:
    rec = {"id": f"pair-{i}", "kind": "preference",
           "messages": [{"role": "user", "content": prompt or f"Question {i}?"}],
           "chosen": [{"role": "assistant", "content": f"Good answer {i}."}],
           "rejected": [{"role": "assistant", "content": f"Bad answer {i}."}], "metadata": {}}
    if score is not None:
        rec["signals"] = {"score": score}
    return rec


def sft(i: int) -> dict:
    return {"id": f"sft-{i}", "kind": "sft", "metadata": {},
            "messages": [{"role": "user", "content": f"Explain thing {i}."},
                         {"role": "assistant", "content": f"Thing {i} is a thing."}]}


def ranked(i: int, n: int = 3) -> dict:
    return {"id": f"rank-{i}", "kind": "ranking", "metadata": {},
            "messages": [{"role": "user", "content": f"Rank me {i}"}],
            "responses": [{"messages": [{"role": "assistant", "content": f"reply {i}.{j}"}]} for j in range(n)]}


def new_project(api, name="p", template="rate_and_rank", records=None, overlap=1, review_rounds=1,
                annotators=("ann1", "ann2", "ann3"), reviewers=("rev1", "rev2"), **extra) -> int:
    admin = api("admin")
    body = {"name": name, "template": template, "overlap": overlap, "review_rounds": review_rounds,
            "annotators": list(annotators), "reviewers": list(reviewers), **extra}
    r = admin.post("/api/projects", json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    if records:
        r = admin.post(f"/api/projects/{pid}/items", json={"records": records})
        assert r.status_code == 201, r.text
    return pid


def next_task(api, user, pid):
    r = api(user).post(f"/api/projects/{pid}/next")
    assert r.status_code == 200, r.text
    return r.json()["task"]


def submit(api, user, task_id, answer, **kw):
    return api(user).post(f"/api/tasks/{task_id}/submit", json={"answer": answer, **kw})


def rate_rank_answer(best: int = 0, n: int = 2, good=(5, 5, 5), bad=(2, 4, 2), comment=""):
    """Response ``best`` rated ``good`` and ranked 1; the others rated ``bad`` and ranked after."""
    crits = ("accuracy", "safety", "helpfulness")
    ratings = [dict(zip(crits, good if i == best else bad)) for i in range(n)]
    order = [best] + [i for i in range(n) if i != best]
    return {"ratings": ratings, "ranking": [order.index(i) + 1 for i in range(n)], "comment": comment}


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no csrf_token in page"
    return m.group(1)


def web_login(client: TestClient, username: str) -> str:
    """Log ``client`` in through the HTML form; returns the session's CSRF token."""
    client.cookies.clear()
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": PASSWORDS[username],
                                    "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/projects").text)


def response_index(task: dict, text: str) -> int:
    """Which shown response contains ``text`` (the order is shuffled per item)."""
    for i, r in enumerate(task["item"]["view"]["responses"]):
        if any(text in m["content"] for m in r["messages"]):
            return i
    raise AssertionError(f"{text!r} not in task responses")
