"""Gopher's (MassiveWeb's) quality rules (the repetition rules: :mod:`.gopher_repetition`).

Source: Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from Training
Gopher", appendix A.1.1 and table A1; thresholds and counting conventions as in datatrove's
``GopherQualityFilter`` and ``GopherRepetitionFilter`` (the reference implementation FineWeb
used), so decisions agree with it. Words come from :func:`datamill.text.words.words`, so
Chinese and Japanese are segmented instead of counting as one "word" per line.
See docs/quality-rules.md for the per-language table.

Each rule set is a tagger that measures every statistic (``gopher_quality_signals``,
``gopher_repetition_signals``) and rules that decide on the stored signals
(``gopher_quality_rules``, ``gopher_repetition_rules``); ``gopher_quality`` and
``gopher_repetition`` chain both under one name, as recipes always wrote them.
"""

from __future__ import annotations

import re
from itertools import filterfalse
from typing import Any

from datamill.core.step import Resources, register
from datamill.steps.quality.language_rules import BULLETS, SHORT_WORD_LANGUAGES, STOP_WORDS, UNSEGMENTED_LANGUAGES
from datamill.steps.quality.rule_filter import RuleChain, RuleSignals, SignalRules, over, under
from datamill.text.words import PUNCTUATION, words

_HAS_ALPHA = re.compile(r"[^\W\d_]")


def _n_alpha(tokens: tuple[str, ...]) -> int:
    """Tokens with at least one letter (most are all letters: only the others meet the regex)."""
    others = list(filterfalse(str.isalpha, tokens))
    search = _HAS_ALPHA.search
    return len(tokens) - len(others) + sum(1 for t in others if search(t))



@register("gopher_quality_signals")
class GopherQualitySignals(RuleSignals):
    """Every statistic Gopher's quality rules look at, under ``signals[<label>]``:
    ``word_count`` (words that are not only punctuation), ``token_count``,
    ``mean_word_length`` (``None`` for Chinese, Japanese, Korean, Thai…), ``hash_ratio`` and
    ``ellipsis_ratio`` (per token), ``bullet_lines_ratio``, ``ellipsis_lines_ratio``,
    ``alpha_words_ratio`` and ``stop_words`` (distinct stop words of the language; ``None``
    without a list). Ratios are ``None`` for a text without tokens."""

    resources = Resources(cpus=1.0, memory_mb=600)
    signal_types = {"word_count": "int64", "token_count": "int64", "mean_word_length": "float64",
                    "hash_ratio": "float64", "ellipsis_ratio": "float64",
                    "bullet_lines_ratio": "float64", "ellipsis_lines_ratio": "float64",
                    "alpha_words_ratio": "float64", "stop_words": "int64"}

    def __init__(self, stop_words: list[str] | None = None, default_language: str = "en"):
        self.stop_words = frozenset(w.lower() for w in stop_words) if stop_words else None
        self.default_language = default_language

    def measure(self, text: str, lang: str) -> dict[str, Any]:
        tokens = words(text, lang or "en")
        n_tokens = len(tokens)
        # words: tokens with a character that is not punctuation or a symbol
        real = list(filterfalse(PUNCTUATION.issuperset, tokens))
        n_words = len(real)
        st: dict[str, Any] = dict.fromkeys(self.signal_types)
        st["word_count"] = n_words
        st["token_count"] = n_tokens
        if n_tokens == 0:
            return st
        if lang not in SHORT_WORD_LANGUAGES:
            st["mean_word_length"] = sum(map(len, real)) / n_words if n_words else 0.0
        st["hash_ratio"] = text.count("#") / n_tokens
        st["ellipsis_ratio"] = (text.count("...") + text.count("…")) / n_tokens
        lines = text.splitlines() or [""]
        n_lines = len(lines)
        st["bullet_lines_ratio"] = sum(1 for s in lines if s.lstrip().startswith(BULLETS)) / n_lines
        st["ellipsis_lines_ratio"] = sum(1 for s in lines if s.rstrip().endswith(("...", "…"))) / n_lines
        # Gopher counts whitespace-separated words, to which punctuation clings; datatrove
        # counts punctuation tokens as words without letters. Kept for space-delimited
        # languages (agreement); CJK punctuation is too dense, so there only words count.
        if lang in SHORT_WORD_LANGUAGES:
            st["alpha_words_ratio"] = _n_alpha(tuple(real)) / n_words if n_words else 0.0
        else:
            st["alpha_words_ratio"] = _n_alpha(tokens) / n_tokens
        stop = self.stop_words if self.stop_words is not None else STOP_WORDS.get(lang)
        if stop is not None:
            distinct = set(tokens)
            found = stop.intersection(distinct)
            if len(found) < len(stop):  # lower-case only the tokens that change
                found |= stop.intersection(t.lower() for t in distinct if not t.islower())
            st["stop_words"] = len(found)
        return st


