"""What the model-based quality taggers share: signals under the step's label, empty text and
unscorable records counted (never a crash, never a drop), models loaded once per worker."""

from __future__ import annotations

from typing import Any

from datamill.core.record import Batch, Record
from datamill.core.stats import StepStats
from datamill.core.step import Resources, Tagger
from datamill.models.text_prep import script_language
from datamill.steps.quality.language_rules import record_language


class ModelTagger(Tagger):
    """Subclasses define ``score_batch(texts, languages) -> list[dict | str]``: the signals of
    each text, or a string naming why it has none (counted under ``unscored``)."""

    resources = Resources(cpus=1.0, memory_mb=1024, batch_size=256)
    text_field: str = "text"
    #: languages the model was trained on (from its card, set in ``setup``); documents in
    #: others are still scored, and counted under ``language_not_in_training``. Classifiers
    #: compare script families (``en`` = no Han or kana, ``zh``, ``ja``: see ``text_prep``),
    #: language models the record's language.
    trained_languages: frozenset[str] = frozenset()
    compare_scripts: bool = True

    def tag_batch(self, batch: Batch) -> list[dict[str, Any]]:
        texts, langs, slots = [], [], []
        out: list[dict[str, Any]] = [{} for _ in batch]
        for i, record in enumerate(batch):
            text = record.get(self.text_field)
            if not isinstance(text, str) or not text.strip():
                out[i] = {"__unscored__": "empty_text"}
                continue
            texts.append(text)
            langs.append(record_language(record, None) or None)
            slots.append(i)
        if texts:
            for i, signals in zip(slots, self.score_batch(texts, langs)):
                # the Tagger base stores what is returned under signals[<label>]
                out[i] = {"__unscored__": signals} if isinstance(signals, str) else dict(signals)
        return out

    def tag(self, record: Record) -> dict[str, Any]:
        return self.tag_batch([record])[0]

    def score_batch(self, texts: list[str], languages: list[str | None]) -> list[dict[str, Any] | str]:
        raise TypeError(f"{type(self).__name__} must define score_batch()")

    def run_batch(self, batch, stats: StepStats, ctx):
        out = super().run_batch(batch, stats, ctx)
        for record in out:
            all_signals = record.get("signals") or {}
            mine = all_signals.get(self.label)
            reason = mine.pop("__unscored__", None) if isinstance(mine, dict) else None
            if isinstance(mine, dict) and not mine:
                del all_signals[self.label]
            if reason is not None:
                stats.counter("unscored")[reason] += 1
            elif self.trained_languages:
                text = record.get(self.text_field) or ""
                lang = script_language(text) if self.compare_scripts else \
                    (record_language(record, None) or script_language(text))
                if lang not in self.trained_languages:
                    stats.counter("language_not_in_training")[lang] += 1
        return out
