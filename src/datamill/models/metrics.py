"""Classification metrics printed by ``datamill classifier train`` and ``eval`` (scikit-learn)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def binary_metrics(y_true: Sequence[int], scores: Sequence[float], threshold: float = 0.5) -> dict[str, Any]:
    """Precision, recall, F1 and accuracy at ``threshold``, and ROC AUC of the scores."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    pred = (s >= threshold).astype(int)
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    auc = float(roc_auc_score(y, s)) if len(set(y.tolist())) == 2 else None
    return {"n": int(len(y)), "positives": int(y.sum()), "accuracy": float(accuracy_score(y, pred)),
            "precision": float(p), "recall": float(r), "f1": float(f), "auc": auc,
            "threshold": threshold}


def graded_metrics(y_true: Sequence[float], predicted: Sequence[float]) -> dict[str, Any]:
    """Spearman and Pearson correlation, MAE, and accuracy of the rounded grade; F1/AUC of
    "grade >= midpoint" (FineWeb-Edu keeps score >= 3 of 0-5)."""
    from scipy.stats import spearmanr

    y = np.asarray(y_true, dtype=float)
    p = np.asarray(predicted, dtype=float)
    out: dict[str, Any] = {"n": int(len(y)), "mae": float(np.abs(y - p).mean()),
                           "accuracy": float((np.rint(p) == np.rint(y)).mean())}
    out["spearman"] = float(spearmanr(y, p).statistic) if y.std() > 0 and p.std() > 0 else None
    out["pearson"] = float(np.corrcoef(y, p)[0, 1]) if y.std() > 0 and p.std() > 0 else None
    mid = (y.min() + y.max()) / 2
    binary = binary_metrics((y >= mid).astype(int), p, threshold=mid)
    out.update({"f1": binary["f1"], "auc": binary["auc"], "precision": binary["precision"],
                "recall": binary["recall"], "threshold": float(mid)})
    return out


def format_table(metrics: dict[str, Any], title: str = "") -> str:
    keys = [k for k in ("n", "positives", "accuracy", "precision", "recall", "f1", "auc", "spearman",
                        "pearson", "mae", "threshold") if k in metrics]
    lines = [title] if title else []
    for k in keys:
        v = metrics[k]
        lines.append(f"  {k:<10} {('-' if v is None else (f'{v:.4f}' if isinstance(v, float) else v))}")
    return "\n".join(lines)
