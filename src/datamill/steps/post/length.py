"""``post_length``: bounds on the length of prompt and answers, in width units and in tokens.

``units`` says how a "char" bound counts: ``width`` (default) counts a CJK or full-width
character as 2 and any other character as 1, so one bound means about the same amount of text
in Chinese and in English ("李白是谁" is 8 units, "Who is Li Bai" 13; "谢谢" 4, "Thanks" 6);
``chars`` counts code points, as before. The minimum prompt bound is measured on every user
turn of the conversation (``min_prompt_scope: all_user``), so a "谢谢" or "继续" follow-up
after a real first question is not a too-short prompt; the maximum is on the last user turn.

``allow_short_answers`` (default on): an answer under the minimum is kept when it is a right
kind of short answer for its prompt — a number, a yes/no word, an option letter of a
multiple-choice prompt, a label the prompt offers, or the answer to a classification prompt
(:mod:`datamill.post.short_answer`); the signal ``short_answer`` says which.

The prompt is the last user turn; the answers are every response side's final assistant turn
(an SFT's answer, both chosen and rejected, the completion, every ranked response); the total
is each whole conversation (prompt side plus one response side, tool calls included), as
``datamill validate --max-tokens`` counts it. Tokens are counted with ``tokenizer`` (a
``tokenizer.json``; default datamill's BPE, see :mod:`datamill.post.tokenizer`) only when a
token bound is set.

Drop reasons: ``prompt_too_short``, ``prompt_too_long``, ``response_too_short``,
``response_too_long`` (characters or tokens), ``too_many_tokens`` (the total). Signals:
``prompt_chars``, ``response_chars`` (the longest answer), and with token bounds
``prompt_tokens``, ``response_tokens``, ``total_tokens`` (longest conversation).
"""

from __future__ import annotations

import unicodedata

from datamill.core.record import Batch, Record
from datamill.core.step import Filter, Resources, register
from datamill.post.schema import prompt_text
from datamill.post.short_answer import record_is_classification, short_answer_kind
from datamill.post.walk import response_sides, token_sides as _token_sides
from datamill.steps.post.sides import set_signals


UNITS = ("width", "chars")
PROMPT_SCOPES = ("all_user", "last_user")


def text_width(text: str) -> int:
    """Length with East Asian wide and full-width characters counted as 2 (CJK ideographs,
    kana, hangul, full-width forms), every other character as 1."""
    n = 0
    for ch in text:
        n += 2 if ch >= "\u1100" and unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def _bounds(lo, hi, name):
    if lo is not None and lo < 0:
        raise ValueError(f"min_{name} must be >= 0, got {lo}")
    if hi is not None and lo is not None and hi < lo:
        raise ValueError(f"max_{name} ({hi}) is below min_{name} ({lo})")


