"""Fixtures for the browser tests: a real ``datamill annotate serve`` (uvicorn) on 127.0.0.1,
Debian's Chromium driven by Playwright, and — when ``DATAMILL_TEST_POSTGRES=1`` — a real
PostgreSQL server on 127.0.0.1 that the same tests run against a second time.

* Chromium: ``/usr/bin/chromium`` (or ``$DATAMILL_CHROMIUM``). When it is missing the set-up runs
  ``apt-get install -y chromium`` if it runs as root; otherwise the tests are skipped with the
  reason. Never ``playwright install``: the Playwright Python package drives the system browser.
* PostgreSQL (:mod:`pg_server`, shared with the load smoke test and the benchmark): ``initdb`` from ``/usr/lib/postgresql/*/bin`` (``apt-get install -y postgresql``
  when absent, as root); the cluster lives in a temporary folder, runs as the ``postgres`` user
  when the tests run as root (PostgreSQL refuses root), listens on 127.0.0.1 on a free port with
  a password (scram-sha-256), and is stopped and deleted at the end of the session.
* Screenshots of the main pages are taken on the SQLite run when asked:
  ``DATAMILL_SCREENSHOTS=1`` refreshes ``docs/screenshots/``, ``DATAMILL_SCREENSHOTS=/some/dir``
  writes elsewhere (off by default, so a test run leaves the work tree clean).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pg_server import apt_install, free_port, is_root  # noqa: E402

# no module-level importorskip here: a skip raised while pytest loads a conftest named on its
# command line is an error, not a skip. The fixtures skip instead.
APP_MODULES = ("fastapi", "sqlalchemy", "argon2", "uvicorn", "jinja2", "multipart")

REPO = Path(__file__).resolve().parents[3]
SRC = REPO / "src"
SCREENSHOT_DIR = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("DATAMILL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
ADMIN_PASSWORD = "admin-browser-pass-1"
CLI = "import sys; from datamill.cli import main; sys.exit(main())"


def backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if os.environ.get("DATAMILL_TEST_POSTGRES") == "1" else [])


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


# ---------------------------------------------------------------------------------------------
# Chromium


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if CHROMIUM != "/usr/bin/chromium":
        pytest.skip(f"$DATAMILL_CHROMIUM={CHROMIUM} is not an executable")
    if not is_root():
        pytest.skip("Chromium not found at /usr/bin/chromium and not running as root to install it "
                    "(apt-get install -y chromium)")
    ok, out = apt_install("chromium")
    if not ok or not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"could not install Debian's chromium with apt-get: {out}")
    return CHROMIUM


# Module scope: Playwright's sync API keeps an event loop running in the main thread while it
# is open, which breaks asyncio.run() in later test modules and any other Playwright instance
# (the report's browser tests); closing it with its module leaves the rest of the suite alone.
@pytest.fixture(scope="module")
def browser(chromium_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package only)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


# ---------------------------------------------------------------------------------------------
# PostgreSQL


# ``postgres_server``: the session's cluster, from tests/annotate/conftest.py (annotate_helpers)


# ---------------------------------------------------------------------------------------------
# the app server


@dataclass
class AppServer:
    backend: str
    url: str
    db_url: str
    data_dir: Path
    log: Path
    proc: subprocess.Popen
    admin_password: str = ADMIN_PASSWORD

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def start_app_server(db_url: str, workdir: Path, backend: str, admin_password: str = ADMIN_PASSWORD) -> AppServer:
    """``datamill annotate create-user admin`` then ``datamill annotate serve`` on a free port;
    waits for ``/healthz``."""
    env = _child_env()
    env["DATAMILL_ANNOTATE_PASSWORD"] = admin_password
    r = subprocess.run([sys.executable, "-c", CLI, "annotate", "create-user", "admin", "--role", "admin",
                        "--db", db_url], env=env, capture_output=True, text=True, timeout=120, cwd=workdir)
    if r.returncode != 0:
        raise RuntimeError(f"create-user failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    env.pop("DATAMILL_ANNOTATE_PASSWORD")
    data_dir = workdir / "data"
    data_dir.mkdir(exist_ok=True)
    port = free_port()
    log = workdir / f"server-{backend}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", CLI, "annotate", "serve", "--db", db_url, "--host", "127.0.0.1",
                                 "--port", str(port), "--secret", "browser-test-secret", "--data-root", str(data_dir)],
                                env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=workdir)
    server = AppServer(backend, f"http://127.0.0.1:{port}", db_url, data_dir, log, proc, admin_password)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the app server exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            stop_app_server(server)
            raise RuntimeError(f"the app server did not answer /healthz in 60 s:\n{server.log_tail()}")
        time.sleep(0.1)


def stop_app_server(server: AppServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=15)


@pytest.fixture(scope="module", params=backends())
def app_server(request, tmp_path_factory):
    for mod in APP_MODULES:
        pytest.importorskip(mod, reason=f"the annotation app needs {mod}")
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"annotate-{backend}")
    if backend == "postgresql":
        db_url = request.getfixturevalue("postgres_server").new_database(f"annotate_{secrets.token_hex(4)}")
    else:
        db_url = f"sqlite:///{workdir / 'annotate.db'}"
    server = start_app_server(db_url, workdir, backend)
    try:
        yield server
    finally:
        stop_app_server(server)


@pytest.fixture
def new_page(browser, app_server):
    """``new_page()``: a page in a fresh browser context (its own cookies: one per person)."""
    contexts = []

    def make():
        ctx = browser.new_context(base_url=app_server.url, viewport=VIEWPORT, accept_downloads=True,
                                  device_scale_factor=1, locale="en-US", timezone_id="UTC")
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def screenshot(app_server):
    """``screenshot(page, name)``: the viewport as ``docs/screenshots/{name}.png`` (SQLite run only)."""
    setting = os.environ.get("DATAMILL_SCREENSHOTS", "0")
    target = None
    if app_server.backend == "sqlite" and setting not in ("0", "off", "no", "false"):
        target = SCREENSHOT_DIR if setting in ("1", "on", "yes", "true") else Path(setting)
        target.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str) -> None:
        if target is not None:
            page.screenshot(path=str(target / f"{name}.png"), full_page=False, animations="disabled",
                            caret="hide")

    return shoot
