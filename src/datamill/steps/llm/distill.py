"""``distill``: a teacher answers each prompt; the answer is kept only when the teacher is confident.

``confidence: logprob`` — the mean token log-prob of the answer, from the server's ``logprobs``
(``exp`` of it, the geometric-mean token probability, must reach ``min_confidence``).
``confidence: consistency`` — ``k`` samples at ``temperature``; their final answers (``\\boxed{}``,
"The answer is", GSM8K's "####", else the last number or line) are compared, and the share that
agrees with the majority must reach ``min_agreement``; a sample with the majority answer is kept.
``confidence: both`` needs both. Confidence values are signals under ``signals[LABEL]``; a drop
has reason ``low_confidence``. The record becomes an SFT chat ending in the teacher's answer.
"""

from __future__ import annotations

import math
from typing import Any

from datamill.core.record import Record
from datamill.core.step import register
from datamill.llm.tasks import confidence as conf
from datamill.post.schema import message, sft
from datamill.steps.llm.base import LLMStep
from datamill.steps.llm.records import prompt_messages

VERSION = "distill/v1"


@register("distill")
class Distill(LLMStep):
    """Teacher answers kept when confident (mean token log-prob and/or self-consistency)."""

    template_version = VERSION

    def __init__(self, confidence: str = "logprob", min_confidence: float = 0.5, k: int = 5,
                 min_agreement: float = 0.6, temperature: float = 0.8, system: str | None = None,
                 seed: int = 0, llm: dict[str, Any] | None = None):
        if confidence not in ("logprob", "consistency", "both"):
            raise ValueError("confidence must be 'logprob', 'consistency' or 'both'")
        if not 0 <= min_confidence <= 1 or not 0 <= min_agreement <= 1:
            raise ValueError("min_confidence and min_agreement are shares in [0, 1]")
        if k < 1:
            raise ValueError("k must be >= 1")
        super().__init__(llm)
        self.confidence, self.min_confidence, self.k = confidence, min_confidence, k
        self.min_agreement, self.temperature, self.system, self.seed = min_agreement, temperature, system, seed

    def process(self, record: Record) -> list[Record] | str:
        prompt = prompt_messages(record)
        if not prompt:
            return "no_prompt"
        send = ([{"role": "system", "content": self.system}] if self.system else []) + prompt
        signals: dict[str, Any] = {}
        answer, reply = None, None
        ok = True
        if self.confidence in ("logprob", "both"):
            answer, reply = self.chat_text(send, temperature=0.0, logprobs=True, top_logprobs=1)
            mlp = conf.mean_logprob(reply)
            if mlp is None:
                raise ValueError(f"{self.client.config.base_url} returned no logprobs: use confidence: "
                                 f"consistency, or a server that returns them")
            signals["mean_logprob"] = round(mlp, 4)
            signals["confidence"] = round(math.exp(mlp), 4)
            ok = ok and signals["confidence"] >= self.min_confidence
        if self.confidence in ("consistency", "both"):
            samples = [self.chat_text(send, temperature=self.temperature, seed=self.seed * 1_000_003 + i)
                       for i in range(self.k)]
            finals = [conf.final_answer(t) for t, _ in samples]
            majority, share = conf.agreement(finals)
            signals["agreement"] = round(share, 4)
            signals["majority_answer"] = majority
            ok = ok and share >= self.min_agreement
            if answer is None or conf.final_answer(answer) != majority:
                answer, reply = next(s for s, f in zip(samples, finals) if f == majority)
        record.setdefault("signals", {})[self.label] = signals
        if not ok:
            return "low_confidence"
        if not (answer or "").strip():
            return "empty_response"
        meta = dict(record.get("metadata") or {}, source_id=record.get("id"))
        out = sft(str(record.get("id")), prompt + [message("assistant", answer.strip())], metadata=meta,
                  signals=record["signals"])
        return [self.stamp(out, reply)]
