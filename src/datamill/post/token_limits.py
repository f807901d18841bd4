"""Token limits of post-training records (``too_many_tokens``), counted in batches."""

from __future__ import annotations

from typing import Sequence

from datamill.post.issues import Issue, _issue, _with_id
from datamill.post.walk import conversations, message_texts, token_sides

_token_sides = token_sides  # the old private name
_texts = message_texts

#: No tokenizer makes more than this many tokens per UTF-8 byte of text (byte-level BPE makes at
#: most one, see ``TokenCounter.max_tokens_per_byte``; SentencePiece's word marker can add one
#: more), so shorter conversations are not counted at all.
MAX_TOKENS_PER_BYTE = 2


def token_issues(records: Sequence[dict], counter, max_tokens: int) -> list[list[Issue]]:
    """``too_many_tokens`` issues for each record (a list per record), counting in one batch.
    A prompt shared by several responses is counted once; a conversation whose UTF-8 length
    guarantees it fits (``MAX_TOKENS_PER_BYTE``) is not counted."""
    flat: list[str] = []
    plans: list[list[tuple[str, str, list[int]]]] = []
    per_byte = getattr(counter, "max_tokens_per_byte", MAX_TOKENS_PER_BYTE)
    for rec in records:
        mine: list[tuple[str, str, list[int]]] = []
        if isinstance(rec, dict):
            kind = rec.get("kind", "sft")
            prompt = _texts(rec.get("messages"))
            if kind == "sft":
                sides = [("messages", "the chat", [])]
            else:
                sides = [(name, f"prompt + {name}", _texts(msgs)) for name, msgs, _, _ in conversations(rec)]
            prompt_bytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in prompt)
            prompt_idx: list[int] | None = None
            for name, label, texts in sides:
                size = prompt_bytes + sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
                if size * per_byte <= max_tokens:
                    continue
                if prompt_idx is None:
                    prompt_idx = list(range(len(flat), len(flat) + len(prompt)))
                    flat.extend(prompt)
                idx = prompt_idx + list(range(len(flat), len(flat) + len(texts)))
                flat.extend(texts)
                mine.append((name, label, idx))
        plans.append(mine)
    counts = counter.count_batch(flat) if flat else []
    out: list[list[Issue]] = []
    for rec, mine in zip(records, plans):
        found = []
        for name, label, idx in mine:
            n = sum(counts[i] for i in idx)
            if n > max_tokens:
                found.append(_issue("too_many_tokens", name,
                                    f"{label} is {n:,} tokens, over the limit of {max_tokens:,}"))
        out.append(_with_id(found, rec) if isinstance(rec, dict) else found)
    return out



def resolve_counter(tokenizer):
    from datamill.post.tokenizer import TokenCounter, load_tokenizer

    if isinstance(tokenizer, TokenCounter):
        return tokenizer
    return load_tokenizer(tokenizer)
