"""`datamill llm serve` and `datamill llm check` as a person runs them."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from datamill.llm.serve import free_port
REPO = Path(__file__).resolve().parents[2]  # the repository (not `from conftest import`: several conftest modules)


def test_llm_check_ok_and_unreachable(llm_server):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    ok = subprocess.run([sys.executable, "-m", "datamill", "llm", "check", "--base-url", llm_server.base_url],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0 and "OK" in ok.stdout and llm_server.base_url in ok.stdout
    dead = f"http://127.0.0.1:{free_port()}"
    bad = subprocess.run([sys.executable, "-m", "datamill", "llm", "check", "--base-url", dead],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and dead in lines[0] and "unreachable" in lines[0]


def test_llm_serve_prints_the_url_and_stops_cleanly(llm_server):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "datamill", "llm", "serve", "--port", str(port), "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        deadline = time.time() + 180
        while time.time() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "base URL" in line:
                break
        assert f"http://127.0.0.1:{port}/v1" in "".join(lines)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped" in out
