"""Round trips per request, and the rules under concurrency, on SQLite and (``DATAMILL_TEST_POSTGRES=1``)
PostgreSQL, where a fetch, a submission and a lock sweep are one statement each
(:mod:`datamill.annotate.distribution_pg`)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from annotate_helpers import BACKENDS, Api, new_project, next_task, pair, rate_rank_answer, submit
from datamill.annotate.db import HOLDS_SLOT, Annotation, Assignment, Event, Item, utcnow

on_both = pytest.mark.parametrize("app", BACKENDS, indirect=True)


class Statements:
    """Counts what a request sends to the database: statements (``before_cursor_execute``) and
    transaction commits."""

    def __init__(self, engine):
        self.engine, self.sql, self.commits = engine, [], 0
        event.listen(engine, "before_cursor_execute", self._stmt)
        event.listen(engine, "commit", self._commit)

    def _stmt(self, conn, cursor, statement, params, context, executemany):
        self.sql.append(statement)

    def _commit(self, conn):
        self.commits += 1

    def reset(self):
        self.sql.clear()
        self.commits = 0

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._stmt)
        event.remove(self.engine, "commit", self._commit)


@on_both
def test_round_trips_per_fetch_and_submit(app, api, monkeypatch):
    from datamill.annotate import distribution

    pid = new_project(api, records=[pair(i) for i in range(5)], overlap=2)
    next_task(api, "ann2", pid)   # warm: the lock sweep has run
    # the sweep runs at most once a second: on a slow machine the counted fetch could start in
    # the next second and count it too; counted here are the per-request statements only
    monkeypatch.setattr(distribution, "EXPIRE_EVERY", 3600.0)
    api("ann1")                   # logged in before counting
    count = Statements(app.state.engine)
    try:
        count.reset()
        t = next_task(api, "ann1", pid)
        fetch, fetch_commits = list(count.sql), count.commits
        count.reset()
        assert submit(api, "ann1", t["id"], rate_rank_answer()).status_code == 200
        sub, sub_commits = list(count.sql), count.commits
    finally:
        count.close()
    if app.state.engine.dialect.name == "postgresql":
        # session, project + roles, then one statement that picks, takes, assigns and logs;
        # autocommit: no BEGIN/COMMIT round trips
        assert len(fetch) == 3 and fetch[-1].lstrip().startswith("WITH"), fetch
        assert len(sub) == 3 and sub[-1].lstrip().startswith("WITH"), sub
        assert fetch_commits == 0 and sub_commits == 0
    else:  # SQLite keeps the portable path (BEGIN IMMEDIATE is counted as a statement here)
        assert len(fetch) <= 10 and len(sub) <= 7, (fetch, sub)
    with app.state.sessionmaker() as db:
        a = db.get(Assignment, t["id"])
        assert (a.status, a.round, a.version, a.locked_until) == ("submitted", 1, 1, None)
        ann = db.scalar(select(Annotation).where(Annotation.assignment_id == a.id))
        assert ann.answer == rate_rank_answer() and ann.round == 1 and ann.user_id == a.user_id
        events = Counter(db.scalars(select(Event.action).where(Event.assignment_id == a.id)))
        assert events == {"assign": 1, "submit": 1}
        detail = db.scalar(select(Event.detail).where(Event.assignment_id == a.id, Event.action == "assign"))
        assert detail == {"item_id": a.item_id}
        detail = db.scalar(select(Event.detail).where(Event.assignment_id == a.id, Event.action == "submit"))
        assert detail == {"round": 1}


@on_both
def test_many_annotators_at_once_never_over_assign_nor_lose(app, api):
    """Eight annotators fetch and submit at the same time until the queue is dry: every item ends
    with exactly ``overlap`` answers, ``taken`` matches, nobody saw an item twice, every
    acknowledged answer is stored."""
    users = ["ann1", "ann2", "ann3", "rev1", "rev2", "outsider", "admin"]
    pid = new_project(api, records=[pair(i) for i in range(24)], overlap=3, annotators=tuple(users),
                      review_rounds=0)
    clients = {u: Api(app, u) for u in users}
    acked: dict[str, list[int]] = {u: [] for u in users}
    errors: list[str] = []
    barrier = threading.Barrier(len(users))

    def work(u: str) -> None:
        c = clients[u]
        barrier.wait()
        for _ in range(60):
            r = c.post(f"/api/projects/{pid}/next")
            if r.status_code != 200:
                errors.append(f"{u} fetch {r.status_code} {r.text}")
                return
            t = r.json()["task"]
            if t is None:
                return
            r = c.post(f"/api/tasks/{t['id']}/submit", json={"answer": rate_rank_answer()})
            if r.status_code != 200 or r.json()["duplicate"]:
                errors.append(f"{u} submit {r.status_code} {r.text}")
                return
            acked[u].append(t["id"])

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    for c in clients.values():
        c.client.close()
    assert not errors, errors[:3]
    with app.state.sessionmaker() as db:
        rows = db.execute(select(Assignment.item_id, Assignment.user_id, Assignment.status)
                          .where(Assignment.project_id == pid)).all()
        taken = dict(db.execute(select(Item.id, Item.taken).where(Item.project_id == pid)).all())
        stored = set(db.scalars(select(Annotation.assignment_id)))
    holders = Counter(i for i, _, s in rows if s in HOLDS_SLOT)
    assert len(rows) == 24 * 3 and set(holders.values()) == {3}          # every item exactly k times
    assert taken == dict(holders)
    assert len({(i, u) for i, u, _ in rows}) == len(rows)                  # nobody twice
    assert stored == {a for ids in acked.values() for a in ids} and len(stored) == 72


@on_both
def test_the_same_answer_twice_at_once_is_stored_once(app, api):
    pid = new_project(api, records=[pair(0)])
    t = next_task(api, "ann1", pid)
    clients = [Api(app, "ann1") for _ in range(4)]
    answers = [rate_rank_answer(), rate_rank_answer(), rate_rank_answer(), rate_rank_answer(best=1)]
    results: list = [None] * 4
    barrier = threading.Barrier(4)

    def go(i: int) -> None:
        barrier.wait()
        results[i] = clients[i].post(f"/api/tasks/{t['id']}/submit", json={"answer": answers[i]})

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for c in clients:
        c.client.close()
    codes = [r.status_code for r in results]
    fresh = [r for r in results if r.status_code == 200 and not r.json()["duplicate"]]
    assert len(fresh) == 1 and set(codes) <= {200, 409}
    with app.state.sessionmaker() as db:
        anns = list(db.scalars(select(Annotation).where(Annotation.assignment_id == t["id"])))
    assert len(anns) == 1 and anns[0].id == fresh[0].json()["annotation_id"]


@on_both
def test_one_sweep_expires_every_lock_of_an_item_and_late_answers_take_a_slot_again(app, api):
    pid = new_project(api, records=[pair(0), pair(1)], overlap=2)
    t1, t2 = next_task(api, "ann1", pid), next_task(api, "ann2", pid)
    assert t1["item"]["id"] == t2["item"]["id"]        # both slots of the first item
    with app.state.writer() as db:
        db.execute(update(Assignment).where(Assignment.status == "locked")
                   .values(locked_until=utcnow() - timedelta(seconds=1)))
        db.commit()
    from datamill.annotate.distribution import expire_locks

    with app.state.writer() as db:
        assert expire_locks(db, pid) == 2
        db.commit()
    with app.state.sessionmaker() as db:
        assert db.scalar(select(Item.taken).where(Item.id == t1["item"]["id"])) == 0
        assert db.scalar(select(func.count()).select_from(Event).where(Event.action == "expire",
                                                                      Event.project_id == pid)) == 2
        assert {a.status for a in db.scalars(select(Assignment))} == {"expired"}
    # the freed item goes to the third annotator; the late answers are kept and take a slot again
    t3 = next_task(api, "ann3", pid)
    assert t3["item"]["id"] == t1["item"]["id"]
    for user, t in (("ann1", t1), ("ann2", t2)):
        r = submit(api, user, t["id"], rate_rank_answer())
        assert r.status_code == 200 and r.json()["status"] == "submitted"
    with app.state.sessionmaker() as db:
        assert db.scalar(select(Item.taken).where(Item.id == t1["item"]["id"])) == 3   # k + 1 late answer: documented
    # a second sweep finds nothing
    with app.state.writer() as db:
        assert expire_locks(db, pid) == 0


@on_both
def test_rework_comes_back_before_new_items(app, api):
    pid = new_project(api, records=[pair(0), pair(1), pair(2)], annotators=("ann1",), review_rounds=2)
    t = next_task(api, "ann1", pid)
    assert submit(api, "ann1", t["id"], rate_rank_answer()).status_code == 200
    r = api("rev1").post(f"/api/reviews/{t['id']}", json={"decision": "reject", "comment": "again"})
    assert r.json()["status"] == "rework"
    back = next_task(api, "ann1", pid)
    assert back["id"] == t["id"] and back["status"] == "rework" and back["review_comment"] == "again"
    assert back["answer"] == rate_rank_answer()
    r = submit(api, "ann1", t["id"], rate_rank_answer(best=1), version=back["version"])
    assert r.status_code == 200 and r.json()["round"] == 2


@pytest.mark.parametrize("app", [b for b in BACKENDS if b == "postgresql"] or
                         [pytest.param("postgresql", marks=pytest.mark.skip(reason="DATAMILL_TEST_POSTGRES=1 runs it"))],
                         indirect=True)
def test_a_fetch_racing_a_member_removal_leaves_no_live_task(app, api):
    """PostgreSQL: the fetch statement holds the membership row (KEY SHARE) until it commits. A
    removal that comes second waits, then revokes the task just given; a removal that came first
    (not yet committed) makes the fetch wait, then give nothing."""
    from datamill.annotate.auth import remove_member
    from datamill.annotate.db import Project, User
    from datamill.annotate.distribution import quick_next_task

    pid = new_project(api, records=[pair(i) for i in range(3)], annotators=("ann1", "ann2"))

    def objects(db, name):
        return db.scalar(select(User).where(User.username == name)), db.get(Project, pid)

    # 1. the fetch first (its transaction still open), the removal second
    fetch = app.state.writer()
    user, project = objects(fetch, "ann1")
    a = quick_next_task(fetch, user, project)
    assert a is not None and a.status == "locked"
    done = threading.Event()

    def remove(name: str) -> None:
        with app.state.writer() as db:
            u, pr = objects(db, name)
            remove_member(db, pr, u, "annotator")
            db.commit()
        done.set()

    remover = threading.Thread(target=remove, args=("ann1",))
    remover.start()
    assert not done.wait(0.5)          # the removal waits for the fetch
    fetch.commit()
    fetch.close()
    remover.join(30)
    assert done.is_set()
    with app.state.sessionmaker() as db:
        assert db.get(Assignment, a.id).status == "revoked"
        assert db.scalar(select(Item.taken).where(Item.id == a.item_id)) == 0

    # 2. the removal first (not committed yet): the fetch waits, then gives nothing
    removal = app.state.writer()
    u2, pr2 = objects(removal, "ann2")
    remove_member(removal, pr2, u2, "annotator")
    got: list = []

    def fetch_now() -> None:
        with app.state.sessionmaker() as db:   # autocommit, as the API runs it
            user, project = objects(db, "ann2")
            got.append(quick_next_task(db, user, project))

    fetcher = threading.Thread(target=fetch_now)
    fetcher.start()
    fetcher.join(0.5)
    assert fetcher.is_alive()          # waits on the membership row
    removal.commit()
    removal.close()
    fetcher.join(30)
    assert got == [None]
    with app.state.sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(Assignment).where(Assignment.user_id == u2.id)) == 0
