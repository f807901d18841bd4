"""The JSON API, the admin pages and the CLI: login/sessions, users, projects from shared
datasets and templates, the dashboard, the OpenAPI spec."""

from __future__ import annotations

import os

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from annotate_helpers import (new_project, next_task, pair, rate_rank_answer, response_index, submit,
                      web_login)
from datamill.annotate.db import AuthSession, utcnow
from datamill.annotate.templates_catalog import TEMPLATES


def test_login_me_logout(client, api):
    r = client.post("/api/auth/login", json={"username": "ann1", "password": "wrong-password"})
    assert r.status_code == 401 and "token" not in r.text
    a = api("ann1")
    me = a.get("/api/me").json()
    assert me["user"]["username"] == "ann1" and me["user"]["role"] == "annotator" and "password" not in json.dumps(me)
    assert a.post("/api/auth/logout").status_code == 200
    assert a.get("/api/me").status_code == 401


def test_session_expiry(client, api, app):
    a = api("ann1")
    assert a.get("/api/me").status_code == 200
    with app.state.writer() as db:
        db.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    assert a.get("/api/me").status_code == 401
    csrf = web_login(client, "ann1")
    assert csrf
    with app.state.writer() as db:
        db.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()
    r = client.get("/projects", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_users_admin(api, client):
    admin = api("admin")
    r = admin.post("/api/users", json={"username": "newbie", "password": "newbie-pass", "role": "annotator"})
    assert r.status_code == 201 and r.json()["role"] == "annotator"
    assert admin.post("/api/users", json={"username": "newbie", "password": "newbie-pass"}).status_code == 400
    assert admin.post("/api/users", json={"username": "x", "password": "short"}).status_code == 422
    assert admin.post("/api/users", json={"username": "bad name!", "password": "long-enough"}).status_code == 400
    uid = r.json()["id"]
    assert client.post("/api/auth/login", json={"username": "newbie", "password": "newbie-pass"}).status_code == 200
    client.cookies.clear()
    assert admin.patch(f"/api/users/{uid}", json={"active": False}).json()["active"] is False
    assert client.post("/api/auth/login", json={"username": "newbie", "password": "newbie-pass"}).status_code == 401
    me_id = admin.get("/api/me").json()["user"]["id"]
    assert admin.patch(f"/api/users/{me_id}", json={"role": "annotator"}).status_code == 400
    names = [u["username"] for u in admin.get("/api/users").json()]
    assert "newbie" in names and "ann1" in names


def test_templates_catalog(api):
    names = [t["name"] for t in api("ann1").get("/api/templates").json()]
    assert names == list(TEMPLATES)
    for n in ("rate_and_rank", "write_better_answer", "oa_prompt_writing", "oa_prompt_review", "oa_reply_writing",
              "oa_reply_review", "oa_ranking"):
        assert n in names


def test_project_visibility(api):
    p1 = new_project(api, name="one", records=[pair(0)], annotators=("ann1",), reviewers=("rev1",))
    p2 = new_project(api, name="two", records=[pair(1)], annotators=("ann2",), reviewers=("rev2",))
    assert [p["id"] for p in api("ann1").get("/api/projects").json()] == [p1]
    assert [p["id"] for p in api("rev2").get("/api/projects").json()] == [p2]
    assert {p["id"] for p in api("admin").get("/api/projects").json()} == {p1, p2}
    assert api("outsider").get("/api/projects").json() == []
    detail = api("ann1").get(f"/api/projects/{p1}").json()
    assert detail["my_roles"] == ["annotator"] and "annotators" not in detail   # member lists: reviewers/admins
    assert api("rev1").get(f"/api/projects/{p1}").json()["annotators"] == ["ann1"]


def test_custom_schema_and_bad_schema(api):
    schema = {"instructions": "Label it", "questions": [
        {"id": "topic", "type": "labels", "options": ["a", "b", "c"], "multi": True},
        {"id": "note", "type": "comment"}]}
    pid = new_project(api, name="custom", question_schema=schema, records=[{"id": "d1", "text": "doc"}])
    t = next_task(api, "ann1", pid)
    assert submit(api, "ann1", t["id"], {"topic": ["c", "a"]}).json()["status"] == "submitted"
    assert api("ann1").get(f"/api/tasks/{t['id']}").json()["answer"] == {"topic": ["a", "c"], "note": ""}
    r = api("admin").post("/api/projects", json={"name": "bad", "question_schema": {"questions": [{"id": "X"}]}})
    assert r.status_code == 400 and "questions[0].id" in r.json()["detail"]
    r = api("admin").post("/api/projects", json={"name": "bad2", "template": "nope"})
    assert r.status_code == 400 and "unknown template" in r.json()["detail"]


@pytest.mark.parametrize("rel,kind,n_resp", [
    ("preference/llamafactory/dpo_en_demo.json", "preference", 2),
    ("preference/llamafactory/kto_en_demo.json", "kto", 1),
    ("instruction_sft/llamafactory/alpaca_en_demo.json", "sft", 1),
    ("instruction_sft/llamafactory/c4_demo.jsonl", "document", 0),
])
def test_import_shared_datasets_by_path(app, api, shared_data, rel, kind, n_resp):
    app.state.settings.data_roots = [os.path.realpath(shared_data)]  # the default root is the working folder
    pid = new_project(api, name=kind)
    r = api("admin").post(f"/api/projects/{pid}/items", json={"path": str(shared_data / rel)})
    assert r.status_code == 201, r.text
    assert r.json()["imported"] > 10
    t = next_task(api, "ann1", pid)
    assert t["item"]["view"]["kind"] == kind and len(t["item"]["view"]["responses"]) == n_resp


def test_upload_hh_rlhf_and_annotate(api, shared_data):
    pid = new_project(api, name="hh")
    data = (shared_data / "preference/hh-rlhf/harmless-base/test.jsonl.gz").read_bytes()
    r = api("admin").post(f"/api/projects/{pid}/upload", files={"file": ("test.jsonl.gz", data)})
    assert r.status_code == 201, r.text
    assert r.json()["imported"] > 100
    t = next_task(api, "ann1", pid)
    assert len(t["item"]["view"]["prompt"]) >= 1 and len(t["item"]["view"]["responses"]) == 2
    assert submit(api, "ann1", t["id"], rate_rank_answer()).status_code == 200


def test_admin_creates_project_with_upload_form(client, api, shared_data):
    csrf = web_login(client, "admin")
    page = client.get("/admin/projects/new")
    for tid in ("project-form", "project-name", "project-template", "project-file", "project-create"):
        assert f'data-testid="{tid}"' in page.text
    data = (shared_data / "preference/llamafactory/dpo_en_demo.json").read_bytes()
    r = client.post(f"/admin/projects?csrf_token={csrf}", data={"csrf_token": csrf, "name": "Web project", "template": "rate_and_rank",
                                             "overlap": "2", "review_rounds": "1", "lock_minutes": "30",
                                             "annotators": "ann1, ann2", "reviewers": "rev1",
                                             "active_learning": "on"},
                    files={"file": ("dpo_en_demo.json", data)}, follow_redirects=False)
    assert r.status_code == 303, r.text
    manage = client.get(r.headers["location"])
    assert 'data-testid="member-row-ann1-annotator"' in manage.text and 'data-testid="member-row-rev1-reviewer"' in manage.text
    pid = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    assert api("ann2").get(f"/api/projects/{pid}").json()["remaining_for_me"] > 100
    # errors keep what was typed
    r = client.post("/admin/projects", data={"csrf_token": csrf, "name": "Web project", "template": "rate_and_rank",
                                             "description": "kept text"})
    assert r.status_code == 400 and "exists already" in r.text and "kept text" in r.text
    r = client.post("/admin/projects", data={"csrf_token": csrf, "name": "bad json", "schema_json": "{nope"})
    assert r.status_code == 400 and "not valid JSON" in r.text


def test_admin_user_pages(client):
    csrf = web_login(client, "admin")
    page = client.get("/admin/users")
    assert 'data-testid="user-row-ann1"' in page.text and 'data-testid="user-create-form"' in page.text
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "webuser", "password": "webuser-pass",
                                          "role": "reviewer"}, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-testid="user-row-webuser"' in client.get("/admin/users").text


