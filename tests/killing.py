"""SIGKILL a pipeline run in the middle of its first stage (for the resume tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def kill_mid_first_stage(argv: list[str], out: Path, *, after: int = 2, of: int = 8,
                         timeout: float = 120) -> int:
    """Start ``python argv...`` (a run writing to ``out``) in its own session, SIGKILL its
    whole process group once ``after`` tasks of the first stage are done, and return how many
    were done; fails the test when the run ends first or the kill lands outside the stage."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, *argv], env=env, start_new_session=True)
    done_dir = out / ".datamill" / "done"
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = list(done_dir.glob("seg0-*.json")) if done_dir.exists() else []
        if len(done) >= after:
            break
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be killed")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(done_dir.glob("seg0-*.json")))
    assert after <= finished < of, "the kill must land in the middle of the first stage"
    return finished