@register("gopher_quality_rules")
class GopherQualityRules(SignalRules):
    """Gopher's quality rules decided on stored ``gopher_quality_signals`` (see
    :class:`GopherQuality` for the rules; ``signals_from`` names the step whose signals are
    read, by default ``gopher_quality``)."""

    tagger_name = "gopher_quality_signals"

    def __init__(self, min_doc_words: int | None = 50, max_doc_words: int | None = 100_000,
                 min_avg_word_length: float | None = 3, max_avg_word_length: float | None = 10,
                 max_symbol_word_ratio: float | None = 0.1,
                 max_bullet_lines_ratio: float | None = 0.9,
                 max_ellipsis_lines_ratio: float | None = 0.3,
                 min_alpha_words_ratio: float | None = 0.8,
                 min_stop_words: int | None = 2, default_language: str = "en",
                 signals_from: str | None = "gopher_quality"):
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.default_language = default_language
        self.signals_from = signals_from

    def decide(self, sig: dict[str, Any], lang: str) -> str | None:
        """First failing rule's reason (in Gopher's order), or None."""
        if lang not in UNSEGMENTED_LANGUAGES:
            if under(sig["word_count"], self.min_doc_words):
                return "gopher_short_doc"
            if over(sig["word_count"], self.max_doc_words):
                return "gopher_long_doc"
        if not sig["token_count"]:
            return "gopher_short_doc"
        mean = sig["mean_word_length"]
        if under(mean, self.min_avg_word_length):
            return "gopher_below_avg_threshold"
        if over(mean, self.max_avg_word_length):
            return "gopher_above_avg_threshold"
        if over(sig["hash_ratio"], self.max_symbol_word_ratio):
            return "gopher_too_many_hashes"
        if over(sig["ellipsis_ratio"], self.max_symbol_word_ratio):
            return "gopher_too_many_ellipsis"
        if over(sig["bullet_lines_ratio"], self.max_bullet_lines_ratio):
            return "gopher_too_many_bullets"
        if over(sig["ellipsis_lines_ratio"], self.max_ellipsis_lines_ratio):
            return "gopher_too_many_end_ellipsis"
        if under(sig["alpha_words_ratio"], self.min_alpha_words_ratio):
            return "gopher_below_alpha_threshold"
        if self.min_stop_words and under(sig["stop_words"], self.min_stop_words):
            return "gopher_enough_stop_words"
        return None


@register("gopher_quality")
class GopherQuality(RuleChain):
    """Gopher's quality rules: ``gopher_quality_signals`` then ``gopher_quality_rules``. A
    document is dropped when

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

    Any threshold set to ``None`` disables its rule. Every statistic is kept under
    ``signals["gopher_quality"]`` (``keep_signals: false`` removes them after the decision;
    ``store_signals`` is its deprecated old name).
    """

    resources = Resources(cpus=1.0, memory_mb=600)

    def __init__(self, min_doc_words: int | None = 50, max_doc_words: int | None = 100_000,
                 min_avg_word_length: float | None = 3, max_avg_word_length: float | None = 10,
                 max_symbol_word_ratio: float | None = 0.1,
                 max_bullet_lines_ratio: float | None = 0.9,
                 max_ellipsis_lines_ratio: float | None = 0.3,
                 min_alpha_words_ratio: float | None = 0.8,
                 min_stop_words: int | None = 2, stop_words: list[str] | None = None,
                 default_language: str = "en", keep_signals: bool = True,
                 store_signals: bool | None = None):
        self.keep_signals = self._signals_flag(keep_signals, store_signals)
        self.default_language = default_language
        self.tagger = GopherQualitySignals(stop_words=stop_words, default_language=default_language)
        self.rules = GopherQualityRules(
            min_doc_words=min_doc_words, max_doc_words=max_doc_words,
            min_avg_word_length=min_avg_word_length, max_avg_word_length=max_avg_word_length,
            max_symbol_word_ratio=max_symbol_word_ratio,
            max_bullet_lines_ratio=max_bullet_lines_ratio,
            max_ellipsis_lines_ratio=max_ellipsis_lines_ratio,
            min_alpha_words_ratio=min_alpha_words_ratio, min_stop_words=min_stop_words,
            default_language=default_language, signals_from=None)
        self.parts = [self.tagger, self.rules]




# the repetition rules live in their own module; imported here for older imports
from datamill.steps.quality.gopher_repetition import (  # noqa: E402,F401
    GopherRepetition,
    GopherRepetitionRules,
    GopherRepetitionSignals,
    _dup_ngram_chars,
)
