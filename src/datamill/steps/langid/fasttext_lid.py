"""``language_id``: the language tagger and the language rules as one step, so recipes keep
one name. ``language_tagger`` (``tagger.py``) writes ``metadata.language``,
``metadata.language_score`` and its statistics under ``signals[<this step's label>]``;
``language_filter`` (``rules.py``) then keeps or drops:

* ``language_not_kept`` — ``languages`` is given and the language is not in it;
* ``low_language_score`` — the score is below ``min_scores[lang]`` or else ``min_score``
  (0.65, FineWeb's threshold). ``min_score: 0`` with no ``languages`` makes it a pure tagger.

To tag once and decide many times, use ``language_tagger`` then ``language_filter`` (or
``signal_filter`` on ``<label>.score``): the decision needs no model.
"""

from __future__ import annotations

from datamill.core.record import Batch, Record
from datamill.core.stats import StepStats
from datamill.core.step import Filter, Resources, register
from datamill.steps.langid.identify import UNDETERMINED, keeps_cjk
from datamill.steps.langid.rules import ALIASES, LanguageRules, normalize_code
from datamill.steps.langid.tagger import LanguageTagger

__all__ = ["ALIASES", "LanguageID", "UNDETERMINED", "normalize_code"]


@register("language_id")
class LanguageID(Filter):
    """Identify each record's language (``language_tagger``); keep the wanted languages
    (``language_filter``)."""

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=1024)
    #: a recipe's relative ``model_path`` is relative to the recipe file
    path_params = ("model_path",)

    def __init__(self, languages: list[str] | None = None, min_score: float = 0.65,
                 min_scores: dict[str, float] | None = None, max_chars: int = 10_000,
                 script_correction: bool = True, second_opinion: bool = True,
                 second_opinion_below: float = 0.9, second_opinion_weight: float = 0.55,
                 normalize_whitespace: bool = True, model_path: str | None = None):
        self.rules = LanguageRules(languages=languages, min_score=min_score, min_scores=min_scores)
        self.tagger = LanguageTagger(
            max_chars=max_chars, script_correction=script_correction, second_opinion=second_opinion,
            second_opinion_below=second_opinion_below, second_opinion_weight=second_opinion_weight,
            normalize_whitespace=normalize_whitespace, model_path=model_path)
        self.languages = self.rules.languages
        self.second_opinion = second_opinion

    def preflight(self) -> None:
        self.tagger.preflight()

    def setup(self) -> None:
        self.tagger.ensure_setup()
        if self.languages is not None:
            # lid.176's labels first: py3langid's label list loads its model (0.7 s a worker),
            # which most runs never need otherwise (it only votes on unsure texts)
            lid_labels = frozenset(self.tagger._identifier.model.labels) | {UNDETERMINED}
            if not self.languages <= lid_labels:
                self.rules.check_labels(self.tagger.labels,
                                        "lid.176" + (" or py3langid" if self.second_opinion else ""))

    def prefork(self, han: bool = False) -> None:
        """Load the models in the parent before workers are forked (see ``LanguageTagger``).
        The short-Han-text tables only with ``han`` (``post_language``'s short texts): web
        pages with under six Han characters are rare (none in the 2,510 benchmark pages, with
        Chinese kept), and a load before the fork would add 0.7 s to the start of every run."""
        self.ensure_setup()
        self.tagger.prefork(han=han and keeps_cjk(self.languages))

    # --- identification (also used by post_language) -------------------------------------
    def identify(self, texts: list[str]) -> list[tuple[str, float]]:
        """(language, score) for each text."""
        self.ensure_setup()
        return self.tagger.identify(texts)

    # --- filter --------------------------------------------------------------------------
    def keep_batch(self, batch: Batch) -> list[None | str]:
        self.ensure_setup()
        self.tagger.tag_records(batch, self.label)
        return self.rules.keep_batch(batch)

    def keep(self, record: Record) -> None | str:
        return self.keep_batch([record])[0]

    def count(self, record: Record, verdict, stats: StepStats) -> None:
        self.rules.count(record, verdict, stats)
