"""Confidence of a teacher's answer: mean token log-prob, and self-consistency of final answers.

* ``mean_logprob(reply)``: from the OpenAI chat ``logprobs.content[].logprob`` layout (vLLM,
  OpenAI, llama.cpp) or the completion ``logprobs.token_logprobs`` layout.
* ``final_answer(text)``: for math-like tasks, ``\\boxed{..}``, "The answer is ..", "#### .."
  (GSM8K), else the last number; else the last non-empty line.
* ``agreement(answers)``: share of samples that agree with the most common final answer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_ANSWER_IS = re.compile(r"(?:answer is|答案是|####)\s*[:：]?\s*\$?([^\n]+)", re.I)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def token_logprobs(reply: dict[str, Any], index: int = 0) -> list[float]:
    try:
        lp = reply["choices"][index].get("logprobs") or {}
    except (KeyError, IndexError, TypeError):
        return []
    if isinstance(lp.get("content"), list):
        return [float(t["logprob"]) for t in lp["content"] if t.get("logprob") is not None]
    return [float(x) for x in (lp.get("token_logprobs") or []) if x is not None]


def mean_logprob(reply: dict[str, Any], index: int = 0) -> float | None:
    values = token_logprobs(reply, index)
    return sum(values) / len(values) if values else None


def _norm_number(text: str) -> str | None:
    nums = _NUMBER.findall(text)
    if not nums:
        return None
    value = nums[-1].replace(",", "")
    try:
        f = float(value)
    except ValueError:
        return value
    return str(int(f)) if f == int(f) else str(f)


def final_answer(text: str) -> str:
    m = _BOXED.findall(text)
    if m:
        return _norm_number(m[-1]) or m[-1].strip()
    m2 = _ANSWER_IS.findall(text)
    if m2:
        return _norm_number(m2[-1]) or m2[-1].strip().rstrip(".。").lower()
    num = _norm_number(text)
    if num is not None:
        return num
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].rstrip(".。").lower() if lines else ""


def agreement(answers: list[str]) -> tuple[str, float]:
    """(majority answer, share of samples agreeing with it)."""
    answers = [a for a in answers]
    if not answers:
        return "", 0.0
    best, n = Counter(answers).most_common(1)[0]
    return best, n / len(answers)


def perplexity(mean_nll: float) -> float:
    return math.exp(min(mean_nll, 50.0))
