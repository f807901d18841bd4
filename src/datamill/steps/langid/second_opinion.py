"""py3langid as the second voter of the ``language_id`` tagger, loaded only when first asked.

py3langid (a naive-Bayes byte n-gram model, 97 languages, shipped inside its wheel) errs in
other places than lid.176: it is much better on Somali, Yoruba, Irish, Latin, Slovak and the close
pairs af/nl, nb/nn/da, bs/hr/sr, and on short Chinese, but much worse on short English, Spanish
or Russian. ``distribution`` gives its top labels with normalised probabilities; the tagger mixes
them with lid.176's (see ``identify.py``). The model is loaded on the first call, so a run where
lid.176 is always sure never pays for it.
"""

from __future__ import annotations

import threading

MAX_CHARS = 3000  # py3langid is pure Python per n-gram; a prefix is plenty
TOP_K = 10

_LOCK = threading.Lock()
_IDENTIFIER = None


def _identifier():
    global _IDENTIFIER
    with _LOCK:
        if _IDENTIFIER is None:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError("language_id with second_opinion=True needs py3langid "
                                  "(pip install py3langid), or set second_opinion: false") from exc
            _IDENTIFIER = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _IDENTIFIER


def labels() -> frozenset[str]:
    """Every label py3langid can give (loads the model)."""
    return frozenset(_identifier().labels)


def loaded() -> bool:
    """Whether this process has loaded py3langid yet."""
    return _IDENTIFIER is not None


def distribution(text: str, k: int = TOP_K) -> list[tuple[str, float]]:
    """py3langid's top-``k`` (language, probability), best first; probabilities sum to 1
    over all its languages."""
    return [(lang, float(p)) for lang, p in _identifier().rank(text[:MAX_CHARS])[:k]]