def test_dashboard_progress_and_agreement(api, client):
    pid = new_project(api, records=[pair(i) for i in range(4)], overlap=2, review_rounds=0)
    for u in ("ann1", "ann2"):
        while (t := next_task(api, u, pid)) is not None:
            submit(api, u, t["id"], rate_rank_answer(best=response_index(t, "Good")))
    d = api("rev1").get(f"/api/projects/{pid}/dashboard").json()
    assert d["progress"]["items"] == 4 and d["progress"]["complete"] == 4 and d["progress"]["percent_complete"] == 100
    assert d["progress"]["annotators"] == {"ann1": {"accepted": 4}, "ann2": {"accepted": 4}}
    q = d["agreement"]["questions"]
    assert d["agreement"]["error"] is None
    assert q["ranking"]["n_annotators"] == 2 and q["ranking"]["krippendorff_alpha"] == pytest.approx(1.0)
    assert "ratings.accuracy" in q
    assert api("ann1").get(f"/api/projects/{pid}/dashboard").status_code == 403
    web_login(client, "rev1")
    page = client.get(f"/projects/{pid}/dashboard")
    assert page.status_code == 200 and 'data-testid="agreement-row-ranking"' in page.text
    assert 'data-testid="progress-percent">100.0<' in page.text


def test_openapi_documents_every_action(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [("/api/auth/login", "post"), ("/api/auth/logout", "post"), ("/api/me", "get"),
                         ("/api/users", "post"), ("/api/users/{user_id}", "patch"), ("/api/projects", "post"),
                         ("/api/projects/{project_id}/items", "post"), ("/api/projects/{project_id}/upload", "post"),
                         ("/api/projects/{project_id}/members", "post"), ("/api/projects/{project_id}/next", "post"),
                         ("/api/tasks/{task_id}/submit", "post"), ("/api/tasks/{task_id}/skip", "post"),
                         ("/api/projects/{project_id}/reviews", "get"), ("/api/reviews/{task_id}", "post"),
                         ("/api/projects/{project_id}/dashboard", "get"), ("/api/projects/{project_id}/export", "get"),
                         ("/api/templates", "get"), ("/api/tasks/{task_id}/history", "get")]:
        assert method in paths.get(path, {}), (path, method)
    assert not any(p.startswith("/admin") or p == "/login" for p in paths)  # HTML pages are not API


def test_cli_users_projects_import(tmp_path, shared_data):
    from datamill.cli import main

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner().invoke
    r = run(main, ["annotate", "create-user", "boss", "--role", "admin", "--password", "boss-pass-1", "--db", db])
    assert r.exit_code == 0, r.output
    r = run(main, ["annotate", "create-user", "worker", "--password", "worker-pass", "--db", db])
    assert r.exit_code == 0
    r = run(main, ["annotate", "create-user", "worker", "--password", "worker-pass", "--db", db])
    assert r.exit_code == 2 and "exists already" in r.output
    r = run(main, ["annotate", "create-project", "cli", "--template", "oa_reply_review", "--annotators", "worker",
                   "--data", str(shared_data / "preference/llamafactory/kto_en_demo.json"), "--overlap", "2", "--db", db])
    assert r.exit_code == 0 and "items" in r.output, r.output
    r = run(main, ["annotate", "import", "cli", str(shared_data / "preference/llamafactory/v1_dpo_demo.jsonl"),
                   "--db", db])
    assert r.exit_code == 0 and "imported" in r.output, r.output
    r = run(main, ["annotate", "add-member", "cli", "boss", "--role", "reviewer", "--db", db])
    assert r.exit_code == 0
    r = run(main, ["annotate", "create-project", "x", "--template", "nope", "--db", db])
    assert r.exit_code == 2 and "unknown template" in r.output
    r = run(main, ["annotate", "status", "cli", "--json", "--db", db])
    assert r.exit_code == 0 and json.loads(r.output)["progress"]["items"] > 10
    r = run(main, ["annotate", "templates"])
    assert "oa_ranking" in r.output
