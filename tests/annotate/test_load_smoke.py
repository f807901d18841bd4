"""The load benchmark (``benchmarks/bench_annotate_load.py``), briefly: a smoke run, not a timed
assertion. A real multi-worker server, a few annotators for a few seconds, on SQLite and, when
``DATAMILL_TEST_POSTGRES=1`` (CI sets it), on a throw-away PostgreSQL: nothing acknowledged is
lost, no item goes past its overlap, the figures are printed and written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks" / "bench_annotate_load.py"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("DATAMILL_TEST_POSTGRES") == "1" else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_load_benchmark_smoke(backend, tmp_path):
    if backend == "postgresql":
        pytest.importorskip("psycopg")
    out = tmp_path / "figures.jsonl"
    cmd = [sys.executable, str(BENCH), "--seconds", "3", "--annotators", "6", "--items", "40", "--overlap", "2",
           "--think-ms", "100", "--workers", "2", "--json-out", str(out)]
    if backend == "postgresql":
        cmd.append("--postgres")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text().splitlines()[-1])
    assert res["backend"] == backend and res["workers"] == 2
    assert res["lost"] == 0 and res["over_overlap"] == 0 and res["given_twice"] == 0 and res["taken_mismatch"] == 0
    assert res["acknowledged"] > 0 and res["stored_annotations"] == res["acknowledged"]
    assert res["requests_per_s"] > 0 and res["server_cpu_ms_per_request"] is not None
    assert len(res["loadavg_before"]) == 3 and "p95" in res["fetch_ms"] and "p95" in res["submit_ms"]
    assert "requests/s" in r.stdout and "ms per request" in r.stdout and "load average" in r.stdout
    if backend == "postgresql":  # the throw-away cluster's CPU and the connections opened are printed too
        assert res["db_cpu_ms_per_request"] is not None and res["db_connections_opened"] is not None
        assert "connections opened" in r.stdout
