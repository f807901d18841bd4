"""Review rounds: accept, fix and accept, reject with a comment back to the annotator, round
limits, full history, through the API and the HTML forms."""

from __future__ import annotations

import re

from annotate_helpers import (new_project, next_task, pair, rate_rank_answer, response_index, sft, submit,
                      web_login)


def _submitted(api, pid, user="ann1", answer=None):
    t = next_task(api, user, pid)
    r = submit(api, user, t["id"], answer or rate_rank_answer(best=response_index(t, "Good")))
    assert r.status_code == 200, r.text
    return t


def test_accept(api):
    pid = new_project(api, records=[pair(0)])
    t = _submitted(api, pid)
    queue = api("rev1").get(f"/api/projects/{pid}/reviews").json()
    assert [q["id"] for q in queue] == [t["id"]] and queue[0]["annotator"] == "ann1"
    r = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "accept", "round": 1})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert api("rev1").get(f"/api/projects/{pid}/reviews").json() == []
    # a second decision on the same round is refused
    assert api("rev2").post(f"/api/reviews/{t['id']}", json={"decision": "accept"}).status_code == 409


def test_fix_and_accept_keeps_both(api):
    pid = new_project(api, template="write_better_answer", records=[sft(0)])
    t = next_task(api, "ann1", pid)
    assert submit(api, "ann1", t["id"], {"rewrite": "draft answer"}).status_code == 200
    r = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "fix", "answer": {"rewrite": "fixed answer"}})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    hist = api("rev1").get(f"/api/tasks/{t['id']}/history").json()
    assert [h["type"] for h in hist] == ["submission", "review"]
    assert hist[0]["answer"]["rewrite"] == "draft answer" and hist[1]["fixed_answer"]["rewrite"] == "fixed answer"
    sft_out = api("admin").get(f"/api/projects/{pid}/export?kind=sft").json()["records"]
    assert sft_out[0]["messages"][-1]["content"] == "fixed answer"
    # a fix that does not fit the schema is refused and nothing changes
    t2 = next_task(api, "ann2", pid)
    assert t2 is None  # overlap 1, single item


def test_bad_fix_refused(api):
    pid = new_project(api, records=[pair(0)])
    t = _submitted(api, pid)
    r = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "fix", "answer": {"ranking": [1, 1]}})
    assert r.status_code == 422
    assert api("rev1").get(f"/api/reviews/{t['id']}").json()["status"] == "submitted"


def test_reject_sends_back_for_rework_then_accept(api):
    pid = new_project(api, records=[pair(0), pair(1)], review_rounds=2)
    t = _submitted(api, pid)
    assert api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "reject"}).status_code == 422  # no comment
    r = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "reject", "comment": "Rank again, A is wrong."})
    assert r.status_code == 200 and r.json()["status"] == "rework"
    # the annotator gets the rework first, with the comment
    again = next_task(api, "ann1", pid)
    assert again["id"] == t["id"] and again["status"] == "rework"
    assert again["review_comment"] == "Rank again, A is wrong."
    r = submit(api, "ann1", t["id"], rate_rank_answer(best=response_index(t, "Good"), comment="fixed"))
    assert r.status_code == 200 and r.json()["round"] == 2
    r = api("rev2").post(f"/api/reviews/{t['id']}", json={"decision": "accept", "round": 2})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    hist = api("ann1").get(f"/api/tasks/{t['id']}/history").json()
    assert [(h["type"], h["round"]) for h in hist] == [("submission", 1), ("review", 1), ("submission", 2),
                                                         ("review", 2)]
    assert hist[1]["decision"] == "reject" and hist[3]["decision"] == "accept"


def test_last_round_rejection_is_final_and_frees_the_slot(api):
    pid = new_project(api, records=[pair(0)], review_rounds=1)
    t = _submitted(api, pid)
    r = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "reject", "comment": "spam"})
    assert r.json()["status"] == "rejected"
    assert submit(api, "ann1", t["id"], rate_rank_answer(comment="again")).status_code == 409
    t2 = next_task(api, "ann2", pid)
    assert t2 is not None and t2["item"]["external_id"] == "pair-0"


def test_stale_round_and_concurrent_reviewers(api):
    pid = new_project(api, records=[pair(0)], review_rounds=3)
    t = _submitted(api, pid)
    assert api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "accept", "round": 2}).status_code == 409
    ok = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "reject", "comment": "again", "round": 1})
    late = api("rev2").post(f"/api/reviews/{t['id']}", json={"decision": "accept", "round": 1})
    assert ok.status_code == 200 and late.status_code == 409


