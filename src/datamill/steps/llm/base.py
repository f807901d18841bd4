"""What every LLM step shares: its endpoint, the health check, fan-out over a batch, and the
accounting of calls, tokens and failures.

A subclass defines ``process(record) -> list[Record] | str``: the records it produces (none,
one or several: ``generate`` turns a prompt into one ranking record, a filter-like step returns
``[record]`` or a drop reason). The batch is handed to the client's thread pool, so up to
``llm.max_concurrency`` requests are in flight. Failures never stop the run:

* context overflow -> dropped with reason ``too_long``;
* a reply that does not parse -> dropped with reason ``llm_parse_error``; the raw reply rides
  along in ``metadata.llm_raw`` (written to OUTPUT/dropped/ with ``--keep-dropped``);
* a request that failed for good after retries -> quarantined with the error.

Calls, cache hits, retries, 429s and prompt/completion tokens go into the step's stats under
``counters.llm``; every output names the step, the prompt template version and the model in
``metadata.llm[LABEL]``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, ClassVar

from datamill.core.errors import DatamillError
from datamill.core.record import Batch, Record
from datamill.core.step import Resources, Step, StepContext, StepDefinitionError
from datamill.core.stats import StepStats
from datamill.llm.client import LLMClient, reply_text
from datamill.llm.config import LLMConfig
from datamill.llm.errors import ContextOverflow, LLMError, LLMParseError


def make_config(llm: dict[str, Any] | None, step: str) -> LLMConfig:
    try:
        return LLMConfig.from_dict(llm, where=f"step {step!r}, llm")
    except DatamillError as exc:
        raise ValueError(str(exc)) from None


class LLMUser:
    """Mixin for any step (transform or global) that holds an LLM client."""

    template_version: ClassVar[str] = ""
    llm_config: LLMConfig
    _client: LLMClient | None = None

    @property
    def client(self) -> LLMClient:
        if self._client is None:
            self._client = LLMClient(self.llm_config)
            if self.llm_config.health_check:
                self._client.health_check()
        return self._client

    def preflight(self) -> None:
        """Health check before the run: one clear line naming the endpoint when it fails."""
        with LLMClient(self.llm_config) as client:
            client.health_check()

    def provenance(self, reply: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        out = {"template": self.template_version,
               "model": (reply or {}).get("model") or self.client.model}
        out.update(extra)
        return out

    def stamp(self, record: Record, reply: dict[str, Any] | None = None, **extra: Any) -> Record:
        meta = record.get("metadata")
        if not isinstance(meta, dict):
            meta = record["metadata"] = {}
        meta.setdefault("llm", {})[self.label] = self.provenance(reply, **extra)  # type: ignore[attr-defined]
        return record

    def usage_delta(self, before: Counter) -> Counter:
        now = Counter(self.client.usage)
        now.subtract(before)
        return +now


class FanOut(Step):
    """A step whose ``process(record)`` returns the records it produces (a list: none, one or
    several) or a drop reason. Counts noted with :meth:`note` (thread-safe) are added to the
    step's stats under ``counters[NAME]``."""

    kind = "transform"

    def process(self, record: Record) -> list[Record] | str:
        raise StepDefinitionError(f"{type(self).__name__} must define process()")

    def note(self, key: str, n: int = 1) -> None:
        lock = self.__dict__.setdefault("_note_lock", threading.Lock())
        with lock:
            self.__dict__.setdefault("_notes", Counter())[key] += n

    def _map(self, batch: Batch) -> list[Any]:
        out: list[Any] = []
        for record in batch:
            try:
                out.append(self.process(record))
            except StepDefinitionError:  # a bug in the step, not a bad record: stop the task
                raise
            except Exception as exc:  # noqa: BLE001 - handled per record below
                out.append(exc)
        return out

    def _usage_before(self) -> Counter:
        return Counter()

    def _usage_after(self, stats: StepStats, before: Counter) -> None:
        pass

    def run_batch(self, batch: Batch, stats: StepStats, ctx: StepContext) -> Batch:
        t0 = time.perf_counter()
        stats.n_in += len(batch)
        before = self._usage_before()
        results = self._map(batch)
        out: Batch = []
        for record, result in zip(batch, results):
            if isinstance(result, list):
                out.extend(result)
            elif isinstance(result, str):
                stats.dropped[result] += 1
                ctx.drop(self, record, result)
            elif isinstance(result, ContextOverflow):
                stats.dropped["too_long"] += 1
                ctx.drop(self, record, "too_long")
            elif isinstance(result, LLMParseError):
                stats.dropped["llm_parse_error"] += 1
                kept = dict(record)
                kept["metadata"] = dict(record.get("metadata") or {},
                                        llm_raw=result.raw, llm_error=f"{self.label}: {result}")
                ctx.drop(self, kept, "llm_parse_error")
            elif isinstance(result, BaseException):
                try:
                    raise result
                except Exception as exc:  # noqa: BLE001 - quarantined with its traceback
                    ctx.quarantine(self, record, exc)
                    stats.quarantined += 1
        self._usage_after(stats, before)
        notes = self.__dict__.pop("_notes", None)
        if notes:
            stats.counter(self.name).update(notes)
        stats.n_out += len(out)
        stats.seconds += time.perf_counter() - t0
        return out


class LLMStep(LLMUser, FanOut):
    """Per-record LLM step (see the module docstring): ``process`` runs on the client's pool."""

    resources = Resources(cpus=0.5, batch_size=64)

    def __init__(self, llm: dict[str, Any] | None = None) -> None:
        self.llm_config = make_config(llm, self.name)

    def setup(self) -> None:
        _ = self.client  # connect and health-check once per worker

    def _map(self, batch: Batch) -> list[Any]:
        return self.client.map(self.process, batch)

    def _usage_before(self) -> Counter:
        return Counter(self.client.usage)

    def _usage_after(self, stats: StepStats, before: Counter) -> None:
        stats.counter("llm").update(self.usage_delta(before))

    def chat_text(self, messages: list[dict], **params: Any) -> tuple[str, dict[str, Any]]:
        """One chat call; the reply's text and the raw reply."""
        reply = self.client.chat(messages, **params)
        return reply_text(reply), reply
