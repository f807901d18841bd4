"""The shape the document-level rule sets share (Gopher quality, Gopher repetition, FineWeb):
a tagger that measures every statistic and rules that decide on the stored signals.

* :class:`RuleSignals` (a Tagger): ``measure(text, language)`` returns every statistic of the
  rule set, always the same names (``None`` where a statistic does not apply to the language),
  stored under ``record["signals"][<label>]``.
* :class:`SignalRules` (a Filter): ``decide(signals, language)`` returns the first failing
  rule's reason, reading the signals a tagger stored under ``signals_from`` (by default the
  composed step's name, so a recipe can re-apply new thresholds to a finished output).
* The registered names (``gopher_quality``…) are a :class:`~datamill.core.compose.Chain` of
  both, so recipes are unchanged.
"""

from __future__ import annotations

from typing import Any

from datamill.core.compose import Chain
from datamill.core.record import Record
from datamill.core.step import Filter, StepDefinitionError, Tagger
from datamill.steps.quality.language_rules import is_cjk, record_language
from datamill.text.words import base_language, segmenter_name, warm_up


def language_of(step, record: Record) -> str:
    """The record's base language, or the step's ``default_language`` (counted as a
    fallback, so a run with untagged records says so in its stats)."""
    lang = record_language(record, None)
    if not lang:
        step.fallback("no_language_used_default")
        lang = base_language(step.default_language)
    return lang


class RuleSignals(Tagger):
    """A tagger computing every statistic of one rule set; subclasses define ``measure``."""

    default_language: str = "en"

    def setup(self) -> None:
        warm_up(self.default_language)

    def tag(self, record: Record) -> dict[str, Any]:
        lang = language_of(self, record)
        if is_cjk(lang) and segmenter_name(lang) == "runs":
            self.fallback(f"no_word_segmenter_{lang}")  # jieba / SudachiPy missing: script runs
        return self.measure(record.get("text") or "", lang)

    def measure(self, text: str, lang: str) -> dict[str, Any]:
        raise StepDefinitionError(f"{type(self).__name__} must define measure()")


class SignalRules(Filter):
    """A filter deciding on the signals under ``signals[signals_from]`` (in a chain: the
    chain's label); subclasses define ``decide(signals, language)``."""

    default_language: str = "en"
    signals_from: str | None = None
    #: the tagger step that writes what ``decide`` reads (named in the error when missing)
    tagger_name: str = ""

    def drop_reason(self, record: Record) -> str | None:
        key = self.signals_from or self.label
        sig = (record.get("signals") or {}).get(key)
        if not isinstance(sig, dict):
            raise ValueError(f"record has no signals[{key!r}]: run {self.tagger_name or 'its tagger'} "
                             f"before {self.name} (or set signals_from)")
        # the tagger counted a record without a language already: count it once
        return self.decide(sig, record_language(record, self.default_language))

    def decide(self, sig: dict[str, Any], lang: str) -> str | None:
        raise StepDefinitionError(f"{type(self).__name__} must define decide()")


def over(value: float | None, limit: float | None) -> bool:
    """``value > limit``, where a missing value or a disabled (``None``) limit never fails."""
    return value is not None and limit is not None and value > limit


def under(value: float | None, limit: float | None) -> bool:
    return value is not None and limit is not None and value < limit


class RuleChain(Chain):
    """A rule set's composed step (``tagger`` measures, ``rules`` decide): the thresholds read
    as attributes of the composed step, and :meth:`check` decides on one text directly."""

    def __getattr__(self, name: str):  # thresholds read as attributes of the composed step
        rules = self.__dict__.get("rules")
        if rules is not None and name in rules.__dict__:
            return rules.__dict__[name]
        raise AttributeError(name)

    def check(self, text: str, lang: str, stats: dict[str, Any] | None = None) -> str | None:
        """Decide on ``text`` in ``lang`` directly; ``stats`` receives every statistic."""
        sig = self.tagger.measure(text, lang)
        if stats is not None:
            stats.update(sig)
        return self.rules.decide(sig, lang)
