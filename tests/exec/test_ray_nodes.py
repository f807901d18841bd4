"""Two Ray nodes (separate raylets on 127.0.0.1) keep the same records as the local executor.

Runs benchmarks/bench_ray_nodes.py small, in its own process (Ray reads its authentication
settings at import, so the cluster's private token must be set before Ray is first imported).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_ray_nodes_give_the_same_output_as_the_local_executor(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_ray_nodes.py"), "--docs", "400",
                          "--shards", "4", "--workdir", str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "same records: True" in run.stdout
    assert "2 nodes alive" in run.stdout
    assert "global1-minhash_dedup" in run.stdout and "total" in run.stdout
