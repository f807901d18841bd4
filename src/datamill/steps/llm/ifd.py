"""``ifd_score``: instruction-following difficulty and answer perplexity, as signals.

For each SFT record (answer A = the last assistant turn, prompt Q = the user turn before it) two
texts are scored token by token: the chat-formatted ``Q`` followed by ``A``, and ``A`` alone.
``backend: server`` asks the endpoint (``/completions`` with ``echo`` and ``logprobs``; right on
vLLM); ``backend: local`` runs the GGUF ``model_path`` (default SmolLM2-135M-Instruct) in-process
with llama.cpp — use it with llama-cpp-python's server, whose echoed log-probs are misaligned
(see :mod:`datamill.llm.local_logprobs`). From the answer tokens' log-probs: ``ppl_conditional`` = PPL(A | Q),
``ppl_answer`` = PPL(A), ``ifd`` = their ratio (see :mod:`datamill.llm.tasks.ifd`). Stored under
``signals[LABEL]`` (``ifd_score.ifd``, ``ifd_score.ppl_answer`` for ``signal_filter``);
``datamill select --method ifd`` keeps the top by IFD. Cheap: one token is generated per request.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from datamill.core.record import Record
from datamill.core.step import register
from datamill.llm.tasks import ifd as task
from datamill.steps.llm.base import FanOut, LLMStep
from datamill.steps.llm.records import answer, question


@register("ifd_score")
class IFDScore(LLMStep):
    """IFD = PPL(answer | prompt) / PPL(answer) from the server's log-probs, plus perplexity."""

    kind = "tagger"
    template_version = task.VERSION

    def __init__(self, template: str = "chatml", max_answer_chars: int = 4000, backend: str = "server",
                 model_path: str | None = None, n_ctx: int = 2048, llm: dict[str, Any] | None = None):
        if template not in task.TEMPLATES:
            raise ValueError(f"template must be one of {list(task.TEMPLATES)}")
        if backend not in ("server", "local"):
            raise ValueError("backend must be 'server' or 'local'")
        super().__init__(llm)
        self.template, self.max_answer_chars = template, max_answer_chars
        self.backend, self.model_path, self.n_ctx = backend, model_path, n_ctx
        self._local = None

    # the local backend needs no endpoint
    def setup(self) -> None:
        if self.backend == "local":
            from datamill.llm.local_logprobs import LocalLogprobs

            self._local = LocalLogprobs(self.model_path, n_ctx=self.n_ctx)
        else:
            super().setup()

    def preflight(self) -> None:
        if self.backend == "server":
            super().preflight()

    def _map(self, batch):
        if self.backend == "local":
            return FanOut._map(self, batch)
        return super()._map(batch)

    def _usage_before(self):
        return Counter() if self.backend == "local" else super()._usage_before()

    def _usage_after(self, stats, before) -> None:
        if self.backend == "server":
            super()._usage_after(stats, before)

    def provenance(self, reply=None, **extra):
        if self.backend == "local":
            return {"template": self.template_version, "model": self.model_path or "local", **extra}
        return super().provenance(reply, **extra)

    def _nll(self, text: str, start: int, end: int) -> tuple[float, int]:
        if self.backend == "local":
            return self._local.span_nll(text, start, end)
        reply = self.client.complete(text, max_tokens=1, echo=True, logprobs=0, temperature=0.0)
        return task.span_nll(reply, start, end)

    def score(self, q: str, a: str) -> dict[str, float]:
        a = a[: self.max_answer_chars]
        prefix = task.TEMPLATES[self.template].format(prompt=q)
        nll_c, n = self._nll(prefix + a, len(prefix), len(prefix) + len(a))
        nll_a, _ = self._nll(a, 0, len(a))
        return {"ifd": round(task.ifd(nll_c, nll_a), 5), "ppl_conditional": round(math.exp(nll_c), 4),
                "ppl_answer": round(math.exp(nll_a), 4), "answer_tokens": n}

    def process(self, record: Record) -> list[Record] | str:
        q, a = question(record), answer(record)
        if not q.strip() or not a.strip():
            return "no_answer"
        record.setdefault("signals", {})[self.label] = self.score(q, a)
        return [record]
