"""``language_tagger``: identify each record's language; never drops.

Writes ``record["metadata"]["language"]`` (a lid.176 label: ISO 639-1 where one exists, ``und``
for text with nothing to read) and ``record["metadata"]["language_score"]`` (0..1), where every
other step reads the language (``datamill.steps.quality.language_rules.record_language``), and
its statistics under ``record["signals"][<step label>]``:

============== ==========================================================================
``language``   the decided label (the same as ``metadata.language``)
``score``      its score (the same as ``metadata.language_score``)
``method``     ``script`` (a one-language script decided), ``lid176`` (lid.176 was sure),
               ``vote`` (lid.176 and py3langid mixed) or ``empty``
``script``     the dominant script (``Han``, ``Cyrillic``…; empty for Latin or a mix)
``lid176_language``, ``lid176_score``: raw lid.176, before any rule
============== ==========================================================================

The rules are in ``identify.py``; ``language_filter`` (``rules.py``) decides on the result and
``language_id`` is the two together.
"""

from __future__ import annotations

from typing import Any, ClassVar

from datamill.core.record import Batch, Record
from datamill.core.stats import StepStats
from datamill.core.step import Resources, Tagger, _timed, register
from datamill.steps.langid.identify import UNDETERMINED, Identification, Identifier

__all__ = ["LanguageTagger", "UNDETERMINED"]


@register("language_tagger")
class LanguageTagger(Tagger):
    """fastText lid.176 with script-first decisions and a py3langid vote; tags, never drops."""

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=1024)
    #: a recipe's relative ``model_path`` is relative to the recipe file
    path_params = ("model_path",)
    signal_types: ClassVar[dict[str, str]] = {
        "language": "string", "score": "float64", "method": "string", "script": "string",
        "lid176_language": "string", "lid176_score": "float64"}

    def __init__(self, max_chars: int = 10_000, script_correction: bool = True,
                 second_opinion: bool = True, second_opinion_below: float = 0.9,
                 second_opinion_weight: float = 0.55, normalize_whitespace: bool = True,
                 model_path: str | None = None):
        if max_chars <= 0:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        for name, v in (("second_opinion_below", second_opinion_below),
                        ("second_opinion_weight", second_opinion_weight)):
            if not 0.0 <= v <= 1.01:
                raise ValueError(f"{name} must be within [0, 1], got {v}")
        self.max_chars = int(max_chars)
        self.script_correction = script_correction
        self.second_opinion = second_opinion
        self.second_opinion_below = float(second_opinion_below)
        self.second_opinion_weight = float(second_opinion_weight)
        self.normalize_whitespace = normalize_whitespace
        self.model_path = model_path

    def preflight(self) -> None:
        """A model file named by ``model_path`` or ``$DATAMILL_LID_MODEL`` must exist before any
        record is read (the wheel / cache / download chain is resolved at setup)."""
        from datamill.steps.langid.model import check_model_path

        check_model_path(self.model_path)
        if self.script_correction:
            from datamill.steps.langid import han

            han.require()
        if self.second_opinion:
            import importlib.util

            if importlib.util.find_spec("py3langid") is None:
                raise ImportError("language_id with second_opinion=True needs py3langid "
                                  "(pip install py3langid), or set second_opinion: false")

    def setup(self) -> None:
        from datamill.steps.langid.model import load_model

        self._identifier = Identifier(
            load_model(self.model_path), max_chars=self.max_chars,
            script_first=self.script_correction, second_opinion=self.second_opinion,
            vote_below=self.second_opinion_below, vote_weight=self.second_opinion_weight,
            normalize=self.normalize_whitespace)

    def prefork(self, han: bool = False) -> None:
        """Before workers are forked (``datamill.exec.local.prefork``): load lid.176 and, when
        it may vote, py3langid here once, so forked workers share them (copy-on-write); with
        ``han`` (short texts that keep Chinese or Japanese) the tables of the short-Han-text
        rules too (0.7 s and 70 MB that each worker would otherwise load on the first short
        Han text it meets)."""
        self.ensure_setup()
        if self.second_opinion:
            from datamill.steps.langid import second_opinion

            second_opinion.labels()
        if han and self.script_correction:
            from datamill.steps.langid import han as han_rules

            han_rules.load()

    @property
    def labels(self) -> frozenset[str]:
        """Every label this tagger can give."""
        self.ensure_setup()
        labels = set(self._identifier.model.labels) | {UNDETERMINED}
        if self.second_opinion:
            from datamill.steps.langid import second_opinion

            labels |= second_opinion.labels()
        return frozenset(labels)

    def identify_full(self, texts: list[str]) -> list[Identification]:
        self.ensure_setup()
        return self._identifier.identify(texts)

    def identify(self, texts: list[str]) -> list[tuple[str, float]]:
        """(language, score) for each text."""
        return [(r.language, r.score) for r in self.identify_full(texts)]

    def tag_records(self, batch: Batch, label: str) -> None:
        """Identify and write metadata and ``signals[label]`` on every record of the batch."""
        results = self.identify_full([r.get("text") or "" for r in batch])
        for record, res in zip(batch, results):
            meta = record.get("metadata")
            if not isinstance(meta, dict):
                meta = record["metadata"] = {}
            meta["language"] = res.language
            meta["language_score"] = round(float(res.score), 4)
            sig = record.get("signals")
            if not isinstance(sig, dict):
                sig = record["signals"] = {}
            mine = sig.get(label)
            if isinstance(mine, dict):
                mine.update(res.signals())
            else:
                sig[label] = res.signals()

    def tag_batch(self, batch: Batch) -> list[dict[str, Any]]:
        results = self.identify_full([r.get("text") or "" for r in batch])
        return [r.signals() for r in results]

    @_timed
    def run_batch(self, batch, stats, ctx):
        # Written here rather than by the base class: the language also goes to metadata.
        self.tag_records(batch, self.label)
        for record in batch:
            self.count(record, None, stats)
        return list(batch)

    def count(self, record: Record, tag, stats: StepStats) -> None:
        lang = (record.get("metadata") or {}).get("language")
        if lang is not None:
            stats.counter("languages")[lang] += 1
