"""``ifd_score``: instruction-following difficulty and answer perplexity, as signals.

For each SFT record (answer A = the last assistant turn, prompt Q = the user turn before it) two
``/completions`` requests echo the text with log-probs: the chat-formatted ``Q`` followed by
``A``, and ``A`` alone. From the answer tokens' log-probs: ``ppl_conditional`` = PPL(A | Q),
``ppl_answer`` = PPL(A), ``ifd`` = their ratio (see :mod:`datamill.llm.tasks.ifd`). Stored under
``signals[LABEL]`` (``ifd_score.ifd``, ``ifd_score.ppl_answer`` for ``signal_filter``);
``datamill select --method ifd`` keeps the top by IFD. Cheap: one token is generated per request.
"""

from __future__ import annotations

import math
from typing import Any

from datamill.core.record import Record
from datamill.core.step import register
from datamill.llm.tasks import ifd as task
from datamill.steps.llm.base import LLMStep
from datamill.steps.llm.records import answer, question


@register("ifd_score")
class IFDScore(LLMStep):
    """IFD = PPL(answer | prompt) / PPL(answer) from the server's log-probs, plus perplexity."""

    kind = "tagger"
    template_version = task.VERSION

    def __init__(self, template: str = "chatml", max_answer_chars: int = 4000, llm: dict[str, Any] | None = None):
        if template not in task.TEMPLATES:
            raise ValueError(f"template must be one of {list(task.TEMPLATES)}")
        super().__init__(llm)
        self.template, self.max_answer_chars = template, max_answer_chars

    def score(self, q: str, a: str) -> dict[str, float]:
        a = a[: self.max_answer_chars]
        prefix = task.TEMPLATES[self.template].format(prompt=q)
        params = dict(max_tokens=1, echo=True, logprobs=0, temperature=0.0)
        cond = self.client.complete(prefix + a, **params)
        nll_c, n = task.span_nll(cond, len(prefix), len(prefix) + len(a))
        alone = self.client.complete(a, **params)
        nll_a, _ = task.span_nll(alone, 0, len(a))
        return {"ifd": round(task.ifd(nll_c, nll_a), 5), "ppl_conditional": round(math.exp(nll_c), 4),
                "ppl_answer": round(math.exp(nll_a), 4), "answer_tokens": n}

    def process(self, record: Record) -> list[Record] | str:
        q, a = question(record), answer(record)
        if not q.strip() or not a.strip():
            return "no_answer"
        record.setdefault("signals", {})[self.label] = self.score(q, a)
        return [record]
