"""Selection under a budget: keep N records (or N tokens) that are good and cover the data.

Five methods, all working on unit-normalised embeddings of the prompt (cosine distance
``1 - cos``; 0 is identical, 1 is unrelated):

``kcenter``
    K-Center-Greedy (Sener & Savarese 2018): start from one prompt, then repeatedly keep the
    prompt farthest from everything kept so far. Minimises the largest distance from any record
    to its nearest kept record, so rare kinds of prompt are kept and near-duplicates are not.
``random``
    A seeded random sample: the baseline.
``cluster``
    Cluster-balanced sampling: spherical k-means on the embeddings, then round-robin over the
    clusters, taking the best record (by quality) of each cluster in turn, so every cluster
    gets the same share until it runs out.
``deita``
    Deita-style (Liu et al. 2024): score = quality × complexity; walk the records from the best
    score down and keep one unless it lies within ``min_distance`` of a record already kept.
``quality``
    The highest quality scores, nothing else.

A budget is a number of records (``budget``), a number of tokens (``budget_tokens``), or both
(whichever is reached first). With a token budget a record that does not fit what is left is
passed over, and smaller ones may still be kept.

Every kept record gets an explanation: its rank, score (quality, complexity), cluster, its
nearest *other* kept record with the distance, and a sentence saying why the method kept it.
The summary holds the coverage of the whole input (mean and max distance from every record to
its nearest kept record): the number the selection benchmark compares across methods.

Quality comes from, in order: a trained :class:`~datamill.post.quality_model.QualityModel`,
numeric ``ratings``, or a quality signal (``quality_score``, ``quality``, ``reward``, ``score``
…, in ``signals`` or ``metadata``); each is min-max scaled to [0, 1] over the input.
Complexity comes from a ``complexity`` signal, else a cheap heuristic on the prompt
(length, number of constraints, number of turns).

faiss (``faiss-cpu``) is used for k-means and nearest-neighbour searches when installed;
numpy does the same work otherwise.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from datamill.core.errors import DatamillError
from datamill.post.schema import prompt_text, response_text

METHODS = ("kcenter", "random", "cluster", "deita", "quality")

QUALITY_KEYS = ("quality_score", "quality", "reward", "rm_score", "score", "deita_quality",
                "helpfulness", "overall")
COMPLEXITY_KEYS = ("complexity", "complexity_score", "deita_complexity")


class SelectionError(DatamillError):
    """A selection that cannot run (bad budget, unknown method, wrong embedding shape…)."""


from datamill.embed.vectors import (VectorError, coverage, kmeans as _kmeans, nearest,  # noqa: E402,F401
                                    normalize as _normalize, spread)


def normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (:func:`datamill.embed.vectors.normalize`), raising
    :class:`SelectionError` on a wrong shape."""
    try:
        return _normalize(X)
    except VectorError as exc:
        raise SelectionError(str(exc)) from exc


