"""Login throttling: per-IP and per-account backoff after failures, and a bound on how many
password hashes run at once.

argon2id costs 64 MiB and tens of milliseconds per check, by design: without a bound, a flood of
anonymous logins (40 at once) took the server from 167 MiB to 2.4 GiB and a logged-in request to
12 s. Here:

* **Hash slots**: at most ``slots`` checks run at once (default: half the CPUs, at least 1), at
  most ``queue`` (64) more wait for a slot; a login beyond that is answered 429 at once, without
  hashing. Memory spent on hashing is bounded by ``slots × 64 MiB``.
* **Backoff**: after ``ip_free`` failed logins from one address (default 10) or ``account_free``
  on one user name (default 5) within ``window`` seconds, the next attempt must wait ``2^k``
  seconds (k = failures past the free ones, capped at ``max_wait``, default 15 min): it is
  answered 429 with ``Retry-After`` and no hashing. A success clears the account's count.
  Unknown user names count like real ones, so a lock-out says nothing about who exists.

State lives in the worker process (``--workers N`` multiplies the free attempts by N at most).
Behind a reverse proxy, run uvicorn with ``--forwarded-allow-ips`` so that the client address
is the real one.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from dataclasses import dataclass, field


class Throttled(Exception):
    """A login refused before any hashing: HTTP 429 with ``Retry-After: retry_after``."""

    def __init__(self, retry_after: float, reason: str):
        super().__init__(reason)
        self.retry_after = max(1, int(math.ceil(retry_after)))
        self.reason = reason


@dataclass
class _Failures:
    count: int = 0
    first: float = 0.0
    last: float = 0.0


@dataclass
class LoginThrottle:
    slots: int = field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2))
    queue: int = 64
    ip_free: int = 10
    account_free: int = 5
    window: float = 900.0
    max_wait: float = 900.0
    max_keys: int = 100_000

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ips: dict[str, _Failures] = {}
        self._accounts: dict[str, _Failures] = {}
        self._sem: asyncio.Semaphore | None = None
        self._waiting = 0

    # -- backoff -----------------------------------------------------------------------------

    def _wait_for(self, table: dict[str, _Failures], key: str, free: int, now: float) -> float:
        f = table.get(key)
        if f is None:
            return 0.0
        if now - f.last > self.window:
            table.pop(key, None)
            return 0.0
        past = f.count - free
        if past < 0:
            return 0.0
        wait = min(self.max_wait, 2.0 ** past)
        return max(0.0, f.last + wait - now)

    def check(self, ip: str, account: str) -> None:
        """Raise :class:`Throttled` when ``ip`` or ``account`` must wait before trying again."""
        now = time.monotonic()
        account = account.lower()[:64]
        with self._lock:
            w_ip = self._wait_for(self._ips, ip, self.ip_free, now)
            w_acc = self._wait_for(self._accounts, account, self.account_free, now)
        if w_ip > 0:
            raise Throttled(w_ip, "too many failed logins from this address; wait and try again")
        if w_acc > 0:
            raise Throttled(w_acc, "too many failed logins for this user name; wait and try again")

    def failed(self, ip: str, account: str) -> None:
        now = time.monotonic()
        with self._lock:
            for table, key in ((self._ips, ip), (self._accounts, account.lower()[:64])):
                if len(table) >= self.max_keys and key not in table:
                    self._prune(table, now)
                f = table.setdefault(key, _Failures(first=now))
                f.count += 1
                f.last = now

    def succeeded(self, ip: str, account: str) -> None:
        with self._lock:
            self._accounts.pop(account.lower()[:64], None)

    def _prune(self, table: dict[str, _Failures], now: float) -> None:
        for k in [k for k, f in table.items() if now - f.last > self.window]:
            del table[k]
        if len(table) >= self.max_keys:  # still full: drop the oldest half
            for k in sorted(table, key=lambda k: table[k].last)[: len(table) // 2]:
                del table[k]

    # -- hash slots --------------------------------------------------------------------------

    def hashing(self) -> "_Slot":
        """An async context manager holding one hash slot; :class:`Throttled` when the queue
        of waiting logins is full."""
        return _Slot(self)


class _Slot:
    def __init__(self, t: LoginThrottle):
        self.t = t

    async def __aenter__(self):
        t = self.t
        if t._sem is None:
            t._sem = asyncio.Semaphore(t.slots)
        if t._sem.locked() and t._waiting >= t.queue:
            raise Throttled(1, "the server is busy checking other logins; try again in a moment")
        t._waiting += 1
        try:
            await t._sem.acquire()
        finally:
            t._waiting -= 1
        return self

    async def __aexit__(self, *exc):
        self.t._sem.release()
        return False


def client_ip(request) -> str:
    return request.client.host if request.client else "unknown"
