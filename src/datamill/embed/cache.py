"""Embeddings cached by content hash, so a rerun (or a second selection on the same data) does
not embed again.

A cache is one ``.npz`` file per embedding model: ``keys`` (16-byte BLAKE2b digests of each
text, UTF-8) and ``vectors`` (float32 rows). :func:`cached_embed` looks every text up by its
digest, embeds only the missing ones, and rewrites the file atomically with the union. Keys are
of the text's content, not its position, so edited, reordered or added records reuse what they
can. The default place is beside the data: ``<folder of INPUT>/.datamill-embeddings/<model>.npz``
(:func:`default_cache_path`).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

CACHE_DIRNAME = ".datamill-embeddings"


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def default_cache_path(input_path: str | os.PathLike, model_name: str) -> Path:
    """``<input's folder>/.datamill-embeddings/<model name, filesystem-safe>.npz``."""
    p = Path(input_path)
    folder = p if p.is_dir() else p.parent
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(model_name).strip("/")).strip("_")[-120:] or "model"
    return folder / CACHE_DIRNAME / f"{safe}.npz"


def load_cache(path: str | os.PathLike) -> tuple[dict[bytes, int], np.ndarray | None]:
    path = Path(path)
    if not path.is_file():
        return {}, None
    with np.load(path, allow_pickle=False) as data:
        keys, vectors = data["keys"], data["vectors"]
    return {bytes(k): i for i, k in enumerate(keys)}, vectors


def save_cache(path: str | os.PathLike, keys: Sequence[bytes], vectors: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, keys=np.asarray(list(keys), dtype="S16"), vectors=np.asarray(vectors, dtype=np.float32))
    os.replace(tmp, path)


def cached_embed(texts: Sequence[str], embed_fn: Callable[[list[str]], np.ndarray],
                 cache_path: str | os.PathLike | None, stats: dict | None = None) -> np.ndarray:
    """``embed_fn(texts)`` with each distinct text embedded at most once across runs.
    ``stats`` (if given) gets ``cached``, ``embedded`` and ``path``."""
    keys = [text_key(t) for t in texts]
    index, vectors = load_cache(cache_path) if cache_path else ({}, None)
    missing: dict[bytes, str] = {}
    for k, t in zip(keys, texts):
        if k not in index and k not in missing:
            missing[k] = t
    new = np.asarray(embed_fn(list(missing.values())), dtype=np.float32) if missing else None
    if vectors is not None and new is not None and new.shape[1] != vectors.shape[1]:
        index, vectors = {}, None  # another model wrote this file: start over
        missing = {k: t for k, t in zip(keys, texts)}
        new = np.asarray(embed_fn(list(missing.values())), dtype=np.float32)
    if new is not None:
        start = 0 if vectors is None else len(vectors)
        for j, k in enumerate(missing):
            index[k] = start + j
        vectors = new if vectors is None else np.vstack([vectors, new])
        if cache_path:
            ordered = sorted(index, key=index.get)
            save_cache(cache_path, ordered, vectors)
    if stats is not None:
        stats.update(cached=len(set(keys)) - len(missing), embedded=len(missing),
                     path=str(cache_path) if cache_path else None)
    if vectors is None:
        return np.zeros((0, 0), np.float32)
    return vectors[[index[k] for k in keys]]
