"""``quality_classifier``: score every document with a text classifier trained by
``datamill classifier train`` (fastText or embeddings + head), in batches.

The score is stored as ``signals[<label>][<output>]`` (``output`` defaults to
``quality_score``): P(positive) for binary models, the predicted grade for graded (0-5) ones.
Deciding is ``signal_filter``'s job (``keep_top: 0.1`` is DCLM's top 10%). A record with empty
text gets no score and is counted under ``unscored: empty_text``.
"""

from __future__ import annotations

from typing import Any

from datamill.core.step import register
from datamill.models.card import read_card
from datamill.models.classifier import KIND, load_classifier
from datamill.steps.quality.model_tagger import ModelTagger


@register("quality_classifier")
class QualityClassifier(ModelTagger):
    """Apply the classifier at ``model`` (its card must sit beside it)."""

    def __init__(self, model: str, output: str = "quality_score", text_field: str = "text"):
        self.model_path = model
        self.output = output
        self.text_field = text_field
        self._model = None

    def setup(self) -> None:
        # a wrong path or kind fails here, once per worker, before any record is read (not when
        # the recipe is loaded: recipes naming models still validate on a machine without them)
        self.card = read_card(self.model_path, KIND)
        self._model = load_classifier(self.model_path)
        # scripts of the training texts: a model with no Chinese text behind it counts the
        # Chinese documents it scores (and so on)
        self.trained_languages = frozenset((self.card.get("training") or {}).get("languages") or ())

    def score_batch(self, texts: list[str], languages: list[str | None]) -> list[dict[str, Any]]:
        scores = self._model.predict(texts, languages)
        return [{self.output: round(float(s), 6)} for s in scores]
