"""``toxicity``: offensive-language signals, from word lists and classifiers; never drops.

Signals under ``signals[<label>]``:

* ``badword_count`` / ``badword_ratio`` (matches per word) and ``badwords`` (the distinct
  entries found, at most 10): the word list of the document's language from ``badwords_dir``
  (LDNOOBW's 28 lists have this layout), matched on word boundaries in every language, Chinese
  and Japanese through their segmenters (:mod:`.badword_counts`). Languages without a list get
  no count (counted under ``unscored_wordlist``).
* ``toxicity_score`` in [0, 1]: a classifier trained with ``datamill classifier train``
  (``model``; any language it was trained on, ``model_languages`` to restrict it), else for
  English ``alt-profanity-check`` (a linear SVM shipped inside its wheel; ``english_classifier``).

The document language is ``metadata.language`` (else guessed from the script: Han/kana text is
Chinese/Japanese, other text English). Deciding is ``signal_filter``'s job, e.g.
``{signal: toxicity.toxicity_score, max: 0.8}``.
"""

from __future__ import annotations

import os
from typing import Any

from datamill.core.errors import InputError
from datamill.core.step import register
from datamill.models.text_prep import script_language
from datamill.steps.quality.badword_counts import load_list
from datamill.steps.quality.model_tagger import ModelTagger
from datamill.text.words import base_language


@register("toxicity")
class Toxicity(ModelTagger):
    """Tag bad-word counts (word lists of ``badwords_dir``) and ``toxicity_score`` (a trained
    classifier, or alt-profanity-check for English); never drops."""

    def __init__(self, badwords_dir: str | None = None, model: str | None = None,
                 model_languages: list[str] | None = None, english_classifier: bool = True,
                 text_field: str = "text"):
        self.badwords_dir = badwords_dir or os.environ.get("DATAMILL_BADWORDS_DIR")
        if badwords_dir and not os.path.isdir(badwords_dir):
            raise InputError(f"badwords_dir {badwords_dir}: no such folder (expected a folder of word lists "
                             f"named by language code, e.g. LDNOOBW's)")
        self.model_path = model
        self.model_languages = {base_language(x) for x in model_languages} if model_languages else None
        self.english_classifier = english_classifier
        self.text_field = text_field
        self._model = None
        self._profanity = None

    def setup(self) -> None:
        if self.model_path:  # a wrong path or kind: one line, before any record is read
            from datamill.models.classifier import load_classifier

            self._model = load_classifier(self.model_path)
        if self.english_classifier:
            try:
                from profanity_check import predict_prob
            except ImportError as exc:
                raise InputError("toxicity: english_classifier needs alt-profanity-check "
                                 "(pip install 'datamill[quality]'), or set english_classifier: false") from exc
            self._profanity = predict_prob

    def score_batch(self, texts: list[str], languages: list[str | None]) -> list[dict[str, Any]]:
        langs = [base_language(lang) if lang else script_language(t) for t, lang in zip(texts, languages)]
        out: list[dict[str, Any]] = [{} for _ in texts]
        if self.badwords_dir:
            for sig, text, lang in zip(out, texts, langs):
                wl = load_list(self.badwords_dir, lang)
                if wl is None:
                    continue
                n, total, hits = wl.count(text)
                sig.update({"badword_count": n, "badword_ratio": round(n / total, 6) if total else 0.0,
                            "badwords": hits[:10]})
        model_idx = [i for i, lang in enumerate(langs)
                     if self._model is not None and (self.model_languages is None or lang in self.model_languages)]
        if model_idx:
            scores = self._model.predict([texts[i] for i in model_idx], [langs[i] for i in model_idx])
            for i, s in zip(model_idx, scores):
                out[i]["toxicity_score"] = round(float(s), 6)
        en_idx = [i for i, lang in enumerate(langs) if lang == "en" and "toxicity_score" not in out[i]]
        if en_idx and self._profanity is not None:
            probs = self._profanity([texts[i] for i in en_idx])
            for i, p in zip(en_idx, probs):
                out[i]["toxicity_score"] = round(float(p), 6)
        return out

    def count(self, record, tag, stats) -> None:
        sig = tag  # what tag_batch returned for this record (stored under signals[<label>])
        if "badword_count" not in sig and "__unscored__" not in tag:
            stats.counter("unscored_wordlist")[record_lang(record)] += 1
        if "toxicity_score" not in sig and "__unscored__" not in tag:
            stats.counter("unscored_classifier")[record_lang(record)] += 1


def record_lang(record) -> str:
    from datamill.steps.quality.language_rules import record_language

    return record_language(record, None) or script_language(record.get("text") or "")
