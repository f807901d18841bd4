"""Gopher's (MassiveWeb's) quality and repetition rules.

Source: Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from Training
Gopher", appendix A.1.1 and table A1; thresholds and counting conventions as in datatrove's
``GopherQualityFilter`` and ``GopherRepetitionFilter`` (the reference implementation FineWeb
used), so decisions agree with it. Words come from :func:`datamill.text.words.words`, so
Chinese and Japanese are segmented instead of counting as one "word" per line.
See docs/quality-rules.md for the per-language table.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from datamill.core.step import Resources, register
from datamill.steps.quality.language_rules import BULLETS, SHORT_WORD_LANGUAGES, STOP_WORDS, UNSEGMENTED_LANGUAGES
from datamill.steps.quality.rule_filter import RuleFilter
from datamill.text.words import PUNCTUATION, words

_HAS_ALPHA = re.compile(r"[^\W\d_]")
_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile(r"\n+")


def _is_word(token: str) -> bool:
    """A token with at least one character that is not punctuation or a symbol."""
    if token.isalnum():
        return True
    return any(c not in PUNCTUATION for c in token)


def _n_alpha(tokens: tuple[str, ...]) -> int:
    n = 0
    for t in tokens:
        if t.isalpha() or _HAS_ALPHA.search(t):
            n += 1
    return n


@register("gopher_quality")
class GopherQuality(RuleFilter):
    """Gopher's quality rules. A document is dropped when

    * it has fewer than ``min_doc_words`` or more than ``max_doc_words`` words
      (``gopher_short_doc`` / ``gopher_long_doc``);
    * its mean word length is outside ``min_avg_word_length``..``max_avg_word_length``
      (``gopher_below_avg_threshold`` / ``gopher_above_avg_threshold``; not applied to
      Chinese, Japanese, Korean, Thai, whose words are one to three characters long);
    * ``#`` or ellipses per word exceed ``max_symbol_word_ratio``
      (``gopher_too_many_hashes`` / ``gopher_too_many_ellipsis``);
    * more than ``max_bullet_lines_ratio`` of its lines start with a bullet, or more than
      ``max_ellipsis_lines_ratio`` end with an ellipsis;
    * fewer than ``min_alpha_words_ratio`` of its words contain a letter
      (``gopher_below_alpha_threshold``);
    * it has fewer than ``min_stop_words`` distinct stop words of its language
      (``gopher_enough_stop_words``; skipped for languages without a list).

    Any threshold set to ``None`` disables its rule. With ``store_signals`` every statistic
    is computed (no early exit) and written to ``signals["gopher_quality"]``.
    """

    resources = Resources(cpus=1.0, memory_mb=600)

    def __init__(self, min_doc_words: int | None = 50, max_doc_words: int | None = 100_000,
                 min_avg_word_length: float | None = 3, max_avg_word_length: float | None = 10,
                 max_symbol_word_ratio: float | None = 0.1,
                 max_bullet_lines_ratio: float | None = 0.9,
                 max_ellipsis_lines_ratio: float | None = 0.3,
                 min_alpha_words_ratio: float | None = 0.8,
                 min_stop_words: int | None = 2, stop_words: list[str] | None = None,
                 default_language: str = "en", store_signals: bool = False):
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(w.lower() for w in stop_words) if stop_words else None
        self.default_language = default_language
        self.store_signals = store_signals

    def check(self, text: str, lang: str, stats: dict[str, Any] | None = None) -> str | None:
        """First failing rule's reason, or None. Fills ``stats`` (then without early exit)."""
        full = stats is not None
        st: dict[str, Any] = stats if full else {}
        reason = None
        tokens = words(text, lang or "en")
        n_tokens = len(tokens)
        real = [t for t in tokens if _is_word(t)]
        n_words = len(real)
        st["n_words"] = n_words
        segmented = lang not in UNSEGMENTED_LANGUAGES
        if segmented:
            if self.min_doc_words is not None and n_words < self.min_doc_words:
                reason = "gopher_short_doc"
            elif self.max_doc_words is not None and n_words > self.max_doc_words:
                reason = "gopher_long_doc"
            if reason and not full:
                return reason
        if n_tokens == 0:
            return reason or "gopher_short_doc"

        if lang not in SHORT_WORD_LANGUAGES:
            mean_len = sum(map(len, real)) / n_words if n_words else 0.0
            st["mean_word_length"] = round(mean_len, 3)
            if reason is None:
                if self.min_avg_word_length is not None and mean_len < self.min_avg_word_length:
                    reason = "gopher_below_avg_threshold"
                elif self.max_avg_word_length is not None and mean_len > self.max_avg_word_length:
                    reason = "gopher_above_avg_threshold"
                if reason and not full:
                    return reason

        hash_ratio = text.count("#") / n_tokens
        ellipsis_ratio = (text.count("...") + text.count("…")) / n_tokens
        st["hash_ratio"] = round(hash_ratio, 4)
        st["ellipsis_ratio"] = round(ellipsis_ratio, 4)
        if reason is None and self.max_symbol_word_ratio is not None:
            if hash_ratio > self.max_symbol_word_ratio:
                reason = "gopher_too_many_hashes"
            elif ellipsis_ratio > self.max_symbol_word_ratio:
                reason = "gopher_too_many_ellipsis"
            if reason and not full:
                return reason

        lines = text.splitlines() or [""]
        n_lines = len(lines)
        bullet_ratio = sum(1 for s in lines if s.lstrip().startswith(BULLETS)) / n_lines
        end_ellipsis_ratio = sum(1 for s in lines if s.rstrip().endswith(("...", "…"))) / n_lines
        st["bullet_lines_ratio"] = round(bullet_ratio, 4)
        st["ellipsis_lines_ratio"] = round(end_ellipsis_ratio, 4)
        if reason is None:
            if self.max_bullet_lines_ratio is not None and bullet_ratio > self.max_bullet_lines_ratio:
                reason = "gopher_too_many_bullets"
            elif (self.max_ellipsis_lines_ratio is not None
                  and end_ellipsis_ratio > self.max_ellipsis_lines_ratio):
                reason = "gopher_too_many_end_ellipsis"
            if reason and not full:
                return reason

        # Gopher counts whitespace-separated words, to which punctuation clings; datatrove
        # counts punctuation tokens as words without letters. Kept for space-delimited
        # languages (agreement); CJK punctuation is too dense, so there only words count.
        if lang in SHORT_WORD_LANGUAGES:
            alpha_ratio = _n_alpha(tuple(real)) / n_words if n_words else 0.0
        else:
            alpha_ratio = _n_alpha(tokens) / n_tokens
        st["alpha_words_ratio"] = round(alpha_ratio, 4)
        if reason is None and self.min_alpha_words_ratio is not None \
                and alpha_ratio < self.min_alpha_words_ratio:
            reason = "gopher_below_alpha_threshold"
            if not full:
                return reason

        stop = self.stop_words if self.stop_words is not None else STOP_WORDS.get(lang)
        if stop is not None and self.min_stop_words:
            found = stop.intersection(tokens)
            if len(found) < self.min_stop_words:  # only lower-case it when needed
                found = stop.intersection(t.lower() for t in tokens)
            st["stop_words"] = len(found)
            if reason is None and len(found) < self.min_stop_words:
                reason = "gopher_enough_stop_words"
        return reason


