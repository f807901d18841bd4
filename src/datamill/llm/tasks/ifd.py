"""Instruction-following difficulty (Li et al. 2023, "From Quantity to Quality").

IFD(Q, A) = PPL(A | Q) / PPL(A): how much the instruction helps the model predict the answer.
Near 1 (or above) the instruction barely helps — a hard (or misaligned, when > 1) sample;
well below 1 the answer follows easily from the prompt. Both perplexities come from per-token
log-probs of the answer span, which OpenAI-compatible servers return for the *prompt* of a
``/completions`` request with ``echo: true, logprobs: 0`` (llama.cpp's server started with
``logits_all``; vLLM with ``prompt_logprobs``).
"""

from __future__ import annotations

import math
from typing import Any

VERSION = "ifd/v1"

TEMPLATES = {
    # SmolLM2, Qwen and many others use ChatML
    "chatml": "<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n",
    "plain": "{prompt}\n\n",
}


def span_nll(reply: dict[str, Any], start: int, end: int) -> tuple[float, int]:
    """Mean negative log-prob of the echoed tokens whose text offset lies in [start, end), and
    how many there were. Raises ValueError when the reply has no echoed log-probs."""
    try:
        lp = reply["choices"][0]["logprobs"]
        offsets, values = lp["text_offset"], lp["token_logprobs"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("the reply has no echoed prompt log-probs (text_offset/token_logprobs)") from None
    picked = [v for off, v in zip(offsets, values) if start <= off < end and v is not None]
    if not picked:
        raise ValueError("no answer token has a log-prob in the echoed prompt")
    return -sum(picked) / len(picked), len(picked)


def ifd(nll_conditional: float, nll_answer: float) -> float:
    return math.exp(nll_conditional - nll_answer)