def test_no_review_rounds_auto_accepts(api):
    pid = new_project(api, records=[pair(0)], review_rounds=0)
    t = next_task(api, "ann1", pid)
    r = submit(api, "ann1", t["id"], rate_rank_answer())
    assert r.json()["status"] == "accepted"
    assert api("rev1").get(f"/api/projects/{pid}/reviews").json() == []


def test_review_permissions(api):
    pid = new_project(api, records=[pair(0)], reviewers=("rev1",), annotators=("ann1", "rev2"))
    t = _submitted(api, pid)
    assert api("ann2").get(f"/api/reviews/{t['id']}").status_code == 404      # annotator
    assert api("ann1").get(f"/api/reviews/{t['id']}").status_code == 404      # own task
    assert api("rev2").get(f"/api/reviews/{t['id']}").status_code == 404      # reviewer of another project
    assert api("rev2").get(f"/api/projects/{pid}/reviews").status_code == 403  # member, not a reviewer
    assert api("ann2").get(f"/api/projects/{pid}/reviews").status_code == 404  # not a member at all
    assert api("admin").get(f"/api/reviews/{t['id']}").status_code == 200     # admins review everything
    # reviewers see where each response came from; annotators do not
    rv = api("rev1").get(f"/api/reviews/{t['id']}").json()
    assert {r["origin"] for r in rv["item"]["view"]["responses"]} == {"chosen", "rejected"}
    mine = api("ann1").get(f"/api/tasks/{t['id']}").json()
    assert all("origin" not in r for r in mine["item"]["view"]["responses"])


def test_review_rounds_through_html_forms(client, api):
    pid = new_project(api, records=[pair(0)], review_rounds=2)
    # annotator answers through the form
    csrf = web_login(client, "ann1")
    r = client.post(f"/projects/{pid}/next", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/tasks/")
    tid = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/tasks/{tid}")
    assert 'data-testid="task-form"' in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    form = {"csrf_token": csrf, "version": version, "q.ranking.0": "1", "q.ranking.1": "2", "q.comment": "first try"}
    for t in ("0", "1"):
        for c in ("accuracy", "safety", "helpfulness"):
            form[f"q.ratings.{t}.{c}"] = "4"
    # a bad answer shows the form again with what was typed
    bad = dict(form, **{"q.ranking.1": "1"})
    r = client.post(f"/tasks/{tid}", data=bad)
    assert r.status_code == 422 and "first try" in r.text and 'data-testid="error"' in r.text
    r = client.post(f"/tasks/{tid}", data=form, follow_redirects=False)
    assert r.status_code == 303 and "msg=submitted" in r.headers["location"]
    # reviewer rejects through the form
    csrf_r = web_login(client, "rev1")
    queue = client.get(f"/projects/{pid}/review")
    assert f'data-testid="review-row-{tid}"' in queue.text
    page = client.get(f"/reviews/{tid}")
    assert 'data-testid="review-form"' in page.text and "first try" in page.text
    r = client.post(f"/reviews/{tid}", data={"csrf_token": csrf_r, "round": "1", "decision": "reject",
                                             "comment": "Please explain your ranking."}, follow_redirects=False)
    assert r.status_code == 303
    # the annotator sees the comment, resubmits
    csrf = web_login(client, "ann1")
    page = client.get(f"/tasks/{tid}")
    assert 'data-testid="rework-comment"' in page.text and "Please explain your ranking." in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    r = client.post(f"/tasks/{tid}", data=dict(form, csrf_token=csrf, version=version, **{"q.comment": "explained"}),
                    follow_redirects=False)
    assert r.status_code == 303
    # reviewer fixes and accepts
    csrf_r = web_login(client, "rev1")
    fix = {"csrf_token": csrf_r, "round": "2", "decision": "fix", "q.ranking.0": "2", "q.ranking.1": "1",
           "q.comment": "reviewer fixed"}
    for t in ("0", "1"):
        for c in ("accuracy", "safety", "helpfulness"):
            fix[f"q.ratings.{t}.{c}"] = "3"
    r = client.post(f"/reviews/{tid}", data=fix, follow_redirects=False)
    assert r.status_code == 303
    hist = api("admin").get(f"/api/tasks/{tid}/history").json()
    assert [h.get("decision") for h in hist if h["type"] == "review"] == ["reject", "fix"]
    assert hist[-1]["fixed_answer"]["ranking"] == [2, 1]
    page = client.get(f"/reviews/{tid}")
    assert 'data-testid="review-history"' in page.text and 'data-testid="review-form"' not in page.text
