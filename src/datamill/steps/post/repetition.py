"""``repetition_filter``: answers that repeat themselves (a generation stuck in a loop).

Three measures on each answer being taught (the SFT's assistant turns, the chosen side…), with
fenced code blocks removed first (code legitimately repeats lines) and words split by language
(:func:`datamill.text.words.words`, punctuation tokens left out):

* ``repeated_ngrams`` — the characters in duplicated word ``ngram``-grams (Gopher's measure,
  walking left to right) are more than ``max_dup_ngram_frac`` of the words' characters;
  answers under ``min_words`` words are not measured;
* ``repeated_lines`` — more than ``max_dup_line_frac`` of the non-empty lines (at least three
  lines) repeat an earlier line of ``min_unit_chars`` or more (``$$``, ``}``, ``---`` may repeat);
* ``looping`` — one sentence or line (``min_unit_chars`` or longer, a CJK character counting
  twice) comes
  ``max_consecutive_repeats`` or more times in a row ("I like apple. I like apple. I like…").

Not measured: fenced code, code-like lines and table rows or rules (``+---+``, ``| a | b |``:
an ASCII table repeats its rule line by design); with ``honour_requests`` (default) an answer
whose prompt asks for repetition ("repeat after me", "say it 3 times", "重复三遍") is not judged
(signal ``repetition: {"requested": true}``).

Defaults were set on the shared instruction and preference data: they drop about 0.15% of its
answers, all visibly repetitive. Signals: ``repetition`` with the three values of the worst
answer.
"""

from __future__ import annotations

import re
from collections import Counter

from datamill.core.record import Record
from datamill.core.step import Filter, register
from datamill.post.schema import prompt_text
from datamill.steps.post.sides import prose_only, set_signals, side_language, taught_answers
from datamill.steps.quality.gopher import _dup_ngram_chars
from datamill.text.words import is_punctuation, words

#: the prompt asks for repetition: "repeat…", "say it 3 times", "重复三遍", "写五次"
_ASKED = re.compile(
    r"\brepeat|\brepetit|\bover and over|\bagain and again|\b(?:\d+|two|three|four|five|six|seven|"
    r"eight|nine|ten|twenty|fifty|hundred) times\b|重复|复述|跟我说|[0-9一二两三四五六七八九十百]+\s*[遍次]",
    re.I)


def asked_to_repeat(prompt: str) -> bool:
    """True when the prompt asks for repetition, so a repeating answer is what it wanted."""
    return bool(_ASKED.search(prompt or ""))


_UNITS = re.compile(r"[^\n.!?。！？]+[.!?。！？]*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _language(record: dict, text: str) -> str:
    lang = side_language(record, "response")
    if lang and lang != "und":
        return lang
    cjk = len(_CJK.findall(text[:500]))
    if cjk > 20:
        return "ja" if re.search(r"[\u3040-\u30ff]", text[:500]) else "zh"
    return "en"


def _weight(text: str) -> int:
    """Length in characters, CJK characters counting twice (one carries about a word)."""
    return len(text) + len(_CJK.findall(text))


def max_run(units: list[str]) -> int:
    best = run = 0
    prev = None
    for u in units:
        run = run + 1 if u == prev else 1
        prev = u
        best = max(best, run)
    return best


@register("repetition_filter")
class RepetitionFilter(Filter):
    """Drop answers with repeated n-grams, repeated lines or a looping sentence."""

    def __init__(self, ngram: int = 10, max_dup_ngram_frac: float | None = 0.3,
                 max_dup_line_frac: float | None = 0.3, max_consecutive_repeats: int | None = 3,
                 min_words: int = 20, min_unit_chars: int = 8, skip_code: bool = True,
                 all_turns: bool = True, include_rejected: bool = False, honour_requests: bool = True):
        if ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {ngram}")
        for name, v in (("max_dup_ngram_frac", max_dup_ngram_frac), ("max_dup_line_frac", max_dup_line_frac)):
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {v}")
        if max_consecutive_repeats is not None and max_consecutive_repeats < 2:
            raise ValueError("max_consecutive_repeats must be >= 2")
        self.ngram = ngram
        self.max_dup_ngram_frac = max_dup_ngram_frac
        self.max_dup_line_frac = max_dup_line_frac
        self.max_consecutive_repeats = max_consecutive_repeats
        self.min_words = min_words
        self.min_unit_chars = min_unit_chars
        self.skip_code = skip_code
        self.all_turns = all_turns
        self.include_rejected = include_rejected
        self.honour_requests = honour_requests

    def measure(self, text: str, language: str = "en") -> dict[str, float]:
        """``dup_ngram_frac``, ``dup_line_frac`` and ``max_run`` of one answer."""
        if self.skip_code:  # code and tables (ASCII or Markdown) repeat lines by nature
            text = prose_only(text)
        out = {"dup_ngram_frac": 0.0, "dup_line_frac": 0.0, "max_run": 0}
        toks = tuple(w for w in words(text, language) if w.strip() and not is_punctuation(w))
        if len(toks) >= max(self.min_words, self.ngram + 1):
            n_chars = sum(map(len, toks))
            counts = Counter(zip(*(toks[i:] for i in range(self.ngram))))
            out["dup_ngram_frac"] = round(_dup_ngram_chars(toks, self.ngram, counts) / n_chars, 4)
        lines = [l.strip() for l in text.split("\n") if l.strip()]
        if len(lines) >= 3:  # lines shorter than min_unit_chars ("$$", "}", "---") may repeat
            seen: set[str] = set()
            dup = 0
            for line in lines:
                if _weight(line) >= self.min_unit_chars:
                    if line in seen:
                        dup += 1
                    seen.add(line)
            out["dup_line_frac"] = round(dup / len(lines), 4)
        units = [u.strip() for u in _UNITS.findall(text)]
        units = [u for u in units if _weight(u) >= self.min_unit_chars]
        out["max_run"] = max_run(units)
        return out

    def _reason(self, m: dict[str, float]) -> str | None:
        if self.max_consecutive_repeats is not None and m["max_run"] >= self.max_consecutive_repeats:
            return "looping"
        if self.max_dup_ngram_frac is not None and m["dup_ngram_frac"] > self.max_dup_ngram_frac:
            return "repeated_ngrams"
        if self.max_dup_line_frac is not None and m["dup_line_frac"] > self.max_dup_line_frac:
            return "repeated_lines"
        return None

    def keep(self, record: Record) -> None | str:
        worst = None
        if self.honour_requests and asked_to_repeat(prompt_text(record)):
            set_signals(record, self.label, repetition={"requested": True})
            return None
        for field, text in taught_answers(record, all_turns=self.all_turns,
                                          include_rejected=self.include_rejected):
            if not text:
                continue
            m = self.measure(text, _language(record, text))
            reason = self._reason(m)
            if reason:
                set_signals(record, self.label, repetition=dict(m, field=field))
                return reason
            if worst is None or m["dup_ngram_frac"] > worst["dup_ngram_frac"]:
                worst = m
        if worst is not None:
            set_signals(record, self.label, repetition=worst)
        return None
