"""The shape the document-level rule sets share (Gopher quality, Gopher repetition, FineWeb)."""

from __future__ import annotations

from typing import Any

from datamill.core.record import Record
from datamill.core.step import Filter
from datamill.steps.quality.language_rules import record_language
from datamill.text.words import warm_up


class RuleFilter(Filter):
    """A filter whose rules live in ``check(text, language, stats)``, which returns the first
    failing rule's reason (or None). With ``store_signals`` every statistic is computed and kept
    under ``signals[<step name>]`` with the reason; otherwise checking stops at the first
    failure. Subclasses set ``default_language`` and ``store_signals`` in ``__init__``."""

    default_language: str = "en"
    store_signals: bool = False

    def setup(self) -> None:
        warm_up(self.default_language)

    def keep(self, record: Record) -> str | None:
        lang = record_language(record, self.default_language)
        stats: dict[str, Any] | None = {} if self.store_signals else None
        reason = self.check(record.get("text") or "", lang, stats)
        if stats is not None:
            stats["reason"] = reason
            record.setdefault("signals", {})[self.name] = stats
        return reason

    def check(self, text: str, lang: str, stats: dict[str, Any] | None = None) -> str | None:
        raise TypeError(f"{type(self).__name__} must define check()")
