"""FineWeb's own quality rules.

Source: Penedo et al. 2024, "The FineWeb Datasets" (section 3.5, "custom filters"), defaults as
in datatrove's ``FineWebQualityFilter``. The rules look at lines; for Chinese and Japanese a line
of ``short_line_length`` characters holds about three times as much text as an English one, so
``cjk_short_line_length`` (default 10) replaces it there.

``fineweb_quality_signals`` measures, ``fineweb_quality_rules`` decides, ``fineweb_quality``
chains both.
"""

from __future__ import annotations

from typing import Any

from datamill.core.step import Resources, register
from datamill.steps.quality.language_rules import UNSEGMENTED_LANGUAGES, is_cjk
from datamill.steps.quality.rule_filter import RuleChain, RuleSignals, SignalRules, over, under
from datamill.text.words import TERMINAL_PUNCTUATION, words


@register("fineweb_quality_signals")
class FineWebQualitySignals(RuleSignals):
    """Every statistic FineWeb's rules look at (blank lines ignored), under
    ``signals[<label>]``: ``line_count``, ``line_punct_ratio`` (lines ending in terminal
    punctuation, or in ``stop_chars``), ``short_line_ratio`` (lines of at most
    ``short_line_length`` characters, ``cjk_short_line_length`` for Chinese and Japanese),
    ``char_dup_ratio`` (characters in repeated lines over non-newline characters) and
    ``new_line_ratio`` (newlines per word; ``None`` for Thai, Lao, Khmer, Burmese). Ratios are
    ``None`` for a text without lines."""

    resources = Resources(cpus=1.0, memory_mb=600)
    signal_types = {"line_count": "int64", "line_punct_ratio": "float64",
                    "short_line_ratio": "float64", "char_dup_ratio": "float64",
                    "new_line_ratio": "float64"}

    def __init__(self, stop_chars: list[str] | None = None, short_line_length: int = 30,
                 cjk_short_line_length: int = 10, default_language: str = "en"):
        self.stop_chars = frozenset(stop_chars) if stop_chars else None
        self.short_line_length = short_line_length
        self.cjk_short_line_length = cjk_short_line_length
        self.default_language = default_language

    def measure(self, text: str, lang: str) -> dict[str, Any]:
        st: dict[str, Any] = dict.fromkeys(self.signal_types)
        lines = [ln for ln in text.split("\n") if ln.strip()]
        n_lines = st["line_count"] = len(lines)
        if not lines:
            return st
        stop = self.stop_chars or TERMINAL_PUNCTUATION
        st["line_punct_ratio"] = sum(1 for ln in lines if ln.rstrip()[-1] in stop) / n_lines
        limit = self.cjk_short_line_length if is_cjk(lang) else self.short_line_length
        st["short_line_ratio"] = sum(1 for ln in lines if len(ln) <= limit) / n_lines
        seen: set[str] = set()
        dup_chars = 0
        for ln in lines:
            if ln in seen:
                dup_chars += len(ln)
            else:
                seen.add(ln)
        n_chars = len(text) - text.count("\n")
        st["char_dup_ratio"] = dup_chars / n_chars if n_chars else 0.0
        if lang not in UNSEGMENTED_LANGUAGES:
            n_words = len(words(text, lang or "en"))
            st["new_line_ratio"] = text.count("\n") / n_words if n_words else None
        return st


@register("fineweb_quality_rules")
class FineWebQualityRules(SignalRules):
    """FineWeb's rules decided on stored ``fineweb_quality_signals`` (see
    :class:`FineWebQuality`)."""

    tagger_name = "fineweb_quality_signals"

    def __init__(self, line_punct_thr: float | None = 0.12, line_punct_exclude_zero: bool = False,
                 short_line_thr: float | None = 0.67, char_duplicates_ratio: float | None = 0.01,
                 new_line_ratio: float | None = 0.3, default_language: str = "en",
                 signals_from: str | None = "fineweb_quality"):
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio
        self.default_language = default_language
        self.signals_from = signals_from

    def decide(self, sig: dict[str, Any], lang: str) -> str | None:
        if not sig["line_count"]:
            return "empty"
        ratio = sig["line_punct_ratio"]
        if under(ratio, self.line_punct_thr) and not (ratio == 0 and self.line_punct_exclude_zero):
            return "line_punct_ratio"
        if over(sig["short_line_ratio"], self.short_line_thr):
            return "short_line_ratio"
        if over(sig["char_dup_ratio"], self.char_duplicates_ratio):
            return "char_dup_ratio"
        if over(sig["new_line_ratio"], self.new_line_ratio):
            return "list_ratio"
        return None


@register("fineweb_quality")
class FineWebQuality(RuleChain):
    """FineWeb's rules: ``fineweb_quality_signals`` then ``fineweb_quality_rules``. Drops a
    document (blank lines ignored) when

    * at most ``line_punct_thr`` of its lines end in terminal punctuation (any Unicode
      sentence terminal: ``. ! ?`` and ``。！？``…; or ``stop_chars``) — ``line_punct_ratio``;
      with ``line_punct_exclude_zero`` a document with no such line at all is kept;
    * more than ``short_line_thr`` of its lines have at most ``short_line_length`` characters
      (``cjk_short_line_length`` for Chinese and Japanese) — ``short_line_ratio``;
    * characters in duplicated lines exceed ``char_duplicates_ratio`` of its non-newline
      characters — ``char_dup_ratio``;
    * newlines per word exceed ``new_line_ratio`` — ``list_ratio`` (words are segmented for
      CJK; skipped for Thai, Lao, Khmer, Burmese).

    An empty document is dropped as ``empty``. Every statistic is kept under
    ``signals["fineweb_quality"]`` (``keep_signals: false`` removes them).
    """

    resources = Resources(cpus=1.0, memory_mb=600)

    def __init__(self, line_punct_thr: float | None = 0.12, line_punct_exclude_zero: bool = False,
                 stop_chars: list[str] | None = None, short_line_thr: float | None = 0.67,
                 short_line_length: int = 30, cjk_short_line_length: int = 10,
                 char_duplicates_ratio: float | None = 0.01,
                 new_line_ratio: float | None = 0.3, default_language: str = "en",
                 keep_signals: bool = True, store_signals: bool | None = None):
        self.keep_signals = self._signals_flag(keep_signals, store_signals)
        self.default_language = default_language
        self.tagger = FineWebQualitySignals(stop_chars=stop_chars, short_line_length=short_line_length,
                                            cjk_short_line_length=cjk_short_line_length,
                                            default_language=default_language)
        self.rules = FineWebQualityRules(
            line_punct_thr=line_punct_thr, line_punct_exclude_zero=line_punct_exclude_zero,
            short_line_thr=short_line_thr, char_duplicates_ratio=char_duplicates_ratio,
            new_line_ratio=new_line_ratio, default_language=default_language, signals_from=None)
        self.parts = [self.tagger, self.rules]

