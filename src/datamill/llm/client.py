"""One client for every OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, OpenAI).

Built on ``httpx`` rather than the ``openai`` package, because:

* datamill needs the raw JSON reply (kept in records and in the cache) including fields the SDK's
  typed models do not carry: llama.cpp's and vLLM's prompt log-probs for IFD, ``timings``;
* retries must follow *our* policy (backoff with jitter, Retry-After shared by all threads so a
  429 storm slows the whole run down, context overflow never retried) — the SDK retries on its
  own and hides the attempts from the stats;
* ``httpx`` is already a dependency, and a thin layer over it keeps per-request overhead
  within a few percent of a bare HTTP loop (benchmarks/bench_llm_client.py).

Requests run on a thread pool of ``max_concurrency`` workers: a step hands a whole batch to
:meth:`LLMClient.map` and gets the replies (or the exception of each failed request) back in
order. Every reply is cached on disk before it is returned (:mod:`datamill.llm.cache`).
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar

import httpx

from datamill.llm.cache import ReplyCache, cache_key
from datamill.llm.config import LLMConfig
from datamill.llm.errors import ContextOverflow, LLMError, LLMUnavailable

T = TypeVar("T")
R = TypeVar("R")

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_OVERFLOW = re.compile(r"context[ _]length|context window|maximum context|exceed|too long|n_ctx|"
                       r"too many tokens|prompt is too long", re.I)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class LLMClient:
    """Thread-safe; one per step instance and worker process."""

    def __init__(self, config: LLMConfig, *, transport: httpx.BaseTransport | None = None):
        self.config = config.resolved()
        headers = {"Content-Type": "application/json"}
        key = self.config.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        n = self.config.max_concurrency
        self._http = httpx.Client(base_url=self.config.base_url, headers=headers,
                                  timeout=httpx.Timeout(self.config.timeout, connect=min(10.0, self.config.timeout)),
                                  limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                                  transport=transport)
        self.cache = ReplyCache(self.config.cache_path()) if self.config.cache else None
        self.usage: Counter = Counter()
        self._lock = threading.Lock()
        self._pause_until = 0.0     # a Retry-After applies to every thread
        self._next_slot = 0.0       # requests_per_minute pacing
        self._pool: ThreadPoolExecutor | None = None
        self.model = self.config.model

    # --- life cycle -----------------------------------------------------------------------
    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._http.close()

    def __enter__(self) -> "LLMClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):  # a client never travels between processes: steps rebuild it
        raise TypeError("LLMClient cannot be pickled; build it in Step.setup()")

    # --- health ---------------------------------------------------------------------------
    def health_check(self) -> list[str]:
        """GET /models: the endpoint answers and serves the configured model. Sets the model
        to the server's only model when none is configured. Raises :class:`LLMUnavailable`
        with one line naming the endpoint."""
        url = self.config.base_url
        for attempt in range(self.config.max_retries + 1):
            try:
                resp = self._http.get("/models", timeout=min(10.0, self.config.timeout))
            except httpx.HTTPError as exc:
                raise LLMUnavailable(f"LLM endpoint {url} is unreachable ({type(exc).__name__}: {exc}); "
                                     f"start one with `datamill llm serve` or fix llm.base_url") from None
            if resp.status_code not in RETRY_STATUS or attempt == self.config.max_retries:
                break
            wait = parse_retry_after(resp.headers.get("retry-after"))
            time.sleep(max(self._backoff(attempt), min(wait or 0.0, 60.0)))
        if resp.status_code in (401, 403):
            raise LLMUnavailable(f"LLM endpoint {url} refused the API key (HTTP {resp.status_code}); "
                                 f"check the variable named by llm.api_key_env ({self.config.api_key_env})")
        if resp.status_code >= 400:
            raise LLMUnavailable(f"LLM endpoint {url} answered HTTP {resp.status_code} to GET /models")
        try:
            models = [m.get("id") for m in resp.json().get("data", []) if isinstance(m, dict)]
        except ValueError:
            raise LLMUnavailable(f"LLM endpoint {url} did not answer JSON to GET /models: "
                                 f"is it an OpenAI-compatible server?") from None
        if self.model:
            if models and self.model not in models:
                raise LLMUnavailable(f"LLM endpoint {url} does not serve model {self.model!r}; "
                                     f"it serves: {', '.join(map(str, models))}")
        elif len(models) == 1:
            self.model = models[0]
        else:
            raise LLMUnavailable(f"LLM endpoint {url} serves {len(models)} models "
                                 f"({', '.join(map(str, models[:8]))}): set llm.model or {'DATAMILL_LLM_MODEL'}")
        return models

    # --- requests -------------------------------------------------------------------------
    def chat(self, messages: Sequence[dict], **params: Any) -> dict[str, Any]:
        """POST /chat/completions; returns the server's JSON reply (from the cache if seen)."""
        body = self._body(params)
        body["messages"] = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        return self.post("/chat/completions", body)

    def complete(self, prompt: str, **params: Any) -> dict[str, Any]:
        """POST /completions (legacy text completion; with ``echo`` and ``logprobs`` it returns
        the prompt's token log-probs, which IFD uses)."""
        body = self._body(params)
        body["prompt"] = prompt
        return self.post("/completions", body)

    def _body(self, params: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config
        body: dict[str, Any] = {"model": self.model or cfg.model, "temperature": cfg.temperature,
                                "max_tokens": cfg.max_tokens, "seed": cfg.seed}
        if cfg.top_p is not None:
            body["top_p"] = cfg.top_p
        body.update({k: v for k, v in params.items() if v is not None})
        return body

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        key = cache_key(self.config.base_url, path, body)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self._count(hit, cached=True)
                return hit
        reply = self._send(path, body)
        if self.cache is not None:
            self.cache.put(key, body, reply)
        self._count(reply, cached=False)
        return reply

    def _count(self, reply: dict[str, Any], cached: bool) -> None:
        usage = reply.get("usage") or {}
        with self._lock:
            self.usage["cache_hits" if cached else "calls"] += 1
            if not cached:
                self.usage["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
                self.usage["completion_tokens"] += int(usage.get("completion_tokens") or 0)

    def _wait_turn(self) -> None:
        rpm = self.config.requests_per_minute
        with self._lock:
            now = time.monotonic()
            start = max(now, self._pause_until)
            if rpm > 0:
                start = max(start, self._next_slot)
                self._next_slot = start + 60.0 / rpm
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        cap = min(cfg.backoff_max, cfg.backoff_base * (2 ** attempt))
        return random.uniform(cap / 2, cap)  # "equal jitter": never zero, never in lockstep

    def _send(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config
        url = cfg.base_url + path
        attempt = 0
        while True:
            self._wait_turn()
            wait: float | None = None
            try:
                resp = self._http.post(path, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 300:
                    try:
                        return resp.json()
                    except ValueError:
                        problem = f"HTTP {resp.status_code} with a body that is not JSON"
                else:
                    text = resp.text[:500]
                    if resp.status_code in (400, 413, 422) and _OVERFLOW.search(text):
                        raise ContextOverflow(f"{url}: the prompt does not fit the model's context "
                                              f"({text.strip()[:200]})")
                    if resp.status_code not in RETRY_STATUS:
                        raise LLMError(f"{url}: HTTP {resp.status_code}: {text.strip()[:300]}")
                    problem = f"HTTP {resp.status_code}"
                    wait = parse_retry_after(resp.headers.get("retry-after"))
                    if resp.status_code == 429:
                        with self._lock:
                            self.usage["rate_limited"] += 1
            if attempt >= cfg.max_retries:
                raise LLMError(f"{url}: gave up after {attempt + 1} attempts ({problem})")
            delay = self._backoff(attempt)
            if wait is not None:
                delay = max(delay, min(wait, 600.0))
                with self._lock:  # every thread waits: a 429 storm slows the whole run
                    self._pause_until = max(self._pause_until, time.monotonic() + delay)
            with self._lock:
                self.usage["retries"] += 1
            time.sleep(delay)
            attempt += 1

    # --- fan-out --------------------------------------------------------------------------
    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R | BaseException]:
        """``fn(item)`` for every item on the client's thread pool (``max_concurrency``);
        results in order, an exception in place of each failed item."""
        if not items:
            return []
        if self.config.max_concurrency == 1 or len(items) == 1:
            out: list[Any] = []
            for item in items:
                try:
                    out.append(fn(item))
                except Exception as exc:  # noqa: BLE001 - handed back to the step
                    out.append(exc)
            return out
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.config.max_concurrency, thread_name_prefix="datamill-llm")
        futures = [self._pool.submit(fn, item) for item in items]
        results: list[Any] = []
        for fut in futures:
            try:
                results.append(fut.result())
            except Exception as exc:  # noqa: BLE001
                results.append(exc)
        return results


def reply_text(reply: dict[str, Any], index: int = 0) -> str:
    """The text of choice ``index`` of a chat or completion reply."""
    try:
        choice = reply["choices"][index]
    except (KeyError, IndexError, TypeError):
        return ""
    msg = choice.get("message")
    if isinstance(msg, dict):
        return msg.get("content") or ""
    return choice.get("text") or ""


def finish_reason(reply: dict[str, Any], index: int = 0) -> str | None:
    try:
        return reply["choices"][index].get("finish_reason")
    except (KeyError, IndexError, TypeError):
        return None
