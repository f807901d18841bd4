"""What one fetch and one submission send to the database: statements, transactions, time.

    PYTHONPATH=src python benchmarks/profile_annotate_request.py              # SQLite, then a throw-away PostgreSQL
    PYTHONPATH=src python benchmarks/profile_annotate_request.py --sqlite     # SQLite only
    PYTHONPATH=src python benchmarks/profile_annotate_request.py --db postgresql+psycopg://…   # your database

The app runs in process (``fastapi.testclient``) on a fresh database with one annotator and a
``rate_and_rank`` project (the load benchmark's synthetic pairs). SQLAlchemy's
``before_cursor_execute``/``after_cursor_execute`` listeners record every statement with its
time, ``begin``/``commit``/``rollback`` listeners the transactions (psycopg 3 sends ``BEGIN`` as
a round trip of its own before a transaction's first statement; on SQLite ``BEGIN IMMEDIATE`` is
one of the statements). It prints the statements of one warm fetch and one warm submission,
then the medians over ``--requests`` of each: statements, database time, wall time, and CPU of
this process per request (the test client included).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
PASSWORD = "profile-password-1"


class Recorder:
    def __init__(self, engine):
        from sqlalchemy import event

        self.statements: list[tuple[str, float]] = []
        self.tx: Counter = Counter()
        self._t0 = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        for name in ("begin", "commit", "rollback"):
            event.listen(engine, name, lambda conn, _n=name: self.tx.update([_n]))

    def _before(self, conn, cursor, statement, params, context, executemany):
        self._t0 = time.perf_counter()

    def _after(self, conn, cursor, statement, params, context, executemany):
        self.statements.append((statement, (time.perf_counter() - self._t0) * 1000))

    def reset(self) -> None:
        self.statements.clear()
        self.tx.clear()


def short(sql: str, width: int = 100) -> str:
    words = " ".join(sql.split())
    return words if len(words) <= width else words[:width - 1] + "…"


def profile(db_url: str, label: str, requests: int) -> dict:
    from fastapi.testclient import TestClient

    from bench_annotate_load import answer_for, synthetic_pairs
    from datamill.annotate import create_app
    from datamill.annotate.auth import add_member, create_user
    from datamill.annotate.projects import create_project, import_records

    app = create_app(db_url, secret="profile", fast_hash=True)
    with app.state.writer() as db:
        user = create_user(db, "profiler", PASSWORD, "annotator", hasher=app.state.settings.hasher)
        pr = create_project(db, "profile", template="rate_and_rank", overlap=3, review_rounds=1, lock_seconds=300,
                            active_learning=False)
        add_member(db, pr, user, "annotator")
        import_records(db, pr, synthetic_pairs(requests + 50, 0))
        db.commit()
        pid = pr.id
    rec = Recorder(app.state.engine)
    rng = random.Random(0)
    figures: dict[str, list[tuple[int, float, float, float]]] = {"fetch": [], "submit": []}
    with TestClient(app) as client:
        token = client.post("/api/auth/login", json={"username": "profiler", "password": PASSWORD}).json()["token"]
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {token}"}
        for i in range(requests + 5):
            task = None
            for kind in ("fetch", "submit"):
                rec.reset()
                t0, c0 = time.perf_counter(), time.process_time()
                if kind == "fetch":
                    r = client.post(f"/api/projects/{pid}/next", headers=headers)
                    task = r.json()["task"]
                else:
                    r = client.post(f"/api/tasks/{task['id']}/submit", headers=headers,
                                    json={"answer": answer_for(task, rng)})
                wall, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
                if r.status_code != 200:
                    raise SystemExit(f"{label} {kind}: HTTP {r.status_code} {r.text[:300]}")
                if i == 4:
                    print(f"{label}: one {kind}: {len(rec.statements)} statements, transactions {dict(rec.tx)}")
                    for sql, ms in rec.statements:
                        print(f"  {ms:6.2f} ms  {short(sql)}")
                if i >= 5:  # warm: connections open, statements compiled and prepared
                    figures[kind].append((len(rec.statements), sum(ms for _, ms in rec.statements), wall, cpu))
    app.state.engine.dispose()
    out = {}
    for kind, rows in figures.items():
        out[kind] = {"statements": statistics.median(r[0] for r in rows),
                     "db_ms": round(statistics.median(r[1] for r in rows), 2),
                     "wall_ms": round(statistics.median(r[2] for r in rows), 2),
                     "cpu_ms": round(statistics.median(r[3] for r in rows), 2)}
        f = out[kind]
        print(f"{label} {kind}: median over {len(rows)}: {f['statements']:g} statements, {f['db_ms']} ms in them, "
              f"{f['wall_ms']} ms wall, {f['cpu_ms']} ms CPU of this process")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sqlite", action="store_true", help="SQLite only")
    ap.add_argument("--postgres", action="store_true", help="a throw-away PostgreSQL only")
    ap.add_argument("--db", default=None, help="a database URL of your own (tables are created)")
    ap.add_argument("--requests", type=int, default=40, help="fetch+submit pairs measured (default 40)")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.db:
        profile(args.db, args.db.split(":", 1)[0], args.requests)
        return 0
    if not args.postgres:
        with tempfile.TemporaryDirectory(prefix="dm-profile-") as tmp:
            profile(f"sqlite:///{os.path.join(tmp, 'profile.db')}", "sqlite", args.requests)
    if not args.sqlite:
        sys.path.insert(0, str(REPO / "tests" / "annotate"))
        from pg_server import BENCH_OPTIONS, start_postgres

        pg = start_postgres(BENCH_OPTIONS)
        try:
            profile(pg.new_database("profile"), "postgresql", args.requests)
        finally:
            pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