# --- repetition --------------------------------------------------------------------------

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


_TOP_NGRAMS = ((2, 0.20), (3, 0.18), (4, 0.16))
_DUP_NGRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


@register("gopher_repetition")
class GopherRepetition(RuleFilter):
    """Gopher's repetition rules (table A1). Drops a document whose

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
    are n-grams of segmented words.
    """

    resources = Resources(cpus=1.0, memory_mb=600)

    def __init__(self, dup_line_frac: float | None = 0.3, dup_para_frac: float | None = 0.3,
                 dup_line_char_frac: float | None = 0.2, dup_para_char_frac: float | None = 0.2,
                 top_n_grams: list[float] | None = None, dup_n_grams: list[float] | None = None,
                 default_language: str = "en", store_signals: bool = False):
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_n = tuple(_TOP_NGRAMS if top_n_grams is None else
                           ((2 + i, float(t)) for i, t in enumerate(top_n_grams)))
        self.dup_n = tuple(_DUP_NGRAMS if dup_n_grams is None else
                           ((5 + i, float(t)) for i, t in enumerate(dup_n_grams)))
        self.default_language = default_language
        self.store_signals = store_signals

    def check(self, text: str, lang: str, stats: dict[str, Any] | None = None) -> str | None:
        if not text:
            return "empty"
        full = stats is not None
        st: dict[str, Any] = stats if full else {}
        reason = None
        n_chars = len(text)

        paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
        n_dup, dup_chars = _duplicates(paragraphs)
        st["dup_para_frac"] = round(n_dup / len(paragraphs), 4)
        st["dup_para_char_frac"] = round(dup_chars / n_chars, 4)
        if self.dup_para_frac is not None and n_dup / len(paragraphs) > self.dup_para_frac:
            reason = "dup_para_frac"
        elif self.dup_para_char_frac is not None and dup_chars / n_chars > self.dup_para_char_frac:
            reason = "dup_para_char_frac"
        if reason and not full:
            return reason

        lines = _LINE_SPLIT.split(text)
        n_dup, dup_chars = _duplicates(lines)
        st["dup_line_frac"] = round(n_dup / len(lines), 4)
        st["dup_line_char_frac"] = round(dup_chars / n_chars, 4)
        if reason is None:
            if self.dup_line_frac is not None and n_dup / len(lines) > self.dup_line_frac:
                reason = "dup_line_frac"
            elif self.dup_line_char_frac is not None and dup_chars / n_chars > self.dup_line_char_frac:
                reason = "dup_line_char_frac"
            if reason and not full:
                return reason

        tokens = words(text, lang or "en")
        for n, frac in self.top_n:
            if len(tokens) < n:
                continue
            value = _top_ngram_chars(tokens, n) / n_chars
            st[f"top_{n}_gram_char_frac"] = round(value, 4)
            if reason is None and value > frac:
                reason = f"top_{n}_gram"
                if not full:
                    return reason

        unique_shorter = False
        for n, frac in self.dup_n:
            if len(tokens) < n:
                continue
            if unique_shorter:  # no repeated k-gram implies no repeated (k+1)-gram
                value = 0.0
            else:
                counts = Counter(_ngrams(tokens, n))
                unique_shorter = len(counts) == len(tokens) - n + 1
                value = _dup_ngram_chars(tokens, n, counts) / n_chars
            st[f"dup_{n}_gram_char_frac"] = round(value, 4)
            if reason is None and value > frac:
                reason = f"duplicated_{n}_n_grams"
                if not full:
                    return reason
        return reason
