"""``language_filter``: keep or drop on the language a tagger already wrote.

Reads ``metadata.language`` / ``metadata.language_score`` (written by ``language_tagger``, by a
reader, or by a previous run) and drops with one of two reasons:

* ``language_not_kept`` — ``languages`` is given and the language is not in it;
* ``low_language_score`` — the score is below ``min_scores[lang]``, else ``min_score``.

A record without a language is ``und`` with score 0. No model is loaded: re-thresholding a
tagged output costs a dictionary lookup per record.
"""

from __future__ import annotations

from datamill.core.record import Batch, Record
from datamill.core.stats import StepStats
from datamill.core.step import Filter, register
from datamill.steps.langid.identify import UNDETERMINED

# Codes people write that lid.176 spells differently.
ALIASES = {"nb": "no", "nob": "no", "zh-cn": "zh", "zh-tw": "zh", "zh-hans": "zh", "zh-hant": "zh",
           "zho": "zh", "cmn": "zh", "jpn": "ja", "kor": "ko", "eng": "en"}


def normalize_code(code: str) -> str:
    code = code.strip().lower().replace("_", "-")
    return ALIASES.get(code, code)


def language_of(record: Record) -> tuple[str, float]:
    """(language, score) from ``metadata`` (``und``, 0.0 when absent)."""
    meta = record.get("metadata") or {}
    lang = meta.get("language") or UNDETERMINED
    score = meta.get("language_score")
    return normalize_code(str(lang)), float(score) if isinstance(score, (int, float)) else 0.0


@register("language_filter")
class LanguageRules(Filter):
    """Keep the wanted languages above a score; decides on ``metadata.language``."""

    def __init__(self, languages: list[str] | None = None, min_score: float = 0.65,
                 min_scores: dict[str, float] | None = None):
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        for lang, s in (min_scores or {}).items():
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"min_scores[{lang!r}] must be within [0, 1], got {s}")
        self.languages = (frozenset(normalize_code(l) for l in languages)
                          if languages is not None else None)
        self.min_score = float(min_score)
        self.min_scores = {normalize_code(k): float(v) for k, v in (min_scores or {}).items()}

    def check_labels(self, known: frozenset[str], where: str) -> None:
        """An unknown code in the keep-list is an error before any record is read."""
        if self.languages is not None:
            unknown = sorted(self.languages - known)
            if unknown:
                raise ValueError(f"language_id: no label {unknown} in {where}; labels are "
                                 "ISO 639-1 codes where one exists (see docs/langid.md)")

    def verdict(self, lang: str, score: float) -> None | str:
        if self.languages is not None and lang not in self.languages:
            return "language_not_kept"
        if score < self.min_scores.get(lang, self.min_score):
            return "low_language_score"
        return None

    def keep_batch(self, batch: Batch) -> list[None | str]:
        return [self.verdict(*language_of(r)) for r in batch]

    def keep(self, record: Record) -> None | str:
        return self.verdict(*language_of(record))

    def count(self, record: Record, verdict, stats: StepStats) -> None:
        lang = (record.get("metadata") or {}).get("language")
        if lang is not None:
            stats.counter("languages")[lang] += 1