@register("post_length")
class PostLength(Filter):
    """Drop records whose prompt, answers or whole conversation are too short or too long."""

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=1024)

    def __init__(self, min_prompt_chars: int = 1, max_prompt_chars: int | None = None,
                 min_response_chars: int = 1, max_response_chars: int | None = None,
                 min_prompt_tokens: int | None = None, max_prompt_tokens: int | None = None,
                 min_response_tokens: int | None = None, max_response_tokens: int | None = None,
                 max_total_tokens: int | None = None, tokenizer: str | None = None,
                 units: str = "width", min_prompt_scope: str = "all_user",
                 allow_short_answers: bool = True):
        if units not in UNITS:
            raise ValueError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
        if min_prompt_scope not in PROMPT_SCOPES:
            raise ValueError(f"min_prompt_scope must be one of {', '.join(PROMPT_SCOPES)}, got {min_prompt_scope!r}")
        self.units = units
        self.min_prompt_scope = min_prompt_scope
        self.allow_short_answers = allow_short_answers
        _bounds(min_prompt_chars, max_prompt_chars, "prompt_chars")
        _bounds(min_response_chars, max_response_chars, "response_chars")
        _bounds(min_prompt_tokens, max_prompt_tokens, "prompt_tokens")
        _bounds(min_response_tokens, max_response_tokens, "response_tokens")
        self.min_prompt_chars = min_prompt_chars
        self.max_prompt_chars = max_prompt_chars
        self.min_response_chars = min_response_chars
        self.max_response_chars = max_response_chars
        self.min_prompt_tokens = min_prompt_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.min_response_tokens = min_response_tokens
        self.max_response_tokens = max_response_tokens
        self.max_total_tokens = max_total_tokens
        self.tokenizer = tokenizer
        self.uses_tokens = any(v is not None for v in (
            min_prompt_tokens, max_prompt_tokens, min_response_tokens, max_response_tokens,
            max_total_tokens))

    def setup(self) -> None:
        self._counter = None
        if self.uses_tokens:
            from datamill.post.tokenizer import load_tokenizer

            self._counter = load_tokenizer(self.tokenizer)

    def keep_batch(self, batch: Batch) -> list[None | str]:
        self.ensure_setup()
        prompts = [prompt_text(r) for r in batch]
        sides = [response_sides(r) for r in batch]
        answers = [[t for _, t in sd] for sd in sides]
        self._fields = [[f for f, _ in sd] for sd in sides]
        tok = None
        if self._counter is not None:
            flat: list[str] = []
            spans = []
            for p, ans, rec in zip(prompts, answers, batch):
                convs = [texts for _, _, texts in _token_sides(rec)] if self.max_total_tokens else []
                start = len(flat)
                flat.append(p)
                flat.extend(ans)
                conv_spans = []
                for texts in convs:
                    conv_spans.append((len(flat), len(flat) + len(texts)))
                    flat.extend(texts)
                spans.append((start, len(ans), conv_spans))
            counts = self._counter.count_batch(flat)
            tok = []
            for start, n_ans, conv_spans in spans:
                tok.append((counts[start], counts[start + 1:start + 1 + n_ans],
                            [sum(counts[a:b]) for a, b in conv_spans]))
        out = []
        for i, rec in enumerate(batch):
            self._row_fields = self._fields[i]
            out.append(self._verdict(rec, prompts[i], answers[i], tok[i] if tok else None))
        return out

    def keep(self, record: Record) -> None | str:
        return self.keep_batch([record])[0]

    def _length(self, text: str) -> int:
        text = text.strip()
        return text_width(text) if self.units == "width" else len(text)

    def _short_ok(self, rec, prompt: str, answers: list[str], limit: int, lengths: list[int]) -> str | None:
        """The short-answer kind when every answer under ``limit`` is a right short answer."""
        if not self.allow_short_answers:
            return None
        is_cls = record_is_classification(rec)
        kinds = [short_answer_kind(prompt, a, is_classification=is_cls)
                 for a, n in zip(answers, lengths) if n < limit]
        return kinds[0] if kinds and all(kinds) else None

    def _verdict(self, rec, prompt: str, answers: list[str], tok) -> None | str:
        p_chars = self._length(prompt)
        p_min = p_chars
        if self.min_prompt_scope == "all_user" and self.min_prompt_chars:
            from datamill.post.walk import prompt_key

            p_min = self._length(prompt_key(rec, "all_user"))
        r_chars = [self._length(a) for a in answers] or [0]
        sig = {"prompt_chars": p_chars, "response_chars": max(r_chars)}
        reason = None
        if p_min < (self.min_prompt_chars or 0):
            reason = "prompt_too_short"
        elif self.max_prompt_chars is not None and p_chars > self.max_prompt_chars:
            reason = "prompt_too_long"
        elif min(r_chars) < (self.min_response_chars or 0):
            kind = self._short_ok(rec, prompt, answers, self.min_response_chars, r_chars)
            if kind:
                sig["short_answer"] = kind
            else:
                reason = "response_too_short"
        elif self.max_response_chars is not None and max(r_chars) > self.max_response_chars:
            reason = "response_too_long"
        if tok is not None:
            p_tok, r_tok, totals = tok
            r_tok = r_tok or [0]
            sig.update(prompt_tokens=p_tok, response_tokens=max(r_tok))
            if totals:
                sig["total_tokens"] = max(totals)
            if reason is None:
                if self.min_prompt_tokens is not None and p_tok < self.min_prompt_tokens:
                    reason = "prompt_too_short"
                elif self.max_prompt_tokens is not None and p_tok > self.max_prompt_tokens:
                    reason = "prompt_too_long"
                elif (self.min_response_tokens is not None and min(r_tok) < self.min_response_tokens
                      and not self._short_ok(rec, prompt, answers, self.min_response_tokens, list(r_tok))):
                    reason = "response_too_short"
                elif self.max_response_tokens is not None and max(r_tok) > self.max_response_tokens:
                    reason = "response_too_long"
                elif self.max_total_tokens is not None and totals and max(totals) > self.max_total_tokens:
                    reason = "too_many_tokens"
        if reason in ("response_too_short", "response_too_long"):
            # the drop details name the side that decided: the shortest answer for too_short
            # (a rejected "n"), the longest for too_long, not always the longest
            use_tok = tok is not None and reason not in self._char_reasons(r_chars)
            vals = list(tok[1] or [0]) if use_tok else r_chars
            k = vals.index(min(vals) if reason == "response_too_short" else max(vals))
            sig["response_tokens" if use_tok else "response_chars"] = vals[k]
            fields = getattr(self, "_row_fields", [])
            if k < len(fields):
                sig["response_field"] = fields[k]
        set_signals(rec, self.label, **sig)
        return reason

    def _char_reasons(self, r_chars: list[int]) -> set[str]:
        """The response reasons the character bounds alone give."""
        out = set()
        if min(r_chars) < (self.min_response_chars or 0):
            out.add("response_too_short")
        if self.max_response_chars is not None and max(r_chars) > self.max_response_chars:
            out.add("response_too_long")
        return out
