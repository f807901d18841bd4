"""Debian's Chromium, as the annotation browser tests use it (never `playwright install`):
/usr/bin/chromium or $DATAMILL_CHROMIUM, installed with apt-get when missing and running as
root, else the tests are skipped with the reason. Playwright runs in a child process
(:data:`CHECK_SCRIPT`): one pytest session may already hold another suite's sync Playwright,
and a second one cannot start inside its event loop."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM = os.environ.get("DATAMILL_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def report_chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package only)")
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if CHROMIUM != "/usr/bin/chromium" or not (hasattr(os, "geteuid") and os.geteuid() == 0) \
            or shutil.which("apt-get") is None:
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=1200).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        subprocess.run(cmd, env=env, capture_output=True, timeout=1200)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("could not install Debian's chromium with apt-get")
    return CHROMIUM
