"""FineWeb's own quality rules.

Source: Penedo et al. 2024, "The FineWeb Datasets" (section 3.5, "custom filters"), defaults as
in datatrove's ``FineWebQualityFilter``. The rules look at lines; for Chinese and Japanese a line
of ``short_line_length`` characters holds about three times as much text as an English one, so
``cjk_short_line_length`` (default 10) replaces it there.
"""

from __future__ import annotations

from typing import Any

from datamill.core.step import Resources, register
from datamill.steps.quality.language_rules import UNSEGMENTED_LANGUAGES, is_cjk
from datamill.steps.quality.rule_filter import RuleFilter
from datamill.text.words import TERMINAL_PUNCTUATION, words


@register("fineweb_quality")
class FineWebQuality(RuleFilter):
    """Drops a document (blank lines ignored) when

    * at most ``line_punct_thr`` of its lines end in terminal punctuation (any Unicode
      sentence terminal: ``. ! ?`` and ``。！？``…; or ``stop_chars``) — ``line_punct_ratio``;
      with ``line_punct_exclude_zero`` a document with no such line at all is kept;
    * more than ``short_line_thr`` of its lines have at most ``short_line_length`` characters
      (``cjk_short_line_length`` for Chinese and Japanese) — ``short_line_ratio``;
    * characters in duplicated lines exceed ``char_duplicates_ratio`` of its non-newline
      characters — ``char_dup_ratio``;
    * newlines per word exceed ``new_line_ratio`` — ``list_ratio`` (words are segmented for
      CJK; skipped for Thai, Lao, Khmer, Burmese).

    An empty document is dropped as ``empty``.
    """

    resources = Resources(cpus=1.0, memory_mb=600)

    def __init__(self, line_punct_thr: float | None = 0.12, line_punct_exclude_zero: bool = False,
                 stop_chars: list[str] | None = None, short_line_thr: float | None = 0.67,
                 short_line_length: int = 30, cjk_short_line_length: int = 10,
                 char_duplicates_ratio: float | None = 0.01,
                 new_line_ratio: float | None = 0.3, default_language: str = "en",
                 store_signals: bool = False):
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.stop_chars = frozenset(stop_chars) if stop_chars else None
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.cjk_short_line_length = cjk_short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio
        self.default_language = default_language
        self.store_signals = store_signals

    def check(self, text: str, lang: str, stats: dict[str, Any] | None = None) -> str | None:
        full = stats is not None
        st: dict[str, Any] = stats if full else {}
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            return "empty"
        n_lines = len(lines)
        reason = None

        stop = self.stop_chars or TERMINAL_PUNCTUATION
        ratio = sum(1 for ln in lines if ln.rstrip()[-1] in stop) / n_lines
        st["line_punct_ratio"] = round(ratio, 4)
        if self.line_punct_thr is not None and ratio < self.line_punct_thr \
                and not (ratio == 0 and self.line_punct_exclude_zero):
            reason = "line_punct_ratio"
            if not full:
                return reason

        limit = self.cjk_short_line_length if is_cjk(lang) else self.short_line_length
        ratio = sum(1 for ln in lines if len(ln) <= limit) / n_lines
        st["short_line_ratio"] = round(ratio, 4)
        if reason is None and self.short_line_thr is not None and ratio > self.short_line_thr:
            reason = "short_line_ratio"
            if not full:
                return reason

        seen: set[str] = set()
        dup_chars = 0
        for ln in lines:
            if ln in seen:
                dup_chars += len(ln)
            else:
                seen.add(ln)
        n_chars = len(text) - text.count("\n")
        ratio = dup_chars / n_chars if n_chars else 0.0
        st["char_dup_ratio"] = round(ratio, 4)
        if reason is None and self.char_duplicates_ratio is not None \
                and ratio > self.char_duplicates_ratio:
            reason = "char_dup_ratio"
            if not full:
                return reason

        if self.new_line_ratio is not None and lang not in UNSEGMENTED_LANGUAGES:
            n_words = len(words(text, lang or "en"))
            ratio = text.count("\n") / n_words if n_words else float("inf")
            st["new_line_ratio"] = round(ratio, 4)
            if reason is None and ratio > self.new_line_ratio:
                reason = "list_ratio"
        return reason
