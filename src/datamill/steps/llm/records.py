"""Reading prompts and answers out of post-training records (and plain rows) for LLM steps."""

from __future__ import annotations

import random
from typing import Any

from datamill.core.record import Record
from datamill.post.schema import prompt_text, response_text


def prompt_messages(record: Record) -> list[dict[str, Any]]:
    """The conversation up to the answer: an SFT chat without its last assistant turn, the
    prompt side of preference/KTO/ranking records; a plain row's ``instruction``/``prompt``/``text``."""
    msgs = list(record.get("messages") or [])
    if record.get("kind", "sft") == "sft" and msgs and msgs[-1].get("role") == "assistant":
        msgs = msgs[:-1]
    if msgs:
        return [{"role": m["role"], "content": m.get("content") or ""} for m in msgs]
    text = record.get("instruction") or record.get("prompt") or record.get("text") or ""
    if record.get("input"):
        text = f"{text}\n{record['input']}"
    return [{"role": "user", "content": text}] if text else []


def question(record: Record) -> str:
    return prompt_text(record) or (prompt_messages(record) or [{"content": ""}])[-1]["content"]


def answer(record: Record) -> str:
    return response_text(record) or record.get("output") or ""


def rng_for(record: Record, seed: int) -> random.Random:
    """A random source fixed by the record's id and the step's seed: reruns choose the same."""
    return random.Random(f"{seed}:{record.get('id')}")
