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
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from datamill.post.select_budget import Budget, SelectionError, _Budget, _take_in_order  # noqa: F401
from datamill.post.select_explain import _why, format_explanation  # noqa: F401
from datamill.post.select_methods import (by_score, cluster_balanced, deita_select,  # noqa: F401
                                          k_center_greedy, random_select)
from datamill.post.select_scores import (COMPLEXITY_KEYS, QUALITY_KEYS, _minmax, _num,  # noqa: F401
                                         _rating, _signal, complexity_scores, quality_scores)
from datamill.post.schema import prompt_text, response_text

from datamill.embed.vectors import (VectorError, center, coverage, kmeans as _kmeans, nearest,  # noqa: F401
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
# the method registry
# ---------------------------------------------------------------------------------------------

@dataclass
class MethodInput:
    """What a selection method sees: unit-norm embeddings ``X``, quality ``q``, the combined
    score (quality × complexity for deita), cluster ``labels``, the budget, the token ``costs``
    and the records themselves (for methods that need their text, such as an LLM score)."""

    records: Sequence[dict]
    X: np.ndarray
    q: np.ndarray
    q_source: str
    combined: np.ndarray
    labels: np.ndarray
    budget: int | None
    budget_tokens: int | None
    costs: np.ndarray | None
    seed: int
    min_distance: float


#: name -> fn(MethodInput) -> (chosen indices, distance when chosen or [], passed-over count)
METHOD_REGISTRY: dict[str, Callable[[MethodInput], tuple[list[int], list[float], int]]] = {}
#: methods whose score is quality: they need a quality source
NEEDS_QUALITY = {"quality"}


def register_method(name: str, *, needs_quality: bool = False):
    """Add a selection method: ``@register_method("ifd") def ifd(inp: MethodInput): ...``."""
    def deco(fn):
        METHOD_REGISTRY[name] = fn
        if needs_quality:
            NEEDS_QUALITY.add(name)
        return fn
    return deco


@register_method("kcenter")
def _kcenter(m: MethodInput):
    chosen, radii = k_center_greedy(m.X, m.budget, seed=m.seed, budget_tokens=m.budget_tokens, costs=m.costs)
    return chosen, radii, 0


@register_method("random")
def _random(m: MethodInput):
    return random_select(len(m.X), m.budget, seed=m.seed, budget_tokens=m.budget_tokens, costs=m.costs), [], 0


@register_method("quality", needs_quality=True)
def _quality(m: MethodInput):
    return by_score(m.q, m.budget, budget_tokens=m.budget_tokens, costs=m.costs), [], 0


@register_method("cluster")
def _cluster(m: MethodInput):
    return cluster_balanced(m.labels, m.budget, scores=None if m.q_source == "none" else m.q, seed=m.seed,
                            budget_tokens=m.budget_tokens, costs=m.costs), [], 0


@register_method("deita")
def _deita(m: MethodInput):
    return deita_select(m.X, m.combined, m.budget, min_distance=m.min_distance,
                        budget_tokens=m.budget_tokens, costs=m.costs)


class _Methods(tuple):
    """The registered method names, live (a method registered later shows up)."""

    def __iter__(self):
        return iter(tuple(METHOD_REGISTRY))

    def __contains__(self, name):
        return name in METHOD_REGISTRY

    def __len__(self):
        return len(METHOD_REGISTRY)

    def __repr__(self):
        return repr(tuple(METHOD_REGISTRY))


METHODS = _Methods()


# ---------------------------------------------------------------------------------------------
# record text
# ---------------------------------------------------------------------------------------------

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
           embed_model: str | None = None, cache_path: str | None = None, center_embeddings: bool = True,
           ) -> Selection:
    """Keep up to ``budget`` records and/or ``budget_tokens`` tokens of ``records``.

    ``embeddings``: one row per record (else ``embed_fn(texts)``, else ``embed_model``, by
    default multilingual-e5-small, :func:`datamill.embed.multilingual_default`) of
    ``text_fn(record)`` (default the last user turn); ``cache_path``: an ``.npz`` embedding
    cache keyed by text content (:mod:`datamill.embed.cache`). ``center_embeddings``: subtract
    the mean vector before measuring distances (:func:`datamill.embed.vectors.center`), so
    embeddings that share one big direction (multilingual-e5 on Chinese) are not squashed. ``token_counts`` / ``count_tokens``: the cost of each record for a token
    budget (default: :func:`datamill.post.export.count_tokens` on the whole record).
    ``quality``: given scores; else ``quality_model`` or the ratings/signals
    (:func:`quality_scores`). ``n_clusters``: k-means clusters (for ``cluster`` and for the
    explanations; default √budget, at most 256). ``min_distance``: the Deita threshold.
    """
    if method == "ifd":  # instruction-following difficulty from stored signals: post/select_ifd.py
        from datamill.post.select_ifd import select_ifd

        return select_ifd(records, budget, budget_tokens=budget_tokens, token_counts=token_counts,
                          count_tokens=count_tokens)
    if method not in METHOD_REGISTRY:
        raise SelectionError(f"unknown selection method {method!r}; choose one of {', '.join(METHOD_REGISTRY)}")
    warnings_: list[str] = []
    t0 = time.perf_counter()
    n = len(records)
    timings: dict[str, float] = {}

    # embeddings ------------------------------------------------------------------------------
    t = time.perf_counter()
    cache_stats: dict[str, Any] = {}
    if embeddings is None:
        texts = [text_fn(r) for r in records]
        if embed_fn is None:
            from datamill.embed import get_embedder, multilingual_default

            embed_fn = get_embedder(embed_model or multilingual_default()).embed
        if n and cache_path:
            from datamill.embed.cache import cached_embed

            embeddings = cached_embed(texts, embed_fn, cache_path, cache_stats)
        else:
            embeddings = embed_fn(texts) if n else np.zeros((0, 1), np.float32)
    X = normalize(np.asarray(embeddings)) if n else np.zeros((0, 1), np.float32)
    if len(X) != n:
        raise SelectionError(f"{len(X)} embeddings for {n} records")
    if center_embeddings and n > 2:
        X = center(X)
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
    if q_source == "none" and method in NEEDS_QUALITY:
        raise SelectionError(
            f"--method {method} needs a quality score, and none of the {n:,} records has one (no ratings, "
            f"no signal among {', '.join(QUALITY_KEYS)}): give --quality-model, --quality-keys, or score "
            "the records first (datamill quality-model score); without one it would keep the first N in file order")
    if q_source == "none" and method == "deita":
        warnings_.append("no quality score found: deita ranks by complexity alone")
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
    chosen, radii, skipped = METHOD_REGISTRY[method](MethodInput(
        records=records, X=X, q=q, q_source=q_source, combined=combined, labels=labels, budget=budget,
        budget_tokens=budget_tokens, costs=costs, seed=seed, min_distance=min_distance))
    chosen = [int(i) for i in chosen]
    radii = list(radii or [])
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
    if cache_stats:
        summary["embedding_cache"] = cache_stats
    summary["centered"] = bool(center_embeddings and n > 2)
    if warnings_:
        summary["warnings"] = warnings_
    if method == "deita":
        summary["min_distance"] = min_distance
        summary["skipped_too_close"] = skipped
    if method == "kcenter" and len(radii) > 1:
        summary["final_radius"] = round(float(radii[-1]), 4)
    return Selection(indices=[int(i) for i in chosen], explanations=explanations, summary=summary)


