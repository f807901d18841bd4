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


#: the arrays of py3langid's model, one ``.npy`` file each in the cache folder
_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
_TYPECODE = {2: "H", 4: "I", 8: "Q"}
#: a half-written cache folder older than this is another process's that was killed
STALE_PART_S = 3600


def _cache_dir():
    """The wheel's model, LZMA-decompressed once into ``$XDG_CACHE_HOME/datamill`` as one
    ``.npy`` file per array (68 MB): decompressing costs 0.6 s in every process that loads it,
    reading an ``.npz`` 0.2 s, mapping the ``.npy`` files 0.015 s, and the mapped pages are
    shared by every process on the machine. Named by py3langid's version and the model file's
    size (not its time: every install of the same version shares one copy)."""
    import importlib.metadata
    import os
    import shutil
    import tempfile
    import time
    from pathlib import Path

    import numpy as np
    from py3langid import modelio
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    src = Path(MODEL_DIR) / MODEL_FILE
    base = Path(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"))
    base = base / "datamill"
    dest = base / f"py3langid-{importlib.metadata.version('py3langid')}-{src.stat().st_size}"
    if not (dest / "done").exists():
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=base, prefix=".py3langid-", suffix=".part"))
        try:
            nb_ptc, nb_pc, nb_classes, nextmove, row, out_feat = modelio.load_model(str(src))
            arrays = {"ptc": np.asarray(nb_ptc), "pc": np.asarray(nb_pc), "classes": np.array(nb_classes),
                      "nextmove": np.frombuffer(nextmove, dtype=f"u{nextmove.itemsize}"),
                      "nextmove_row": np.frombuffer(row, dtype=f"u{row.itemsize}"),
                      "out_feat": np.asarray(out_feat, dtype=np.int32)}
            for name in _ARRAYS:
                np.save(tmp / f"{name}.npy", arrays[name], allow_pickle=False)
            (tmp / "done").touch()
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, dest)  # atomic: a reader sees all of it or nothing
            except OSError:
                pass  # another process wrote it first
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for old in base.glob("py3langid-*.npz"):  # the single-file cache of earlier versions
            old.unlink(missing_ok=True)
        for part in base.glob(".py3langid-*.part"):  # left by a process killed while writing
            try:
                if time.time() - part.stat().st_mtime > STALE_PART_S:
                    shutil.rmtree(part, ignore_errors=True)
            except OSError:
                pass
    return dest


def _from_cache():
    """py3langid's identifier built from the cache folder, as ``LanguageIdentifier.from_model_file``
    builds it (the big arrays mapped, not copied: the DFA table is read through a
    ``memoryview``); ``None`` (and the normal path) when the cache cannot be written or read,
    or py3langid's layout changed."""
    try:
        import numpy as np
        from py3langid import modelio
        from py3langid.langid import LanguageIdentifier

        folder = _cache_dir()

        def load(name: str, mmap: bool = False):
            return np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)

        nextmove = load("nextmove", mmap=True)
        table = memoryview(nextmove).cast("B").cast(_TYPECODE[nextmove.dtype.itemsize])
        return LanguageIdentifier(
            load("ptc", mmap=True), load("pc"), load("classes").tolist(), table,
            load("out_feat").tolist(), norm_probs=True, tk_row=modelio._to_array(load("nextmove_row")))
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
