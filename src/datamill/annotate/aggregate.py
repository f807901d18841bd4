"""Turning several annotators' answers into one label per task, and ratings into one score.

* :func:`majority_vote` — the most frequent answer; ``confidence`` is its share of the votes.
  Optional per-annotator ``weights`` (e.g. gold accuracy). Ties go to the smallest label by
  default (``tie_break="smallest"``, deterministic), or to a seeded random one, or to ``None``;
  ``tie`` flags them. (crowd-kit's ``MajorityVote`` breaks ties by the column order pandas gives
  its label table — order of first appearance under pandas 3 — so the two agree on every untied
  task and their vote shares are identical.)
* :func:`dawid_skene` — Dawid & Skene (1979): EM over a confusion matrix per annotator, via
  crowd-kit's ``DawidSkene`` (``pip install crowd-kit``; imported only when called).
  ``confidence`` is the posterior probability of the chosen label; the result also holds each
  annotator's estimated accuracy (the prior-weighted diagonal of the confusion matrix).
* :func:`aggregate_ratings` — mean and median (and spread) per task and criterion for numeric
  ratings such as 1–5 Likert scores.

Answers are long format, as in :mod:`datamill.annotate.agreement`: ``(task, annotator, value)``
tuples, dicts or a DataFrame; missing answers are skipped.
"""

from __future__ import annotations

import math
import random
import warnings
from collections import defaultdict
from typing import Any, Hashable, Mapping

import numpy as np

from datamill.annotate.agreement import (
    _hashable, _records, _sort_key, _sorted_values, normalize_answers, normalize_project_answers,
    is_missing)
from datamill.core.errors import DatamillError


class AggregationError(DatamillError):
    """Answers that cannot be aggregated (no answers, non-numeric ratings, bad options)."""


class MissingDependencyError(DatamillError, ImportError):
    """An optional package a function needs is not installed; the message says what to install."""


def _require_crowdkit():
    try:
        import crowdkit.aggregation as aggregation
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "Dawid-Skene aggregation needs crowd-kit (and pandas): pip install crowd-kit "
            f"(import failed: {exc})") from exc
    return pd, aggregation


def to_crowdkit_frame(answers: Any):
    """Long-format answers as the ``task``/``worker``/``label`` DataFrame crowd-kit expects."""
    pd, _ = _require_crowdkit()
    triples = normalize_answers(answers)
    return pd.DataFrame(triples, columns=["task", "worker", "label"])


def majority_vote(answers: Any, weights: Mapping[Hashable, float] | None = None,
                  tie_break: str = "smallest", seed: int = 0) -> dict[Hashable, dict[str, Any]]:
    """One label per task by (weighted) majority.

    Returns ``{task: {"label", "confidence", "n_votes", "distribution": {label: share},
    "tie": bool}}``. ``weights``: per-annotator vote weights (missing annotators weigh 1).
    ``tie_break``: ``"smallest"`` (deterministic), ``"random"`` (seeded)
    or ``"none"`` (label ``None`` on a tie).
    """
    if tie_break not in ("smallest", "random", "none"):
        raise AggregationError(f"tie_break must be smallest, random or none, not {tie_break!r}")
    rng = random.Random(seed)
    scores: dict[Hashable, dict[Hashable, float]] = defaultdict(lambda: defaultdict(float))
    n_votes: dict[Hashable, int] = defaultdict(int)
    for task, annotator, value in normalize_answers(answers):
        scores[task][value] += 1.0 if weights is None else float(weights.get(annotator, 1.0))
        n_votes[task] += 1
    out = {}
    for task in scores:
        dist = scores[task]
        total = sum(dist.values())
        best = max(dist.values())
        winners = _sorted_values(v for v, s in dist.items() if math.isclose(s, best))
        tie = len(winners) > 1
        if not tie or tie_break == "smallest":
            label = winners[0]
        elif tie_break == "random":
            label = rng.choice(winners)
        else:
            label = None
        out[task] = {
            "label": label,
            "confidence": (best / total) if total > 0 else 0.0,
            "n_votes": n_votes[task],
            "distribution": {v: (s / total if total > 0 else 0.0)
                             for v, s in sorted(dist.items(), key=lambda kv: _sort_key(kv[0]))},
            "tie": tie,
        }
    return out


