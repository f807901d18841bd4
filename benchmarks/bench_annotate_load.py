"""Load on the annotation app: N simulated annotators fetching and submitting tasks for a fixed time.

    PYTHONPATH=src python benchmarks/bench_annotate_load.py                      # SQLite, 50 annotators, 20 s
    PYTHONPATH=src python benchmarks/bench_annotate_load.py --think-ms 0         # no pause: saturate the server
    PYTHONPATH=src python benchmarks/bench_annotate_load.py --postgres            # a throw-away PostgreSQL
    PYTHONPATH=src python benchmarks/bench_annotate_load.py \\
        --db postgresql+psycopg://user:pw@127.0.0.1:5432/bench                  # your PostgreSQL
    PYTHONPATH=src python benchmarks/bench_annotate_load.py --both --json-out r.json  # both, figures to a file

It starts a real ``datamill annotate serve`` (uvicorn) on 127.0.0.1 on a free port, on a fresh
SQLite file (default) or the database ``--db`` (tables are created; the project gets a unique
name, the ``bench-ann-NN`` users are created or reset). A ``rate_and_rank`` project with
``--items`` synthetic preference pairs, ``--overlap`` annotators per item and ``--review-rounds``
is set up directly in the database, then ``--annotators`` clients (asyncio + httpx, one
connection each, logged in with bearer tokens before the clock starts) loop for ``--seconds``:
``POST /api/projects/{id}/next`` (fetch), pause ``--think-ms`` (± 50 %, seeded; default 1 s, a
brisk human pace; 0 saturates the server), ``POST /api/tasks/{id}/submit`` (submit).
``--abandon P``: with probability P a client holds its task past the lock (``--lock-seconds``)
and answers late, the case the app documents: the late answer is kept and the item may end with
overlap + 1 answers.

Checks, from the database after the run (exit status 1 when one fails):

* lost submissions: every acknowledged submission (HTTP 200, not a duplicate) is stored, with
  the answer sent (``annotations`` rows == acknowledgements);
* over overlap: per item, the assignments holding a slot (locked, submitted, rework, accepted)
  are at most ``overlap``, plus one per late answer on an expired lock (the documented
  exception); ``items.taken`` matches; nobody got an item twice;
* nobody was told "nothing left" while an item with a free slot they never saw remained.

Prints p50/p95/p99 latency of fetch and submit (client side, ms), requests/s, the server's CPU
milliseconds per request (all its processes, measured over the timed run only); on PostgreSQL
the connections opened during the run (``pg_stat_database.sessions``) and, for the throw-away
cluster, its CPU milliseconds per request (the postmaster and its backends); status codes,
the load average before and after (on a shared machine the latencies mean little without it), and
one JSON line at the end. Target on a 2-core machine, SQLite and PostgreSQL: p95 under 50 ms for
fetch and submit at 50 annotators with a 1 s think time, 0 lost, 0 over overlap.

``--postgres`` starts a throw-away PostgreSQL cluster (``tests/annotate/pg_server.py``: initdb
in a temporary folder, fsync on, ``synchronous_commit=off``, the same durability as the app's
SQLite WAL with ``synchronous=NORMAL``), runs on it and deletes it. ``--workers`` (default 2)
is the server's ``--workers``: several uvicorn processes on either database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = "import sys; from datamill.cli import main; sys.exit(main())"
PASSWORD = "bench-password-1"
CRITERIA = ("accuracy", "safety", "helpfulness")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process and its children so far (Linux /proc)."""
    def one(p: int) -> float:
        with open(f"/proc/{p}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    try:
        total = one(pid)
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += one(int(child))
        return round(total, 2)
    except (OSError, ValueError, IndexError):
        return None


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of a process, of its live children, and of the children it has reaped (a
    PostgreSQL server: the postmaster and its backends, those that exited included)."""
    def fields(p: int) -> list[str]:
        with open(f"/proc/{p}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()

    try:
        f = fields(pid)
        ticks = sum(int(x) for x in f[11:15])
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            try:
                c = fields(int(child))
                ticks += int(c[11]) + int(c[12])
            except OSError:
                pass  # exited meanwhile: counted by the parent once reaped
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def pg_sessions_opened(db_url: str) -> int | None:
    """Connections opened to the database so far (``pg_stat_database.sessions``, PostgreSQL 14+)."""
    if not db_url.startswith("postgresql"):
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")).scalar()
    except Exception:  # an older server, or no right to read the statistics
        return None
    finally:
        engine.dispose()


def synthetic_pairs(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    words = "data model answer question review label rank rate train token prompt reply".split()
    out = []
    for i in range(n):
        q = " ".join(rng.choice(words) for _ in range(12))
        out.append({"id": f"bench-{i}", "kind": "preference", "metadata": {},
                    "messages": [{"role": "user", "content": f"Question {i}: {q}?"}],
                    "chosen": [{"role": "assistant", "content": f"A careful answer to {i}: " + q * 3}],
                    "rejected": [{"role": "assistant", "content": f"A poor answer to {i}."}]})
    return out


def setup(db_url: str, args) -> tuple[int, list[str]]:
    """Users, project and items, directly in the database. Returns (project id, user names)."""
    from sqlalchemy import select

    from datamill.annotate.auth import add_member, create_user, make_hasher, set_password
    from datamill.annotate.db import User, make_engine, make_sessionmaker
    from datamill.annotate.projects import create_project, import_records

    engine = make_engine(db_url)
    hasher = make_hasher(fast=True)  # argon2 hashes carry their parameters: the server verifies them
    names = [f"bench-ann-{i:02d}" for i in range(args.annotators)]
    with make_sessionmaker(engine, write=True)() as db:
        users = []
        for name in names:
            u = db.scalar(select(User).where(User.username == name))
            if u is None:
                u = create_user(db, name, PASSWORD, "annotator", hasher=hasher)
            else:
                set_password(db, u, PASSWORD, hasher)
                u.active = True
            users.append(u)
        pr = create_project(db, f"load {time.strftime('%Y%m%d-%H%M%S')} {os.getpid()}", template="rate_and_rank",
                            overlap=args.overlap, review_rounds=args.review_rounds, lock_seconds=args.lock_seconds,
                            active_learning=False)
        for u in users:
            add_member(db, pr, u, "annotator")
        import_records(db, pr, synthetic_pairs(args.items, args.seed))
        db.commit()
        pid = pr.id
    engine.dispose()
    return pid, names


def start_server(db_url: str, args, workdir: str) -> tuple[subprocess.Popen, str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    port = args.port or free_port()
    log = os.path.join(workdir, "server.log")
    cmd = [sys.executable, "-c", CLI, "annotate", "serve", "--db", db_url, "--host", "127.0.0.1", "--port", str(port),
           "--secret", "bench", "--workers", str(args.workers)]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{Path(log).read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return proc, url, log
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"server did not start:\n{Path(log).read_text()[-3000:]}")
            time.sleep(0.1)


def answer_for(task: dict, rng: random.Random) -> dict:
    n = len(task["item"]["view"]["responses"])
    ratings = [{c: rng.randint(1, 5) for c in CRITERIA} for _ in range(n)]
    order = list(range(n))
    rng.shuffle(order)
    return {"ratings": ratings, "ranking": [order.index(i) + 1 for i in range(n)], "comment": ""}


class Stats:
    def __init__(self):
        self.fetch: list[float] = []
        self.submit: list[float] = []
        self.codes: Counter = Counter()
        self.acked: dict[int, dict] = {}     # task id -> answer sent
        self.duplicates = 0
        self.late = 0
        self.exhausted = 0
        self.ran_out: list[str] = []      # who got "nothing left"
        self.errors: list[str] = []


async def run_clients(url: str, pid: int, names: list[str], args, on_start=None) -> tuple[Stats, float]:
    """Log every client in (not timed), then start the clock and let them work."""
    start = asyncio.Event()
    stats = Stats()
    ready = [0]
    deadline = [float("inf")]

    async def client_task(i: int, name: str) -> None:
        import httpx

        rng = random.Random(args.seed * 1000 + i)
        async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=httpx.Limits(max_connections=1)) as client:
            for _ in range(60):  # a crowd logging in at once meets the login throttle: wait as told
                r = await client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
                if r.status_code != 429:
                    break
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
            r.raise_for_status()
            client.headers["Authorization"] = f"Bearer {r.json()['token']}"
            client.cookies.clear()
            ready[0] += 1
            await start.wait()
            if args.think_ms:  # people do not all click at the same instant
                await asyncio.sleep(rng.uniform(0, args.think_ms / 1000))
            await loop_tasks(client, pid, deadline[0], args, stats, rng, name)

    tasks = [asyncio.create_task(client_task(i, n)) for i, n in enumerate(names)]
    while ready[0] < len(names):
        for t in tasks:
            if t.done() and t.exception():
                raise t.exception()
        await asyncio.sleep(0.05)
    if on_start is not None:
        on_start()
    t0 = time.monotonic()
    deadline[0] = t0 + args.seconds
    start.set()
    await asyncio.gather(*tasks)
    return stats, time.monotonic() - t0


async def loop_tasks(client, pid, deadline, args, stats: Stats, rng: random.Random, name: str = "") -> None:
    import httpx

    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            r = await client.post(f"/api/projects/{pid}/next")
        except httpx.HTTPError as exc:
            stats.codes[f"fetch {type(exc).__name__}"] += 1
            continue
        stats.fetch.append((time.perf_counter() - t0) * 1000)
        stats.codes[f"fetch {r.status_code}"] += 1
        if r.status_code != 200:
            stats.errors.append(f"fetch {r.status_code}: {r.text[:200]}")
            await asyncio.sleep(0.05)
            continue
        task = r.json()["task"]
        if task is None:
            stats.exhausted += 1
            stats.ran_out.append(name)
            return
        answer = answer_for(task, rng)
        if args.abandon and rng.random() < args.abandon:
            stats.late += 1
            await asyncio.sleep(args.lock_seconds + 1.5)   # the lock expires meanwhile
        elif args.think_ms:
            await asyncio.sleep(args.think_ms / 1000 * rng.uniform(0.5, 1.5))
        t0 = time.perf_counter()
        try:
            r = await client.post(f"/api/tasks/{task['id']}/submit", json={"answer": answer})
        except httpx.HTTPError as exc:
            stats.codes[f"submit {type(exc).__name__}"] += 1
            continue
        stats.submit.append((time.perf_counter() - t0) * 1000)
        stats.codes[f"submit {r.status_code}"] += 1
        if r.status_code == 200:
            if r.json().get("duplicate"):
                stats.duplicates += 1
            else:
                stats.acked[task["id"]] = answer
        else:
            stats.errors.append(f"submit {r.status_code}: {r.text[:200]}")


def check(db_url: str, pid: int, overlap: int, stats: Stats) -> dict:
    """Lost submissions and over-overlap, from the database."""
    from sqlalchemy import select

    from datamill.annotate.db import HOLDS_SLOT, Annotation, Assignment, Event, Item, make_engine, make_sessionmaker

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as db:
        anns = db.execute(select(Annotation.assignment_id, Annotation.answer)
                          .join(Assignment, Assignment.id == Annotation.assignment_id)
                          .where(Assignment.project_id == pid)).all()
        stored: dict[int, list] = defaultdict(list)
        for aid, ans in anns:
            stored[aid].append(ans)
        lost = [t for t in stats.acked if t not in stored]
        wrong = [t for t, a in stats.acked.items() if t in stored and not any(
            s.get("ratings") == a["ratings"] and s.get("ranking") == a["ranking"] for s in stored[t])]
        unacked = [t for t in stored if t not in stats.acked]   # stored, but the client saw no 200
        expired = set(db.scalars(select(Event.assignment_id).where(Event.project_id == pid, Event.action == "expire")))
        holders: dict[int, list] = defaultdict(list)
        pairs: Counter = Counter()
        for aid, item_id, user_id, status in db.execute(
                select(Assignment.id, Assignment.item_id, Assignment.user_id, Assignment.status)
                .where(Assignment.project_id == pid)).all():
            pairs[(item_id, user_id)] += 1
            if status in HOLDS_SLOT:
                holders[item_id].append(aid)
        over, late_extra = [], 0
        for item_id, aids in holders.items():
            late = sum(1 for a in aids if a in expired)
            if len(aids) > overlap:
                if len(aids) > overlap + late:
                    over.append(item_id)
                else:
                    late_extra += 1
        taken = dict(db.execute(select(Item.id, Item.taken).where(Item.project_id == pid)).all())
        taken_mismatch = [i for i, t in taken.items() if t != len(holders.get(i, []))]
        twice = [k for k, c in pairs.items() if c > 1]
        # "nothing left" while the person could still have been given an item
        from datamill.annotate.db import Project, User
        from datamill.annotate.distribution import remaining

        project = db.get(Project, pid)
        falsely_empty = [n for n in stats.ran_out
                         if remaining(db, project, db.scalar(select(User).where(User.username == n))) > 0]
    engine.dispose()
    return {"acknowledged": len(stats.acked), "stored_annotations": len(anns), "stored_tasks": len(stored),
            "lost": len(lost), "wrong_answer": len(wrong), "stored_unacknowledged": len(unacked),
            "over_overlap": len(over), "late_answer_extra_slots": late_extra, "taken_mismatch": len(taken_mismatch),
            "given_twice": len(twice), "expired_locks": len(expired),
            "nothing_left_while_work_left": len(falsely_empty)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="how long the annotators work (default 20)")
    ap.add_argument("--annotators", type=int, default=50)
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--overlap", type=int, default=3)
    ap.add_argument("--review-rounds", type=int, default=1)
    ap.add_argument("--lock-seconds", type=int, default=300)
    ap.add_argument("--think-ms", type=float, default=1000.0,
                    help="pause between fetch and submit, ±50%% (default 1000; 0 = hammer the server)")
    ap.add_argument("--abandon", type=float, default=0.0,
                    help="share of tasks held past the lock and answered late (needs --seconds > --lock-seconds)")
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file in a temp folder)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    ap.add_argument("--postgres", action="store_true", help="run on a throw-away PostgreSQL cluster")
    ap.add_argument("--both", action="store_true", help="run on SQLite, then on a throw-away PostgreSQL")
    ap.add_argument("--json-out", default=None, help="append each run's JSON figures to this file")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    if args.both:
        rc = 0
        for extra in ([], ["--postgres"]):
            rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--both"]
            rc |= main(rest + extra)
        return rc
    pg = None
    if args.postgres:
        sys.path.insert(0, str(REPO / "tests" / "annotate"))
        from pg_server import BENCH_OPTIONS, start_postgres

        pg = start_postgres(BENCH_OPTIONS)
        args.db = pg.new_database("bench")
        args.db_pid = pg.postmaster_pid()
    try:
        return run_one(args)
    finally:
        if pg is not None:
            pg.stop()


def run_one(args) -> int:
    workdir = tempfile.mkdtemp(prefix="dm-annotate-load-")
    db_url = args.db or f"sqlite:///{os.path.join(workdir, 'load.db')}"
    backend = db_url.split(":", 1)[0].split("+", 1)[0]
    t0 = time.monotonic()
    pid, names = setup(db_url, args)
    print(f"setup: {args.items} items, {len(names)} annotators, overlap {args.overlap} on {backend} "
          f"({time.monotonic() - t0:.1f} s)", flush=True)
    proc, url, log = start_server(db_url, args, workdir)
    load0 = os.getloadavg()
    marks: dict[str, float | None] = {}
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    db_pid = getattr(args, "db_pid", None)   # a throw-away PostgreSQL: its CPU is counted too

    def on_start() -> None:
        marks.update(cpu0=proc_cpu_seconds(proc.pid), db0=tree_cpu_seconds(db_pid) if db_pid else None,
                     sessions0=pg_sessions_opened(db_url))

    try:
        stats, elapsed = asyncio.run(run_clients(url, pid, names, args, on_start=on_start))
    finally:
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu_end = proc_cpu_seconds(proc.pid)
        server_cpu = (round(server_cpu_end - marks["cpu0"], 2)
                      if server_cpu_end is not None and marks.get("cpu0") is not None else None)
        db_cpu_end = tree_cpu_seconds(db_pid) if db_pid else None
        db_cpu = (round(db_cpu_end - marks["db0"], 2)
                  if db_cpu_end is not None and marks.get("db0") is not None else None)
        sessions_end = pg_sessions_opened(db_url)
        # minus the one this count opens
        sessions = (sessions_end - marks["sessions0"] - 1
                    if sessions_end is not None and marks.get("sessions0") is not None else None)
        load1 = os.getloadavg()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    res = check(db_url, pid, args.overlap, stats)
    res.update({"backend": backend, "annotators": len(names), "seconds": round(elapsed, 2), "think_ms": args.think_ms,
                "workers": args.workers, "fetches": len(stats.fetch), "submits": len(stats.submit),
                "duplicates": stats.duplicates, "late_answers": stats.late, "ran_out": stats.exhausted,
                "submits_per_s": round(len(stats.acked) / elapsed, 1) if elapsed else None,
                "codes": dict(sorted(stats.codes.items())),
                "client_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1),
                "server_cpu_s": server_cpu, "cores": os.cpu_count(),
                "requests_per_s": round((len(stats.fetch) + len(stats.submit)) / elapsed, 1) if elapsed else None,
                "server_cpu_ms_per_request": (round(1000 * server_cpu / (len(stats.fetch) + len(stats.submit)), 2)
                                              if server_cpu and (stats.fetch or stats.submit) else None),
                "db_cpu_s": db_cpu,
                "db_cpu_ms_per_request": (round(1000 * db_cpu / (len(stats.fetch) + len(stats.submit)), 2)
                                          if db_cpu is not None and (stats.fetch or stats.submit) else None),
                "db_connections_opened": sessions,
                "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in load1],
                "target_met": None})
    for kind, vals in (("fetch", stats.fetch), ("submit", stats.submit)):
        res[f"{kind}_ms"] = {"p50": round(pct(vals, .5), 1), "p95": round(pct(vals, .95), 1),
                             "p99": round(pct(vals, .99), 1), "max": round(max(vals), 1) if vals else None,
                             "mean": round(statistics.fmean(vals), 1) if vals else None}
    print(f"{backend}, {len(names)} annotators, {elapsed:.1f} s, think {args.think_ms:g} ms, workers {args.workers}")
    for kind in ("fetch", "submit"):
        m = res[f"{kind}_ms"]
        print(f"  {kind:6s} n={len(getattr(stats, kind)):6d}  p50 {m['p50']:7.1f} ms  p95 {m['p95']:7.1f} ms  "
              f"p99 {m['p99']:7.1f} ms  max {m['max']} ms")
    print(f"  acknowledged {res['acknowledged']}, stored {res['stored_tasks']} tasks / {res['stored_annotations']} "
          f"annotations, lost {res['lost']}, wrong answer {res['wrong_answer']}, "
          f"stored without acknowledgement {res['stored_unacknowledged']}")
    print(f"  over overlap {res['over_overlap']} (items at overlap+1 from late answers: {res['late_answer_extra_slots']}), "
          f"taken mismatch {res['taken_mismatch']}, given twice {res['given_twice']}, expired locks {res['expired_locks']}, "
          f"'nothing left' while work was left {res['nothing_left_while_work_left']}")
    print(f"  {res['requests_per_s']} requests/s ({res['submits_per_s']} submissions/s); codes {res['codes']}")
    print(f"  server CPU {res['server_cpu_s']} s = {res['server_cpu_ms_per_request']} ms per request; clients "
          f"{res['client_cpu_s']} s; {os.cpu_count()} cores; load average {res['loadavg_before'][0]} before, "
          f"{res['loadavg_after'][0]} after")
    if res["db_cpu_s"] is not None or res["db_connections_opened"] is not None:
        print(f"  database: CPU {res['db_cpu_s']} s = {res['db_cpu_ms_per_request']} ms per request; "
              f"{res['db_connections_opened']} connections opened during the run")
    res["target_met"] = bool(res["fetch_ms"]["p95"] < 50 and res["submit_ms"]["p95"] < 50 and not res["lost"]
                             and not res["over_overlap"])
    print(f"  target (p95 < 50 ms fetch and submit, 0 lost, 0 over overlap): "
          f"{'met' if res['target_met'] else 'NOT met'}")
    if stats.errors:
        print("  first errors:", *stats.errors[:5], sep="\n    ")
    print(json.dumps(res))
    if args.json_out:
        with open(args.json_out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(res) + "\n")
    failed = (res["lost"] or res["wrong_answer"] or res["over_overlap"] or res["given_twice"] or res["taken_mismatch"]
              or res["nothing_left_while_work_left"])
    if failed:
        print(f"kept {workdir} (server.log, database)")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
