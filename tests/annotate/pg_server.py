"""A real, throw-away PostgreSQL server for the annotation tests and the load benchmark.

:func:`start_postgres` runs ``initdb`` from ``/usr/lib/postgresql/*/bin`` (``apt-get install -y
postgresql`` first when absent and running as root) in a temporary folder, as the ``postgres``
user when running as root (PostgreSQL refuses root), and starts it on 127.0.0.1 on a free port
with a password (scram-sha-256). ``stop()`` stops it and deletes the folder. Used by
``tests/annotate/browser/conftest.py``, ``tests/annotate/test_load_smoke.py`` and
``benchmarks/bench_annotate_load.py --postgres``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed and cannot be installed here (the message says why)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(*packages: str) -> tuple[bool, str]:
    """``apt-get install -y PACKAGES`` (after ``apt-get update`` when the first try fails)."""
    if shutil.which("apt-get") is None:
        return False, "apt-get not found"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    out = ""
    for update in (False, True):
        if update:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True, timeout=600)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        out = (r.stdout + r.stderr)[-2000:]
        if r.returncode == 0:
            return True, out
    return False, out


def pg_bindir() -> Path | None:
    def version(d: str) -> tuple:
        v = Path(d).parent.name
        return tuple(int(x) for x in v.split(".") if x.isdigit())

    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return Path(d)
    w = shutil.which("initdb")
    return Path(w).parent if w and shutil.which("pg_ctl") else None


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    admin_url: str
    stop: Callable[[], None] = field(repr=False, default=lambda: None)
    data_dir: str = ""

    def postmaster_pid(self) -> int | None:
        """The server's main process (from ``postmaster.pid``), or ``None``."""
        try:
            return int(Path(self.data_dir, "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def new_database(self, name: str) -> str:
        """A fresh empty database; returns its SQLAlchemy URL (psycopg 3)."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{name}"


# the test cluster trades durability for speed; the benchmark keeps fsync and full page writes on
# and only turns off synchronous commit (as the app's SQLite WAL + synchronous=NORMAL: a crash of
# the server loses nothing acknowledged, a power cut may lose the last fraction of a second)
FAST_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
BENCH_OPTIONS = "-c synchronous_commit=off -c max_connections=300"


def start_postgres(options: str = FAST_OPTIONS) -> PostgresServer:
    """Start a temporary cluster; :class:`PostgresUnavailable` when it cannot be installed,
    :class:`RuntimeError` with the server's log when it does not start."""
    bindir = pg_bindir()
    if bindir is None:
        if not is_root():
            raise PostgresUnavailable("PostgreSQL (initdb) not installed and not running as root to install it "
                                      "(apt-get install -y postgresql)")
        ok, out = apt_install("postgresql")
        bindir = pg_bindir()
        if not ok or bindir is None:
            raise PostgresUnavailable(f"PostgreSQL could not be installed: {out}")
    run_as: list[str] = []
    base = tempfile.mkdtemp(prefix="datamill-pg-")  # not under pytest's 0700 tmp: the postgres user reads it
    pw = None
    if is_root():
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
                           check=True, capture_output=True)
            pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        runuser = shutil.which("runuser")
        run_as = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]
    data, log = os.path.join(base, "data"), os.path.join(base, "server.log")
    password = secrets.token_hex(12)
    pwfile = os.path.join(base, "pwfile")
    with open(pwfile, "w") as fh:
        fh.write(password + "\n")
    if pw is not None:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    port = free_port()

    def run(*cmd: str, timeout: int = 120) -> subprocess.CompletedProcess:
        full = [*run_as, shlex.join(cmd)] if run_as and run_as[0] == "su" else [*run_as, *cmd]
        return subprocess.run(full, capture_output=True, text=True, timeout=timeout, cwd=base)

    r = run(str(bindir / "initdb"), "-D", data, "-U", "datamill", f"--pwfile={pwfile}", "-A", "scram-sha-256",
            "-E", "UTF8", "--no-locale")
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{r.stdout}\n{r.stderr}")
    opts = f"-h 127.0.0.1 -p {port} -k {base} {options}"
    r = run(str(bindir / "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start")
    if r.returncode != 0:
        logtext = Path(log).read_text() if os.path.exists(log) else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start:\n{r.stdout}\n{r.stderr}\n{logtext}")

    def stop() -> None:
        run(str(bindir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)

    return PostgresServer("127.0.0.1", port, "datamill", password,
                          f"postgresql://datamill:{password}@127.0.0.1:{port}/postgres", stop, data)