def kmeans(X: np.ndarray, n_clusters: int, seed: int = 0, niter: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: (labels, unit-norm centroids) (:func:`datamill.embed.vectors.kmeans`)."""
    return _kmeans(np.asarray(X, dtype=np.float32), n_clusters, seed=seed, niter=niter)


# ---------------------------------------------------------------------------------------------
# the selection algorithms (on arrays)
# ---------------------------------------------------------------------------------------------

class _Budget:
    """Counts records and tokens; ``fits(cost)`` says whether one more record fits."""

    def __init__(self, n_records: int | None, n_tokens: int | None, costs: np.ndarray | None):
        if n_records is None and n_tokens is None:
            raise SelectionError("give a budget: a number of records, a number of tokens, or both")
        if n_records is not None and n_records < 0 or n_tokens is not None and n_tokens < 0:
            raise SelectionError("a budget cannot be negative")
        if n_tokens is not None and costs is None:
            raise SelectionError("a token budget needs the token count of every record")
        self.n_records, self.n_tokens, self.costs = n_records, n_tokens, costs
        self.records = 0
        self.tokens = 0

    def full(self) -> bool:
        return (self.n_records is not None and self.records >= self.n_records) or (
            self.n_tokens is not None and self.tokens >= self.n_tokens)

    def left_tokens(self) -> float:
        return math.inf if self.n_tokens is None else self.n_tokens - self.tokens

    def fits(self, i: int) -> bool:
        return self.n_tokens is None or self.costs[i] <= self.n_tokens - self.tokens

    def take(self, i: int) -> None:
        self.records += 1
        if self.costs is not None:
            self.tokens += int(self.costs[i])


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


def _take_in_order(order: Sequence[int] | np.ndarray, b: "_Budget") -> list[int]:
    """Walk ``order`` and keep what fits the budget left, until it is full."""
    out = []
    for i in order:
        if b.full():
            break
        if b.fits(int(i)):
            out.append(int(i))
            b.take(int(i))
    return out


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


# ---------------------------------------------------------------------------------------------
# scores from records
# ---------------------------------------------------------------------------------------------

def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, str):
        try:
            f = float(v)
            return f if math.isfinite(f) else None
        except ValueError:
            return None
    return None


def _minmax(values: np.ndarray) -> np.ndarray:
    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    if ok.any():
        lo, hi = values[ok].min(), values[ok].max()
        out[ok] = 1.0 if hi == lo else (values[ok] - lo) / (hi - lo)
    return out


def _signal(record: dict, keys: Sequence[str]) -> float | None:
    for where in (record.get("signals"), record.get("metadata")):
        if isinstance(where, dict):
            for k in keys:
                v = _num(where.get(k))
                if v is not None:
                    return v
    return None


def _rating(record: dict) -> float | None:
    ratings = record.get("ratings")
    if isinstance(ratings, dict):
        vals = [v for v in (_num(x) for x in ratings.values()) if v is not None]
        if vals:
            return sum(vals) / len(vals)
    elif _num(ratings) is not None:
        return _num(ratings)
    if record.get("kind") == "ranking":
        scores = [_num(r.get("score")) for r in record.get("responses") or []]
        scores = [s for s in scores if s is not None]
        if scores:
            return max(scores)
    return None


def quality_scores(records: Sequence[dict], keys: Sequence[str] | None = None,
                   model: Any = None) -> tuple[np.ndarray, str]:
    """Quality in [0, 1] per record, and where it came from.

    ``model``: a :class:`~datamill.post.quality_model.QualityModel` (its sigmoid output);
    ``keys``: signal/metadata/rating names to average (each min-max scaled). Default: the
    model if given, else numeric ``ratings`` (mean over criteria), else the first quality signal
    found among ``QUALITY_KEYS``. Records with none get the median of the others; when no record
    has any, every score is 1.0 and the source is ``"none"``.
    """
    n = len(records)
    if model is not None:
        return np.asarray(model.predict(records), dtype=np.float64), "model"
    if keys:
        cols = []
        for k in keys:
            vals = []
            for r in records:
                v = _signal(r, (k,))
                if v is None and isinstance(r.get("ratings"), dict):
                    v = _num(r["ratings"].get(k))
                vals.append(np.nan if v is None else v)
            cols.append(_minmax(np.asarray(vals, dtype=np.float64)))
        stacked = np.vstack(cols)
        counts = (~np.isnan(stacked)).sum(axis=0)
        q = np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)
        source = "+".join(keys)
    else:
        ratings = np.asarray([np.nan if (v := _rating(r)) is None else v for r in records], np.float64)
        if (~np.isnan(ratings)).any():
            q, source = _minmax(ratings), "ratings"
        else:
            sig = np.asarray([np.nan if (v := _signal(r, QUALITY_KEYS)) is None else v for r in records],
                             np.float64)
            q, source = _minmax(sig), "signals"
    if n and np.isnan(q).all():
        return np.ones(n), "none"
    if np.isnan(q).any():
        q = np.where(np.isnan(q), np.nanmedian(q), q)
    return q, source


_CONSTRAINT = re.compile(r"\b(must|should|at least|at most|no more than|exactly|without|include|"
                         r"including|format|list|step[- ]by[- ]step|explain|compare|each|only|"
                         r"do not|don't|words?|sentences?|paragraphs?|json|table)\b", re.I)


def complexity_scores(records: Sequence[dict]) -> tuple[np.ndarray, str]:
    """Complexity in [0.1, 1] per record: a ``complexity`` signal when present (min-max scaled),
    else a heuristic on the prompt: 0.5 × log length + 0.3 × constraint words + 0.2 × user turns
    (each min-max scaled over the input). Deita learns this with an LLM scorer; the heuristic is
    its cheap stand-in and can be replaced by tagging ``signals.complexity``."""
    n = len(records)
    sig = np.asarray([np.nan if (v := _signal(r, COMPLEXITY_KEYS)) is None else v for r in records], np.float64)
    if n and (~np.isnan(sig)).all():
        return 0.1 + 0.9 * _minmax(sig), "signals"
    lens, cons, turns = np.zeros(n), np.zeros(n), np.zeros(n)
    for i, r in enumerate(records):
        msgs = r.get("messages") or []
        text = " ".join(m.get("content") or "" for m in msgs if m.get("role") in ("user", "system"))
        lens[i] = math.log1p(len(text.split()))
        cons[i] = math.log1p(len(_CONSTRAINT.findall(text)))
        turns[i] = sum(1 for m in msgs if m.get("role") == "user")
    h = 0.5 * np.nan_to_num(_minmax(lens), nan=0.5) + 0.3 * np.nan_to_num(_minmax(cons), nan=0.5) \
        + 0.2 * np.nan_to_num(_minmax(turns), nan=0.5)
    if (~np.isnan(sig)).any():  # some records carry the signal: it wins where present
        h = np.where(np.isnan(sig), h, _minmax(sig))
        return 0.1 + 0.9 * h, "signals+heuristic"
    return 0.1 + 0.9 * h, "heuristic"


def record_text(record: dict) -> str:
    """The text a record costs in tokens: every message of the prompt side plus the answer."""
    parts = [m.get("content") or "" for m in record.get("messages") or []]
    if record.get("kind") in ("preference", "kto", "ranking"):
        parts.append(response_text(record))
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# the one entry point
# ---------------------------------------------------------------------------------------------

@dataclass
class Selection:
    """What :func:`select` kept and why."""

    indices: list[int]                      # into the input, in the order chosen
    explanations: list[dict[str, Any]]      # one per kept record, same order
    summary: dict[str, Any] = field(default_factory=dict)

    def records(self, records: Sequence[dict], annotate: bool = False) -> list[dict]:
        """The kept records in selection order; ``annotate`` adds ``signals.selection``."""
        out = []
        for i, exp in zip(self.indices, self.explanations):
            r = records[i]
            if annotate:
                r = dict(r)
                sig = dict(r.get("signals") or {})
                sig["selection"] = {k: v for k, v in exp.items() if k not in ("id", "why")}
                r["signals"] = sig
            out.append(r)
        return out


def _default_n_clusters(n: int, budget: int | None, budget_tokens: int | None) -> int:
    ref = budget if budget is not None else max(1, n // 10)
    return int(max(1, min(n, 256, round(math.sqrt(max(ref, 1))))))


def select(records: Sequence[dict], budget: int | None = None, *, budget_tokens: int | None = None,
           method: str = "kcenter", embeddings: np.ndarray | None = None,
           embed_fn: Callable[[list[str]], np.ndarray] | None = None,
           token_counts: Sequence[int] | None = None,
           count_tokens: Callable[[list[str]], list[int]] | None = None,
           quality: np.ndarray | None = None, quality_model: Any = None,
           quality_keys: Sequence[str] | None = None, n_clusters: int | None = None,
           min_distance: float = 0.1, seed: int = 0, text_fn: Callable[[dict], str] = prompt_text,
           ) -> Selection:
    """Keep up to ``budget`` records and/or ``budget_tokens`` tokens of ``records``.

    ``embeddings``: one row per record (else ``embed_fn(texts)``, else the packaged
    all-MiniLM-L6-v2 through :func:`datamill.embed.embed`) of ``text_fn(record)`` (default
    the last user turn). ``token_counts`` / ``count_tokens``: the cost of each record for a token
    budget (default: :func:`datamill.post.export.count_tokens` on the whole record).
    ``quality``: given scores; else ``quality_model`` or the ratings/signals
    (:func:`quality_scores`). ``n_clusters``: k-means clusters (for ``cluster`` and for the
    explanations; default √budget, at most 256). ``min_distance``: the Deita threshold.
    """
    if method not in METHODS:
        raise SelectionError(f"unknown selection method {method!r}; choose one of {', '.join(METHODS)}")
    t0 = time.perf_counter()
    n = len(records)
    timings: dict[str, float] = {}

    # embeddings ------------------------------------------------------------------------------
    t = time.perf_counter()
    if embeddings is None:
        texts = [text_fn(r) for r in records]
        if embed_fn is None:
            from datamill.embed import embed as embed_fn  # noqa: PLW0621 - default model
        embeddings = embed_fn(texts) if n else np.zeros((0, 1), np.float32)
    X = normalize(np.asarray(embeddings)) if n else np.zeros((0, 1), np.float32)
    if len(X) != n:
        raise SelectionError(f"{len(X)} embeddings for {n} records")
    timings["embed"] = time.perf_counter() - t

    # costs -------------------------------------------------------------------------------------
    costs = None
    if token_counts is not None:
        costs = np.asarray(token_counts, dtype=np.int64)
    elif budget_tokens is not None or count_tokens is not None:
        if count_tokens is None:
            from datamill.post.export import count_tokens
        costs = np.asarray(count_tokens([record_text(r) for r in records]), dtype=np.int64)
    if costs is not None and len(costs) != n:
        raise SelectionError(f"{len(costs)} token counts for {n} records")

    # scores --------------------------------------------------------------------------------------
    t = time.perf_counter()
    if quality is not None:
        q, q_source = np.asarray(quality, dtype=np.float64), "given"
    else:
        q, q_source = quality_scores(records, quality_keys, quality_model)
    cx, cx_source = complexity_scores(records)
    combined = q * cx if method == "deita" else q
    timings["score"] = time.perf_counter() - t

    # clusters (for the cluster method and the explanations) -----------------------------------
    t = time.perf_counter()
    k = n_clusters or _default_n_clusters(n, budget, budget_tokens)
    labels = kmeans(X, k, seed=seed)[0] if n else np.zeros(0, np.int64)
    sizes = np.bincount(labels, minlength=k) if n else np.zeros(0, np.int64)
    timings["cluster"] = time.perf_counter() - t

    # select ---------------------------------------------------------------------------------------
    t = time.perf_counter()
    radii: list[float] = []
    skipped = 0
    kw = dict(budget_tokens=budget_tokens, costs=costs)
    if method == "kcenter":
        chosen, radii = k_center_greedy(X, budget, seed=seed, **kw)
    elif method == "random":
        chosen = random_select(n, budget, seed=seed, **kw)
    elif method == "quality":
        chosen = by_score(q, budget, **kw)
    elif method == "cluster":
        chosen = cluster_balanced(labels, budget, scores=None if q_source == "none" else q, seed=seed, **kw)
    else:
        chosen, radii, skipped = deita_select(X, combined, budget, min_distance=min_distance, **kw)
    timings["select"] = time.perf_counter() - t

    # explanations ----------------------------------------------------------------------------------
    t = time.perf_counter()
    sel = np.asarray(chosen, dtype=np.int64)
    if len(sel) > 1:
        d2, i2 = nearest(X[sel], X[sel], 2)
        # the first hit is the record itself unless an exact duplicate came first
        self_first = i2[:, 0] == np.arange(len(sel))
        nn_idx = np.where(self_first, i2[:, 1], i2[:, 0])
        nn_dist = np.where(self_first, d2[:, 1], d2[:, 0])
    else:
        nn_idx = np.full(len(sel), -1)
        nn_dist = np.full(len(sel), np.nan)
    score_rank = np.empty(n, np.int64)
    score_rank[np.argsort(-combined, kind="stable")] = np.arange(1, n + 1)
    cluster_pos: dict[int, int] = {}
    explanations = []
    for rank, i in enumerate(chosen):
        c = int(labels[i])
        cluster_pos[c] = cluster_pos.get(c, 0) + 1
        exp: dict[str, Any] = {
            "id": records[i].get("id", str(i)), "rank": rank + 1, "index": int(i), "method": method,
            "score": round(float(combined[i]), 4), "quality": round(float(q[i]), 4),
            "complexity": round(float(cx[i]), 4), "cluster": c, "cluster_size": int(sizes[c]),
            "nearest_kept_id": (records[int(sel[nn_idx[rank]])].get("id", str(int(sel[nn_idx[rank]]))))
            if nn_idx[rank] >= 0 else None,
            "nearest_kept_distance": None if np.isnan(nn_dist[rank]) else round(float(max(0.0, nn_dist[rank])), 4),
        }
        if costs is not None:
            exp["tokens"] = int(costs[i])
        if radii:
            exp["distance_when_chosen"] = None if np.isnan(radii[rank]) else round(radii[rank], 4)
        exp["why"] = _why(method, rank, exp, cluster_pos[c], int(score_rank[i]), n, seed, min_distance,
                          q_source)
        explanations.append(exp)
    timings["explain"] = time.perf_counter() - t

    cov = coverage(X, chosen) if n else {}
    summary: dict[str, Any] = {
        "method": method, "records_in": n, "records_kept": len(chosen),
        "budget": budget, "budget_tokens": budget_tokens,
        "tokens_in": int(costs.sum()) if costs is not None else None,
        "tokens_kept": int(costs[sel].sum()) if costs is not None and len(sel) else (0 if costs is not None else None),
        "quality_source": q_source, "complexity_source": cx_source,
        "clusters": int(k), "clusters_covered": int(len(set(labels[sel].tolist()))) if len(sel) else 0,
        "coverage": cov, "seed": seed, "seconds": round(time.perf_counter() - t0, 3),
        "timings": {k_: round(v, 3) for k_, v in timings.items()},
    }
    if method == "deita":
        summary["min_distance"] = min_distance
        summary["skipped_too_close"] = skipped
    if method == "kcenter" and len(radii) > 1:
        summary["final_radius"] = round(float(radii[-1]), 4)
    return Selection(indices=[int(i) for i in chosen], explanations=explanations, summary=summary)


def _why(method: str, rank: int, exp: dict, pos_in_cluster: int, score_rank: int, n: int, seed: int,
         min_distance: float, q_source: str) -> str:
    c, size = exp["cluster"], exp["cluster_size"]
    if method == "kcenter":
        if rank == 0:
            return f"first centre (seeded random start, seed {seed})"
        return (f"farthest remaining prompt from the {rank} kept before it "
                f"(cosine distance {exp['distance_when_chosen']:.3f} to the nearest)")
    if method == "random":
        return f"random draw {rank + 1} (seed {seed})"
    if method == "quality":
        return f"quality {exp['quality']:.3f} ({q_source}), rank {score_rank} of {n}"
    if method == "cluster":
        by = "quality" if q_source != "none" else "random order"
        return (f"pick {pos_in_cluster} from cluster {c} ({size} records), taken in round-robin "
                f"over clusters; best remaining of its cluster by {by}")
    d = exp.get("distance_when_chosen")
    near = "first kept" if d is None else f"nearest earlier-kept at distance {d:.3f} ≥ {min_distance}"
    return (f"score {exp['score']:.3f} = quality {exp['quality']:.3f} × complexity "
            f"{exp['complexity']:.3f}, rank {score_rank} of {n}; {near}")


def format_explanation(selection: Selection, limit: int = 20) -> str:
    """A short human table of the first ``limit`` kept records and the summary line."""
    s = selection.summary
    lines = [f"  {'rank':>4}  {'id':<24} {'score':>6} {'cluster':>7} {'nearest kept':<24} {'dist':>6}"]
    for e in selection.explanations[:limit]:
        dist = "" if e["nearest_kept_distance"] is None else f"{e['nearest_kept_distance']:.3f}"
        lines.append(f"  {e['rank']:>4}  {str(e['id'])[:24]:<24} {e['score']:>6.3f} {e['cluster']:>7} "
                     f"{str(e['nearest_kept_id'] or '')[:24]:<24} {dist:>6}")
    if len(selection.explanations) > limit:
        lines.append(f"  … {len(selection.explanations) - limit} more")
    cov = s.get("coverage") or {}
    tok = f", {s['tokens_kept']:,} of {s['tokens_in']:,} tokens" if s.get("tokens_in") is not None else ""
    lines.append(f"  kept {s['records_kept']:,} of {s['records_in']:,} records{tok} by {s['method']} "
                 f"(quality from {s['quality_source']}); {s['clusters_covered']} of {s['clusters']} clusters; "
                 f"coverage: mean distance {cov.get('mean', float('nan')):.3f}, max {cov.get('max', float('nan')):.3f}")
    if s.get("skipped_too_close"):
        lines.append(f"  passed over {s['skipped_too_close']:,} records closer than {s['min_distance']} to one kept")
    return "\n".join(lines)