def dawid_skene(answers: Any, n_iter: int = 100, tol: float = 1e-5) -> dict[str, Any]:
    """Dawid-Skene aggregation through crowd-kit.

    Returns ``{"tasks": {task: {"label", "confidence", "distribution"}}, "annotators":
    {annotator: {"accuracy", "confusion": {true_label: {answer: p}}}}, "priors": {label: p}}``.
    Raises :class:`MissingDependencyError` when crowd-kit is not installed.
    """
    pd, aggregation = _require_crowdkit()
    frame = to_crowdkit_frame(answers)
    if frame.empty:
        raise AggregationError("dawid_skene: no answers")
    model = aggregation.DawidSkene(n_iter=n_iter, tol=tol)
    with warnings.catch_warnings():
        # crowd-kit 1.4.2 still passes copy=/inplace= that pandas 3.1 deprecates: noise only
        warnings.filterwarnings("ignore", message=r".*(copy|inplace) keyword.*deprecated")
        model.fit(frame)
    probas = model.probas_
    labels = list(probas.columns)
    tasks = {}
    for task, row in probas.iterrows():
        values = row.to_numpy(dtype=float)
        best = int(np.argmax(values))
        tasks[_hashable(task)] = {
            "label": _hashable(labels[best]),
            "confidence": float(values[best]),
            "distribution": {_hashable(l): float(p) for l, p in zip(labels, values)},
        }
    priors = {_hashable(l): float(p) for l, p in model.priors_.items()}
    annotators = {}
    errors = model.errors_  # index (worker, observed label), columns: true label
    for worker in errors.index.get_level_values(0).unique():
        block = errors.loc[worker]
        confusion = {_hashable(t): {_hashable(o): float(block.loc[o, t]) for o in block.index}
                     for t in block.columns}
        accuracy = sum(priors.get(_hashable(t), 0.0) * float(block.loc[t, t])
                       for t in block.columns if t in block.index)
        annotators[_hashable(worker)] = {"accuracy": float(accuracy), "confusion": confusion}
    return {"tasks": tasks, "annotators": annotators, "priors": priors,
            "n_iter": len(getattr(model, "loss_history_", []))}


def aggregate_ratings(rows: Any, method: str = "mean") -> dict[Hashable, dict[Hashable, dict]]:
    """Numeric ratings per task and criterion: ``{task: {criterion: {"value", "mean", "median",
    "std", "min", "max", "n"}}}`` where ``value`` is the ``method`` (``"mean"`` or ``"median"``).

    ``rows``: ``(task, annotator, criterion, value)`` (a fifth ``level`` field is ignored), dicts
    with those keys, or ``(task, annotator, value)`` for a single criterion (named ``default``).
    """
    if method not in ("mean", "median"):
        raise AggregationError(f"aggregate_ratings: method must be mean or median, not {method!r}")
    records = _records(rows)
    if records and not isinstance(records[0], Mapping) and len(tuple(records[0])) == 3:
        norm = [(t, a, "default", v) for t, a, v in normalize_answers(records)]
    else:
        norm = [(t, a, q, v) for t, a, q, v, _ in normalize_project_answers(records)]
    values: dict[Hashable, dict[Hashable, dict[Hashable, float]]] = defaultdict(
        lambda: defaultdict(dict))
    for task, annotator, criterion, value in norm:
        if is_missing(value):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise AggregationError(f"aggregate_ratings: task {task!r} criterion {criterion!r}: "
                                   f"rating {value!r} is not a number") from None
        values[task][criterion][annotator] = number
    out: dict[Hashable, dict[Hashable, dict]] = {}
    for task, per_criterion in values.items():
        out[task] = {}
        for criterion, per_annotator in per_criterion.items():
            x = np.array(list(per_annotator.values()))
            stats = {"mean": float(x.mean()), "median": float(np.median(x)),
                     "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
                     "min": float(x.min()), "max": float(x.max()), "n": int(len(x))}
            out[task][criterion] = {"value": stats[method], **stats}
    return out


AGGREGATE_METHODS = ("majority", "dawid-skene")


def aggregate_labels(answers: Any, method: str = "majority") -> dict[Hashable, dict[str, Any]]:
    """One label per task with ``method``: ``"majority"`` (:func:`majority_vote`, ties to
    ``None``) or ``"dawid-skene"`` (:func:`dawid_skene`: EM over per-annotator confusion
    matrices, crowd-kit). Returns ``{task: {"label", "confidence", "distribution", "method",
    "n_votes"}}`` where ``confidence`` is the vote share (majority) or the posterior probability
    of the label (Dawid-Skene)."""
    if method not in AGGREGATE_METHODS:
        raise AggregationError(f"aggregate: choose one of {', '.join(AGGREGATE_METHODS)}, not {method!r}")
    triples = normalize_answers(answers)
    if not triples:
        return {}
    votes: dict[Hashable, int] = defaultdict(int)
    for task, _, _ in triples:
        votes[task] += 1
    if method == "majority":
        res = majority_vote(triples, tie_break="none")
        return {t: {"label": r["label"], "confidence": round(r["confidence"], 6), "method": method,
                    "distribution": {k: round(v, 6) for k, v in r["distribution"].items()}, "n_votes": votes[t]}
                for t, r in res.items()}
    ds = dawid_skene(triples)["tasks"]
    return {t: {"label": r["label"], "confidence": round(r["confidence"], 6), "method": method,
                "distribution": {k: round(v, 6) for k, v in r["distribution"].items()}, "n_votes": votes[t]}
            for t, r in ds.items()}
