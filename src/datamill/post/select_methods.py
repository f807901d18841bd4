"""The selection algorithms, on arrays: K-Center-Greedy, random, best score, cluster-balanced
round robin, Deita's score-first diversity filter. Each takes a budget (records and/or tokens,
:class:`~datamill.post.select_budget.Budget`) and returns indices into its input in the order
they were kept."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from datamill.post.select_budget import Budget as _Budget, _take_in_order


def k_center_greedy(X: np.ndarray, budget: int | None = None, *, budget_tokens: int | None = None,
                    costs: np.ndarray | None = None, start: int | None = None, seed: int = 0,
                    already: Sequence[int] = ()) -> tuple[list[int], list[float]]:
    """K-Center-Greedy on unit-normalised rows of ``X``.

    Returns the chosen indices in the order they were chosen, and for each the cosine distance
    to the nearest record kept before it (its "radius" when picked; ``nan`` for the first).
    ``already``: indices kept beforehand (they count as centres, not against the budget).
    ``start``: the first centre when ``already`` is empty (default: a seeded random record).
    Cost: one matrix-vector product over all rows per kept record (O(n·k·d)).
    """
    n = len(X)
    b = _Budget(budget, budget_tokens, costs)
    if n == 0:
        return [], []
    X = np.ascontiguousarray(X, dtype=np.float32)
    max_sim = np.full(n, -np.inf, dtype=np.float32)
    for a in already:
        np.maximum(max_sim, X @ X[a], out=max_sim)
    taken = np.zeros(n, dtype=bool)
    taken[list(already)] = True
    order: list[int] = []
    radii: list[float] = []
    cand_mask = ~taken
    if costs is not None and budget_tokens is not None:
        cand_mask &= costs <= budget_tokens
    if not already:
        pool = np.flatnonzero(cand_mask)
        if len(pool) == 0 or b.full():
            return [], []
        first = int(start) if start is not None else int(np.random.default_rng(seed).choice(pool))
        order.append(first)
        radii.append(float("nan"))
        b.take(first)
        taken[first] = True
        np.maximum(max_sim, X @ X[first], out=max_sim)
    work = np.empty(n, dtype=np.float32)
    while not b.full():
        np.copyto(work, max_sim)
        work[taken] = np.inf
        if b.n_tokens is not None:
            work[costs > b.left_tokens()] = np.inf
        c = int(np.argmin(work))
        if not np.isfinite(work[c]):
            break  # nothing left that fits
        order.append(c)
        radii.append(float(max(0.0, 1.0 - work[c])))
        b.take(c)
        taken[c] = True
        np.maximum(max_sim, X @ X[c], out=max_sim)
    return order, radii


def random_select(n: int, budget: int | None = None, *, budget_tokens: int | None = None,
                  costs: np.ndarray | None = None, seed: int = 0) -> list[int]:
    """A seeded random sample, in draw order; records that do not fit the token budget left are
    passed over."""
    return _take_in_order(np.random.default_rng(seed).permutation(n), _Budget(budget, budget_tokens, costs))


def by_score(scores: np.ndarray, budget: int | None = None, *, budget_tokens: int | None = None,
             costs: np.ndarray | None = None) -> list[int]:
    """The highest scores first (ties keep input order)."""
    return _take_in_order(np.argsort(-scores, kind="stable"), _Budget(budget, budget_tokens, costs))


def cluster_balanced(labels: np.ndarray, budget: int | None = None, *, budget_tokens: int | None = None,
                     costs: np.ndarray | None = None, scores: np.ndarray | None = None,
                     seed: int = 0) -> list[int]:
    """Round-robin over clusters, each turn taking its cluster's next best record (by ``scores``;
    a seeded random order where there are none). Every cluster gets the same share until it
    runs out; then the others share what is left."""
    b = _Budget(budget, budget_tokens, costs)
    rng = np.random.default_rng(seed)
    n = len(labels)
    if scores is None:
        key = rng.permutation(n).astype(np.float64)
    else:
        key = -np.asarray(scores, dtype=np.float64) + rng.random(n) * 1e-9
    queues: dict[int, list[int]] = {}
    for i in np.argsort(key, kind="stable"):
        queues.setdefault(int(labels[i]), []).append(int(i))
    clusters = [c for c in rng.permutation(sorted(queues))]
    pos = {c: 0 for c in clusters}
    out: list[int] = []
    while clusters and not b.full():
        still = []
        for c in clusters:
            if b.full():
                break
            q = queues[c]
            while pos[c] < len(q) and not b.fits(q[pos[c]]):
                pos[c] += 1  # too long for what is left of the token budget
            if pos[c] < len(q):
                i = q[pos[c]]
                pos[c] += 1
                out.append(i)
                b.take(i)
            if pos[c] < len(q):
                still.append(c)
        clusters = still
    return out


def deita_select(X: np.ndarray, scores: np.ndarray, budget: int | None = None, *,
                 budget_tokens: int | None = None, costs: np.ndarray | None = None,
                 min_distance: float = 0.1) -> tuple[list[int], list[float], int]:
    """Deita's score-first diversity filter: walk records from the best score down, keep one
    unless its cosine distance to a record already kept is below ``min_distance`` (Deita uses
    similarity 0.9, i.e. distance 0.1). Returns (kept, distance of each to the nearest earlier
    kept record, number passed over as too close)."""
    b = _Budget(budget, budget_tokens, costs)
    cap = budget if budget is not None else len(X)
    kept = np.empty((min(cap, len(X)) or 1, X.shape[1]), np.float32)
    out: list[int] = []
    dists: list[float] = []
    skipped = 0
    for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        if b.full():
            break
        i = int(i)
        if not b.fits(i):
            continue
        m = len(out)
        if m:
            d = float(1.0 - np.max(kept[:m] @ X[i]))
            if d < min_distance:
                skipped += 1
                continue
        else:
            d = float("nan")
        if m >= len(kept):
            kept = np.concatenate([kept, np.empty_like(kept)])
        kept[m] = X[i]
        out.append(i)
        dists.append(max(0.0, d) if m else d)
        b.take(i)
    return out, dists, skipped
