"""Prompt dedup for post-training records: exact (``prompt_dedup``) and near
(``prompt_near_dedup``, MinHash-LSH).

Both compare the *prompt*, not the whole record: two SFT samples that ask the same question
with different answers are duplicates for training purposes (the first one in input order is
kept, as in ``exact_dedup``). ``prompt`` says which text: ``all_user`` (default: every user
turn, so multi-turn chats that share only an opening differ), ``last_user`` or ``full`` (the
whole prompt side with system prompt and roles).

They are ``exact_dedup`` and ``minhash_dedup`` with the key changed, and run in the same stages
on both executors. For meaning-level duplicates use ``semantic_dedup`` with ``field: messages``
(it embeds a chat's first user turn).
"""

from __future__ import annotations

from typing import Literal

from datamill.core.record import Record
from datamill.core.step import register
from datamill.steps.dedup.exact import ExactDedup
from datamill.steps.dedup.minhash import MinHashDedup
from datamill.steps.post.sides import PROMPT_MODES, prompt_key


def _check_mode(prompt: str) -> None:
    if prompt not in PROMPT_MODES:
        raise ValueError(f"prompt must be one of {', '.join(PROMPT_MODES)}, not {prompt!r}")


@register("prompt_dedup")
class PromptDedup(ExactDedup):
    """Drop records whose prompt was seen before (exact match; reason ``duplicate_prompt``).

    Whitespace and case are folded unless ``normalize: false``; the first one in input order
    is kept."""

    def __init__(self, prompt: Literal["all_user", "last_user", "full"] = "all_user",
                 normalize: bool = True):
        _check_mode(prompt)
        super().__init__(field="messages", normalize=normalize)
        self.prompt = prompt

    drop_reason = "duplicate_prompt"

    def _text(self, record: Record) -> str:
        return prompt_key(record, self.prompt)


@register("prompt_near_dedup")
class PromptNearDedup(MinHashDedup):
    """Drop near-duplicate prompts (MinHash-LSH; reason ``near_duplicate``).

    Keeps the first record of each cluster of prompts whose word n-grams overlap above
    ``threshold``. Parameters as ``minhash_dedup``; ``ngram`` defaults to 3 because prompts are
    short."""

    def __init__(self, prompt: Literal["all_user", "last_user", "full"] = "all_user",
                 threshold: float = 0.8, num_perm: int = 112, bands: int | None = None,
                 rows: int | None = None, ngram: int = 3, char_ngram: int = 5,
                 lowercase: bool = True, normalize: bool = True,
                 keep: Literal["first", "longest", "signal"] = "first",
                 keep_signal: str | None = None, seed: int = 1, verify: bool = True):
        _check_mode(prompt)
        super().__init__(threshold=threshold, num_perm=num_perm, bands=bands, rows=rows,
                         ngram=ngram, char_ngram=char_ngram, lowercase=lowercase,
                         normalize=normalize, keep=keep, keep_signal=keep_signal, seed=seed,
                         verify=verify, field="messages")
        self.prompt = prompt

    def _text(self, record: Record) -> str:
        return prompt_key(record, self.prompt)
