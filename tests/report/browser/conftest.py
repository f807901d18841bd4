"""Debian's Chromium driven by Playwright, as the annotation browser tests do (never
`playwright install`): /usr/bin/chromium or $DATAMILL_CHROMIUM, installed with apt-get when
missing and running as root, else the tests are skipped with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM = os.environ.get("DATAMILL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def report_chromium() -> str:
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


# Module scope: Playwright's sync API keeps an event loop running in the main thread while it
# is open, which breaks asyncio.run() in later test modules and any other Playwright instance
# (the report's browser tests); closing it with its module leaves the rest of the suite alone.
@pytest.fixture(scope="module")
def report_browser(report_chromium):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package only)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=report_chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
