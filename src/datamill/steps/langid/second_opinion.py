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
            _IDENTIFIER = _from_cache() or LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _IDENTIFIER


def _cache_file():
    """The wheel's model, LZMA-decompressed once into ``$XDG_CACHE_HOME/datamill`` (68 MB):
    decompressing costs 0.6 s in every process that loads it, reading the plain file 0.2 s."""
    import importlib.metadata
    import lzma
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from py3langid.langid import MODEL_DIR, MODEL_FILE

    src = Path(MODEL_DIR) / MODEL_FILE
    st = src.stat()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    dest = Path(base) / "datamill" / (f"py3langid-{importlib.metadata.version('py3langid')}-"
                                      f"{st.st_size}-{int(st.st_mtime)}.npz")
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, lzma.open(src) as inp:
                shutil.copyfileobj(inp, out, length=1 << 20)
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)  # atomic: a concurrent reader sees all of it or nothing
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return dest


def _from_cache():
    """py3langid's identifier built from the decompressed cache file, exactly as
    ``LanguageIdentifier.from_model_file`` builds it; ``None`` (and the normal path) when the
    cache cannot be written or read, or py3langid's layout changed."""
    try:
        import numpy as np
        from py3langid import modelio
        from py3langid.langid import LanguageIdentifier

        with np.load(_cache_file(), allow_pickle=False) as data:
            return LanguageIdentifier(
                np.asarray(data["ptc"]), np.asarray(data["pc"]), data["classes"].tolist(),
                modelio._to_array(data["nextmove"]), data["out_feat"].tolist(),
                norm_probs=True, tk_row=modelio._to_array(data["nextmove_row"]))
    except Exception:  # noqa: BLE001 - any problem: load from the wheel as py3langid does
        return None


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
