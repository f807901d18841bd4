"""The shared vector module: nearest neighbours (faiss and numpy agree), k-means, centring and
spread, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from datamill.embed import vectors as V


def blobs(k: int, per: int, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    X = np.vstack([centres[i] + 0.05 * rng.normal(size=(per, dim)) for i in range(k)])
    return V.normalize(X), np.repeat(np.arange(k), per)


def test_numpy_fallback_matches_faiss(monkeypatch):
    X, labels = blobs(5, 30)
    d1, i1 = V.nearest(X[:20], X[50:], 3)
    monkeypatch.setattr(V, "_faiss", lambda: None)
    d2, i2 = V.nearest(X[:20], X[50:], 3)
    assert (i1 == i2).all() and np.allclose(d1, d2, atol=1e-5)
    for backend in ("numpy", "auto"):
        lab, cent = V.kmeans(X, 5, seed=0, backend=backend)
        assert len({tuple(sorted(set(lab[labels == b]))) for b in range(5)}) == 5
        assert np.allclose(np.linalg.norm(cent, axis=1), 1.0, atol=1e-5)


def test_center_spreads_a_squashed_space_and_keeps_neighbours():
    X, labels = blobs(4, 25)
    squashed = V.normalize(X * 0.15 + np.ones(X.shape[1]))      # one big shared direction
    before, after = V.spread(squashed), V.spread(V.center(squashed))
    assert before["max"] < 0.1 and after["max"] > 0.8
    _, nn_before = V.nearest(squashed, squashed, 2)
    _, nn_after = V.nearest(V.center(squashed), V.center(squashed), 2)
    assert (labels[nn_before[:, 1]] == labels[nn_after[:, 1]]).mean() > 0.95


def test_coverage_and_errors():
    X, _ = blobs(3, 10)
    cov = V.coverage(X, [0, 10, 20])
    assert 0 <= cov["mean"] <= cov["p90"] <= cov["max"] < 0.2
    assert np.isnan(V.coverage(X, [])["mean"])
    with pytest.raises(V.VectorError):
        V.normalize(np.zeros(3))
    with pytest.raises(V.VectorError):
        V.kmeans_centroids(X, 2, backend="gpu")
