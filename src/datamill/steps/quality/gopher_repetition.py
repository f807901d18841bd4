"""Gopher's (MassiveWeb's) repetition rules.

Source: Rae et al. 2021 (Gopher), table A1; counting conventions as in datatrove's
``GopherRepetitionFilter`` (the reference FineWeb used). ``gopher_repetition_signals``
measures every fraction, ``gopher_repetition_rules`` decides on them, and
``gopher_repetition`` chains both under the name recipes use.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from datamill.core.step import Resources, register
from datamill.steps.quality.ngram_counts import repetition_chars
from datamill.steps.quality.rule_filter import RuleChain, RuleSignals, SignalRules, over
from datamill.text.words import words

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")


def split_lines(text: str) -> list[str]:
    """``re.split(r"\\n+", text)`` with ``str.split`` (a C loop, about 10x faster): the empty
    strings between consecutive newlines go, the first and last items stay as they are."""
    parts = text.split("\n")
    if "\n\n" not in text:
        return parts
    return [parts[0], *[p for p in parts[1:-1] if p], parts[-1]]


def split_paragraphs(text: str) -> list[str]:
    """``re.split(r"\\n{2,}", text)``: ``str.split`` where no run of 3+ newlines needs merging."""
    return _PARAGRAPH_SPLIT.split(text) if "\n\n\n" in text else text.split("\n\n")


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(number of elements that repeat an earlier one, their characters)."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


def _ngrams(tokens: tuple[str, ...], n: int):
    return zip(*(tokens[i:] for i in range(n)))


def _top_ngram_chars(tokens: tuple[str, ...], n: int) -> int:
    """Characters covered by the most frequent n-gram (joined with spaces) times its count."""
    counts = Counter(_ngrams(tokens, n))
    if not counts:
        return 0
    gram, count = counts.most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count


def _dup_ngram_chars(tokens: tuple[str, ...], n: int, counts: Counter | None = None) -> int:
    """Characters in duplicated n-grams, walking left to right and skipping past each
    duplicate (Gopher's "duplicate n-gram character fraction", words joined without spaces).

    Only n-grams that occur more than once can be duplicates, so the walk visits those
    positions only; between them the reference walk advances one word at a time, adding
    n-grams that never repeat, which cannot change the outcome.
    """
    if counts is None:
        counts = Counter(_ngrams(tokens, n))
    if len(counts) == len(tokens) - n + 1:
        return 0  # every n-gram is unique
    seen: set[tuple[str, ...]] = set()
    chars = 0
    next_free = 0
    for i, gram in enumerate(_ngrams(tokens, n)):
        if i < next_free or counts[gram] < 2:
            continue
        if gram in seen:
            chars += sum(map(len, gram))
            next_free = i + n
        else:
            seen.add(gram)
    return chars


def _walk(repeated: list[tuple[int, tuple[str, ...]]], n: int) -> int:
    """The left-to-right walk of :func:`_dup_ngram_chars` over the positions whose n-gram
    occurs more than once (in order); the others cannot change the outcome."""
    seen: set[tuple[str, ...]] = set()
    chars = 0
    next_free = 0
    for i, gram in repeated:
        if i < next_free:
            continue
        if gram in seen:
            chars += sum(map(len, gram))
            next_free = i + n
        else:
            seen.add(gram)
    return chars


def dup_ngram_chars_by_size(tokens: tuple[str, ...], sizes: list[int]) -> dict[int, int | None]:
    """:func:`_dup_ngram_chars` for every n in ``sizes`` (``None`` when the text has fewer
    than n words), sharing work between consecutive sizes: an (n+1)-gram can repeat only
    where the n-grams at i and i+1 both repeat, so after the first size only those candidate
    positions are counted. Same result as counting every n-gram of every size."""
    out: dict[int, int | None] = {}
    prev_n: int | None = None
    repeated: list[tuple[int, tuple[str, ...]]] = []
    n_tokens = len(tokens)
    for n in sorted(set(sizes)):
        if n_tokens < n:
            out[n] = None
            continue
        if prev_n is not None and prev_n == n - 1:
            if not repeated:
                out[n] = 0
                continue
            rep_at = {i for i, _ in repeated}
            positions = [i for i, _ in repeated if i + 1 in rep_at and i + n <= n_tokens]
            grams = [tokens[i:i + n] for i in positions]
        else:
            positions = range(n_tokens - n + 1)
            grams = list(_ngrams(tokens, n))
        counts = Counter(grams)
        repeated = [(i, g) for i, g in zip(positions, grams) if counts[g] > 1]
        out[n] = _walk(repeated, n)
        prev_n = n
    return out


#: from this many words on, n-grams are counted on integer ids with NumPy (1.8x faster on the
#: benchmark pages; below it NumPy's per-call overhead loses)
NUMPY_FROM_TOKENS = 200

_TOP_NGRAMS = ((2, 0.20), (3, 0.18), (4, 0.16))
_DUP_NGRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


@register("gopher_repetition_signals")
class GopherRepetitionSignals(RuleSignals):
    """Every statistic Gopher's repetition rules look at, under ``signals[<label>]``:
    ``dup_para_frac``, ``dup_para_char_frac``, ``dup_line_frac``, ``dup_line_char_frac``,
    ``top_{n}_gram_char_frac`` for ``top_ngram_sizes`` (2, 3, 4) and ``dup_{n}_gram_char_frac``
    for ``dup_ngram_sizes`` (5…10). An n-gram fraction is ``None`` when the text has fewer
    than n words; everything is ``None`` for an empty text."""

    resources = Resources(cpus=1.0, memory_mb=600)

    def __init__(self, top_ngram_sizes: list[int] | None = None,
                 dup_ngram_sizes: list[int] | None = None, default_language: str = "en"):
        self.top_sizes = tuple(top_ngram_sizes) if top_ngram_sizes is not None else (2, 3, 4)
        self.dup_sizes = tuple(dup_ngram_sizes) if dup_ngram_sizes is not None else tuple(range(5, 11))
        self.default_language = default_language
        self._names = (["dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"]
                       + [f"top_{n}_gram_char_frac" for n in self.top_sizes]
                       + [f"dup_{n}_gram_char_frac" for n in self.dup_sizes])

    @property
    def signal_types(self) -> dict[str, str]:  # type: ignore[override]
        return dict.fromkeys(self._names, "float64")

    def measure(self, text: str, lang: str) -> dict[str, Any]:
        st: dict[str, Any] = dict.fromkeys(self._names)
        if not text:
            return st
        n_chars = len(text)
        paragraphs = split_paragraphs(text.strip())
        n_dup, dup_chars = _duplicates(paragraphs)
        st["dup_para_frac"] = n_dup / len(paragraphs)
        st["dup_para_char_frac"] = dup_chars / n_chars
        lines = split_lines(text)
        n_dup, dup_chars = _duplicates(lines)
        st["dup_line_frac"] = n_dup / len(lines)
        st["dup_line_char_frac"] = dup_chars / n_chars

        tokens = words(text, lang or "en")
        if len(tokens) >= NUMPY_FROM_TOKENS:
            top, dup = repetition_chars(tokens, self.top_sizes, self.dup_sizes)
        else:
            top = {n: _top_ngram_chars(tokens, n) if len(tokens) >= n else None for n in self.top_sizes}
            dup = dup_ngram_chars_by_size(tokens, self.dup_sizes)
        for n, chars in top.items():
            if chars is not None:
                st[f"top_{n}_gram_char_frac"] = chars / n_chars
        for n, chars in dup.items():
            st[f"dup_{n}_gram_char_frac"] = None if chars is None else chars / n_chars
        return st


@register("gopher_repetition_rules")
class GopherRepetitionRules(SignalRules):
    """Gopher's repetition rules decided on stored ``gopher_repetition_signals`` (see
    :class:`GopherRepetition`)."""

    tagger_name = "gopher_repetition_signals"

    def __init__(self, dup_line_frac: float | None = 0.3, dup_para_frac: float | None = 0.3,
                 dup_line_char_frac: float | None = 0.2, dup_para_char_frac: float | None = 0.2,
                 top_n_grams: list[float] | None = None, dup_n_grams: list[float] | None = None,
                 default_language: str = "en", signals_from: str | None = "gopher_repetition"):
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_n = tuple(_TOP_NGRAMS if top_n_grams is None else
                           ((2 + i, float(t)) for i, t in enumerate(top_n_grams)))
        self.dup_n = tuple(_DUP_NGRAMS if dup_n_grams is None else
                           ((5 + i, float(t)) for i, t in enumerate(dup_n_grams)))
        self.default_language = default_language
        self.signals_from = signals_from

    def decide(self, sig: dict[str, Any], lang: str) -> str | None:
        if sig.get("dup_para_frac") is None:
            return "empty"
        for name in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac"):
            if over(sig[name], getattr(self, name)):
                return name
        for n, frac in self.top_n:
            if over(sig.get(f"top_{n}_gram_char_frac"), frac):
                return f"top_{n}_gram"
        for n, frac in self.dup_n:
            if over(sig.get(f"dup_{n}_gram_char_frac"), frac):
                return f"duplicated_{n}_n_grams"
        return None


@register("gopher_repetition")
class GopherRepetition(RuleChain):
    """Gopher's repetition rules (table A1): ``gopher_repetition_signals`` then
    ``gopher_repetition_rules``. Drops a document whose

    * duplicated paragraphs (split on blank lines) exceed ``dup_para_frac`` of paragraphs or
      ``dup_para_char_frac`` of characters (``dup_para_frac`` / ``dup_para_char_frac``);
    * duplicated lines exceed ``dup_line_frac`` of lines or ``dup_line_char_frac`` of
      characters (``dup_line_frac`` / ``dup_line_char_frac``);
    * most frequent 2-, 3-, 4-gram covers more than 20 %, 18 %, 16 % of characters
      (``top_2_gram``…);
    * duplicated 5- to 10-grams cover more than 15 % … 10 % of characters
      (``duplicated_5_n_grams``…).

    ``top_n_grams`` and ``dup_n_grams`` list the thresholds in order of n (2..4 and 5..10);
    an empty list disables them. Words are language-aware, so Chinese and Japanese n-grams
    are n-grams of segmented words. Every statistic is kept under
    ``signals["gopher_repetition"]`` (``keep_signals: false`` removes them).
    """

    resources = Resources(cpus=1.0, memory_mb=600)

    def __init__(self, dup_line_frac: float | None = 0.3, dup_para_frac: float | None = 0.3,
                 dup_line_char_frac: float | None = 0.2, dup_para_char_frac: float | None = 0.2,
                 top_n_grams: list[float] | None = None, dup_n_grams: list[float] | None = None,
                 default_language: str = "en", keep_signals: bool = True,
                 store_signals: bool | None = None):
        self.keep_signals = self._signals_flag(keep_signals, store_signals)
        self.default_language = default_language
        self.rules = GopherRepetitionRules(
            dup_line_frac=dup_line_frac, dup_para_frac=dup_para_frac,
            dup_line_char_frac=dup_line_char_frac, dup_para_char_frac=dup_para_char_frac,
            top_n_grams=top_n_grams, dup_n_grams=dup_n_grams,
            default_language=default_language, signals_from=None)
        # the standard n always, so signals keep one schema; more when a list is longer
        top = sorted({2, 3, 4} | {n for n, _ in self.rules.top_n})
        dup = sorted(set(range(5, 11)) | {n for n, _ in self.rules.dup_n})
        self.tagger = GopherRepetitionSignals(top_ngram_sizes=top, dup_ngram_sizes=dup,
                                              default_language=default_language)
        self.parts = [self.tagger, self.rules]


