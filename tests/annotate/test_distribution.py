"""Task distribution: overlap k, locks and their expiry, skip, never twice, uncertainty order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from annotate_helpers import BACKENDS, new_project, next_task, pair, rate_rank_answer, submit
from datamill.annotate.db import Assignment, Item, utcnow
from datamill.annotate.questions import score_and_uncertainty, uncertainty_from_score


# every test that takes ``app`` runs on SQLite and, with DATAMILL_TEST_POSTGRES=1, on PostgreSQL
# (where fetches, submissions and lock sweeps take the one-statement path of distribution_pg)
on_both = pytest.mark.parametrize("app", BACKENDS, indirect=True)


def _expire_all_locks(app):
    with app.state.writer() as db:
        db.execute(update(Assignment).where(Assignment.status == "locked")
                   .values(locked_until=utcnow() - timedelta(seconds=1)))
        db.commit()


def _drain(api, user, pid, limit=100):
    """Answer every task ``user`` can get; returns the item external ids in order."""
    seen = []
    for _ in range(limit):
        t = next_task(api, user, pid)
        if t is None:
            return seen
        seen.append(t["item"]["external_id"])
        assert submit(api, user, t["id"], rate_rank_answer()).status_code == 200
    raise AssertionError("queue never ran dry")


@on_both
def test_overlap_k_and_never_twice(api):
    pid = new_project(api, records=[pair(i) for i in range(5)], overlap=2)
    got = {u: _drain(api, u, pid) for u in ("ann1", "ann2", "ann3")}
    for u, items in got.items():
        assert len(items) == len(set(items)), f"{u} saw an item twice"
    counts = {}
    for items in got.values():
        for it in items:
            counts[it] = counts.get(it, 0) + 1
    assert counts == {f"pair-{i}": 2 for i in range(5)}  # every item exactly k times
    assert len(got["ann1"]) == 5 and len(got["ann2"]) == 5 and got["ann3"] == []


@on_both
def test_lock_is_kept_and_returned_again(api):
    pid = new_project(api, records=[pair(i) for i in range(3)])
    t1 = next_task(api, "ann1", pid)
    t2 = next_task(api, "ann1", pid)
    assert t1["id"] == t2["id"] and t1["status"] == "locked" and t1["locked_until"]
    # the locked item is not given to someone else (overlap 1)
    other = next_task(api, "ann2", pid)
    assert other["item"]["external_id"] != t1["item"]["external_id"]


@on_both
def test_abandoned_lock_expires_and_goes_to_someone_else(api, app):
    pid = new_project(api, records=[pair(0)], overlap=1)
    t1 = next_task(api, "ann1", pid)
    assert next_task(api, "ann2", pid) is None  # the only slot is locked
    _expire_all_locks(app)
    t2 = next_task(api, "ann2", pid)
    assert t2 is not None and t2["item"]["external_id"] == "pair-0"
    # the first annotator is not given the same item again
    assert next_task(api, "ann1", pid) is None
    mine = api("ann1").get(f"/api/tasks/{t1['id']}").json()
    assert mine["status"] == "expired"
    # a late answer on the expired lock is still kept (nothing lost)
    r = submit(api, "ann1", t1["id"], rate_rank_answer())
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    assert submit(api, "ann2", t2["id"], rate_rank_answer()).status_code == 200


@on_both
def test_skip_never_shown_again_and_frees_the_slot(api):
    pid = new_project(api, records=[pair(0), pair(1)], overlap=1)
    t = next_task(api, "ann1", pid)
    r = api("ann1").post(f"/api/tasks/{t['id']}/skip")
    assert r.status_code == 200 and r.json()["status"] == "skipped"
    t2 = next_task(api, "ann1", pid)
    assert t2["item"]["external_id"] != t["item"]["external_id"]
    # the skipped item is free for another annotator
    t3 = next_task(api, "ann2", pid)
    assert t3["item"]["external_id"] == t["item"]["external_id"]
    # skipping twice, or skipping a submitted task, is refused
    assert api("ann1").post(f"/api/tasks/{t['id']}/skip").status_code == 409
    submit(api, "ann1", t2["id"], rate_rank_answer())
    assert api("ann1").post(f"/api/tasks/{t2['id']}/skip").status_code == 409


@on_both
def test_uncertainty_orders_the_queue(api):
    scores = [0.99, 0.05, 0.52, 0.7, 0.4]
    pid = new_project(api, records=[pair(i, score=s) for i, s in enumerate(scores)])
    order = _drain(api, "ann1", pid)
    # most uncertain (closest to 0.5) first
    expected = [f"pair-{i}" for i in sorted(range(5), key=lambda i: abs(scores[i] - 0.5))]
    assert order == expected


@on_both
def test_dataset_order_without_active_learning_or_scores(api):
    pid = new_project(api, name="plain", records=[pair(i, score=s) for i, s in enumerate([0.9, 0.5, 0.1])],
                      active_learning=False)
    assert _drain(api, "ann1", pid) == ["pair-0", "pair-1", "pair-2"]
    pid2 = new_project(api, name="noscore", records=[pair(i) for i in range(3)])
    assert _drain(api, "ann1", pid2) == ["pair-0", "pair-1", "pair-2"]


@on_both
def test_scored_items_before_unscored(api):
    recs = [pair(0), pair(1, score=0.9), pair(2)]
    pid = new_project(api, records=recs)
    assert _drain(api, "ann1", pid)[0] == "pair-1"


def test_uncertainty_functions():
    assert uncertainty_from_score(0.5) == 1.0
    assert uncertainty_from_score(0.0) == 0.0 and uncertainty_from_score(1.0) == 0.0
    assert uncertainty_from_score(3.0) == 0.25  # a margin: 1 / (1 + |s|)
    assert score_and_uncertainty({"metadata": {"prob": 0.25}}) == (0.25, 0.5)
    assert score_and_uncertainty({"signals": {"uncertainty": 0.9, "score": 0.1}}) == (0.1, 0.9)
    assert score_and_uncertainty({"x": {"y": 0.5}}, "x.y") == (0.5, 1.0)
    assert score_and_uncertainty({"score": "nan"}) == (None, None)
    assert score_and_uncertainty({}) == (None, None)


@on_both
def test_remaining_counts_and_slots(api, app):
    pid = new_project(api, records=[pair(i) for i in range(4)], overlap=2)
    assert api("ann1").get(f"/api/projects/{pid}").json()["remaining_for_me"] == 4
    t = next_task(api, "ann1", pid)
    submit(api, "ann1", t["id"], rate_rank_answer())
    assert api("ann1").get(f"/api/projects/{pid}").json()["remaining_for_me"] == 3
    with app.state.sessionmaker() as db:
        taken = dict(db.execute(select(Item.external_id, Item.taken).where(Item.project_id == pid)).all())
    assert taken[t["item"]["external_id"]] == 1 and sum(taken.values()) == 1


@on_both
def test_annotator_needs_membership(api):
    pid = new_project(api, records=[pair(0)], annotators=("ann1",))
    assert api("ann2").post(f"/api/projects/{pid}/next").status_code == 404
    # an admin who is not an annotator member cannot take slots by accident
    assert api("admin").post(f"/api/projects/{pid}/next").status_code == 403
