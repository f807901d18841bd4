"""Vector maths on unit-normalised embeddings, in one place: normalisation, exact nearest
neighbours, coverage, spherical k-means (faiss when installed, numpy otherwise) and centring.

Used by selection (:mod:`datamill.post.select`), the k-center step and semantic dedup
(:mod:`datamill.steps.dedup.semantic`). Cosine distance is ``1 - cos``: 0 is identical.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

KMEANS_BACKENDS = ("auto", "faiss", "numpy")


class VectorError(ValueError):
    """Vectors of the wrong shape."""


def _faiss():
    try:
        import faiss  # noqa: F401
        return faiss
    except ImportError:
        return None


def normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as contiguous float32 (a zero row stays zero)."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise VectorError(f"embeddings must be a 2-D array, not shape {X.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return np.ascontiguousarray(X / norms, dtype=np.float32)


def center(X: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """Subtract the mean vector (of ``X``, or the one given) and renormalise.

    Transformer sentence embeddings share a large common direction: multilingual-e5 puts any two
    Chinese prompts at cosine 0.75-0.95, so distances live in a narrow band (a max distance of
    about 0.24 on a Chinese SFT set). Removing the common component spreads them over the
    whole range without changing which vectors are near each other (the "all-but-the-top"
    post-processing of Mu & Viswanath, 2018, first step)."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) < 2 and mean is None:
        return normalize(X) if len(X) else X
    m = X.mean(axis=0) if mean is None else np.asarray(mean, dtype=np.float32)
    return normalize(X - m)


def nearest(queries: np.ndarray, base: np.ndarray, k: int = 1, use_faiss: bool | None = None,
            chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances and indices of the ``k`` nearest rows of ``base`` for each query (both
    unit-normalised). Exact search: faiss ``IndexFlatIP`` when available, else chunked numpy."""
    n, m = len(queries), len(base)
    k = min(k, m)
    if n == 0 or m == 0 or k == 0:
        return np.zeros((n, k), np.float32), np.full((n, k), -1, np.int64)
    faiss = _faiss() if use_faiss in (None, True) else None
    if faiss is not None:
        index = faiss.IndexFlatIP(base.shape[1])
        index.add(np.ascontiguousarray(base, dtype=np.float32))
        sims, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return (1.0 - sims).astype(np.float32), idx.astype(np.int64)
    dists = np.empty((n, k), np.float32)
    idx = np.empty((n, k), np.int64)
    for s in range(0, n, chunk):
        sims = queries[s:s + chunk] @ base.T
        if k == 1:
            top = sims.argmax(axis=1)[:, None]
        else:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
            top = np.take_along_axis(top, order, axis=1)
        idx[s:s + chunk] = top
        dists[s:s + chunk] = 1.0 - np.take_along_axis(sims, top, axis=1)
    return dists, idx


def coverage(X: np.ndarray, selected: Sequence[int]) -> dict[str, float]:
    """How well ``selected`` covers ``X`` (unit-normalised): mean, median, 90th percentile and
    max cosine distance from every row to its nearest selected row. Lower is better."""
    sel = np.asarray(list(selected), dtype=np.int64)
    if len(sel) == 0:
        return {"mean": float("nan"), "median": float("nan"), "p90": float("nan"), "max": float("nan")}
    d, _ = nearest(X, X[sel], 1)
    d = np.maximum(d[:, 0], 0.0)
    return {"mean": float(d.mean()), "median": float(np.median(d)), "p90": float(np.quantile(d, 0.9)),
            "max": float(d.max())}


def spread(X: np.ndarray, sample: int = 2000, seed: int = 0) -> dict[str, float]:
    """Pairwise cosine distances of (a sample of) ``X``: mean, p5, p95 and max. A squashed
    space (every distance near the same small value) has nothing for diversity methods to use."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) > sample:
        X = X[np.random.default_rng(seed).choice(len(X), sample, replace=False)]
    if len(X) < 2:
        return {"mean": float("nan"), "p5": float("nan"), "p95": float("nan"), "max": float("nan")}
    d = 1.0 - X @ X.T
    d = d[np.triu_indices(len(X), 1)]
    return {"mean": float(d.mean()), "p5": float(np.quantile(d, 0.05)), "p95": float(np.quantile(d, 0.95)),
            "max": float(d.max())}


def assign(x: np.ndarray, centroids: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid by cosine similarity (rows of both are unit norm): (labels, similarity)."""
    labels = np.empty(len(x), dtype=np.int64)
    sims = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), chunk):
        s = x[start:start + chunk] @ centroids.T
        labels[start:start + chunk] = np.argmax(s, axis=1)
        sims[start:start + chunk] = s[np.arange(len(s)), labels[start:start + chunk]]
    return labels, sims


def kmeans_numpy(x: np.ndarray, k: int, iters: int = 20, seed: int = 0) -> np.ndarray:
    """Spherical k-means (cosine) with k-means++ seeding; returns unit-norm centroids (k, d)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    centroids = np.empty((k, x.shape[1]), dtype=np.float32)
    first = int(rng.integers(n))
    centroids[0] = x[first]
    closest = np.maximum(1.0 - x @ x[first], 0.0).astype(np.float64)
    for i in range(1, k):
        total = closest.sum()
        pick = int(rng.choice(n, p=closest / total)) if total > 0 else int(rng.integers(n))
        centroids[i] = x[pick]
        np.minimum(closest, np.maximum(1.0 - x @ x[pick], 0.0), out=closest)
    for _ in range(iters):
        labels, _ = assign(x, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        counts = np.bincount(labels, minlength=k)
        filled = counts > 0
        new = centroids.copy()
        new[filled] = normalize(sums[filled])
        if np.allclose(new, centroids, atol=1e-6):
            centroids = new
            break
        centroids = new
    return centroids


def kmeans_faiss(x: np.ndarray, k: int, iters: int = 20, seed: int = 0) -> np.ndarray:
    import faiss

    km = faiss.Kmeans(x.shape[1], k, niter=iters, seed=int(seed) % (2**31), spherical=True, verbose=False,
                      min_points_per_centroid=1, max_points_per_centroid=100_000)
    km.train(np.ascontiguousarray(x, dtype=np.float32))
    return normalize(km.centroids)


def kmeans_centroids(x: np.ndarray, k: int, iters: int = 20, seed: int = 0,
                     backend: str = "auto") -> tuple[np.ndarray, str]:
    """Unit-norm centroids of ``x`` (unit-norm rows) and the backend that computed them."""
    if backend not in KMEANS_BACKENDS:
        raise VectorError(f"kmeans backend must be one of {', '.join(KMEANS_BACKENDS)}, not {backend!r}")
    if backend in ("auto", "faiss"):
        try:
            return kmeans_faiss(x, k, iters, seed), "faiss"
        except ImportError:
            if backend == "faiss":
                raise
    return kmeans_numpy(x, k, iters, seed), "numpy"


def kmeans(X: np.ndarray, n_clusters: int, seed: int = 0, niter: int = 20,
           backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: (labels, unit-norm centroids)."""
    n = len(X)
    k = max(1, min(int(n_clusters), n))
    if k == 1:
        return np.zeros(n, np.int64), normalize(X.mean(axis=0, keepdims=True))
    centroids, _ = kmeans_centroids(X, k, niter, seed, backend)
    labels, _ = assign(np.asarray(X, dtype=np.float32), centroids)
    return labels, centroids
