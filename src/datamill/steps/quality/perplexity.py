"""``perplexity``: CCNet's KenLM perplexity of every document, and its head/middle/tail bucket.

The model is what ``datamill lm train`` wrote (a KenLM binary with its card). Each line is
normalised and tokenised as in training (:mod:`datamill.models.ccnet_norm`; Chinese and Japanese
segmented), scored with ``kenlm``, and the document perplexity is taken from the per-line
log-probabilities weighted by length. ``perplexity_bucket`` compares it with the 30th/60th
percentile cut-offs of the document's language stored in the card (``all`` when that language
has none): ``head`` (most fluent), ``middle``, ``tail``. Signals:
``signals[<label>] = {"perplexity": float, "perplexity_bucket": str}``. A document with no
scorable line is counted under ``unscored: no_text``.
"""

from __future__ import annotations

from typing import Any

from datamill.core.step import register
from datamill.models.kenlm_train import PerplexityModel
from datamill.models.text_prep import script_language
from datamill.steps.quality.model_tagger import ModelTagger


@register("perplexity")
class Perplexity(ModelTagger):
    """Tag ``perplexity`` and ``perplexity_bucket`` with the KenLM model at ``model``."""

    def __init__(self, model: str, text_field: str = "text", buckets: bool = True):
        self.model_path = model
        self.text_field = text_field
        self.buckets = buckets
        self._lm = None

    def setup(self) -> None:
        # a wrong path or kind: one line, before any record is read
        self._lm = PerplexityModel(self.model_path).load()
        lang = self._lm.card.get("language")
        self.compare_scripts = False
        self.trained_languages = frozenset({lang}) if lang else frozenset()

    def score_batch(self, texts: list[str], languages: list[str | None]) -> list[dict[str, Any] | str]:
        out: list[dict[str, Any] | str] = []
        for text, lang in zip(texts, languages):
            lang = lang or script_language(text)
            pp = self._lm.perplexity(text, lang)
            if pp is None:
                out.append("no_text")
                continue
            sig: dict[str, Any] = {"perplexity": round(pp, 3)}
            if self.buckets:
                sig["perplexity_bucket"] = self._lm.bucket(pp, lang)
            out.append(sig)
        return out
