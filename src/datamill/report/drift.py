"""Drift between two datasets (a version and the one it is compared with).

Per numeric signal: Kolmogorov–Smirnov statistic and p-value, PSI and the Wasserstein distance
(normed by the reference's standard deviation). Per categorical field: Jensen–Shannon distance
and chi-squared. Embeddings: a classifier two-sample test (ROC AUC of a logistic regression
telling the two apart, 5-fold) and MMD² with a permutation p-value.

Which test decides, and its threshold, follow Evidently's defaults (the anchor):
numeric columns with more than 1,000 reference values: Wasserstein (normed) > 0.1, else
KS p < 0.05; categorical: Jensen–Shannon distance > 0.1 above 1,000 values, else chi-squared
p < 0.05; embeddings: classifier ROC AUC > 0.55 — and, unlike Evidently, the MMD² permutation
test must agree (p < 0.05): with a few hundred 384-d vectors per side the cross-validated AUC of
two random halves reaches 0.55–0.58 (benchmarks/eval_drift.py); the dataset has drifted when at
least half of its columns have. PSI is shown beside them (0.1: moderate shift, 0.25: large).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

LARGE = 1000
WASSERSTEIN_NORMED = 0.1
KS_P = 0.05
JS_DISTANCE = 0.1
CHI2_P = 0.05
PSI_MODERATE = 0.1
EMBEDDING_AUC = 0.55
MMD_P = 0.05
DATASET_SHARE = 0.5

THRESHOLDS = {
    "numeric, > 1,000 values": f"Wasserstein distance (normed) > {WASSERSTEIN_NORMED}",
    "numeric, <= 1,000 values": f"KS p-value < {KS_P}",
    "categorical, > 1,000 values": f"Jensen-Shannon distance > {JS_DISTANCE}",
    "categorical, <= 1,000 values": f"chi-squared p-value < {CHI2_P}",
    "embeddings": f"classifier ROC AUC > {EMBEDDING_AUC} and MMD² permutation p < {MMD_P}",
    "dataset": f"drifted when >= {DATASET_SHARE:.0%} of columns drifted",
    "PSI (shown, not deciding)": f">= {PSI_MODERATE} moderate, >= 0.25 large",
}


def psi(ref: np.ndarray, cur: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index over the reference's quantile bins."""
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        edges = np.array([ref.min() - 0.5, ref.max() + 0.5])
    edges[0], edges[-1] = -np.inf, np.inf
    p = np.histogram(ref, edges)[0] / max(ref.size, 1)
    q = np.histogram(cur, edges)[0] / max(cur.size, 1)
    p, q = np.clip(p, eps, None), np.clip(q, eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_drift(ref: np.ndarray, cur: np.ndarray) -> dict[str, Any] | None:
    from scipy import stats

    ref = ref[np.isfinite(ref)]
    cur = cur[np.isfinite(cur)]
    if ref.size < 2 or cur.size < 2:
        return None
    ks = stats.ks_2samp(ref, cur)
    w = float(stats.wasserstein_distance(ref, cur))
    std = float(np.std(ref))
    w_normed = w / std if std > 0 else (0.0 if w == 0 else float("inf"))
    if ref.size > LARGE:
        method, value, flagged = "wasserstein_normed", w_normed, w_normed > WASSERSTEIN_NORMED
    else:
        method, value, flagged = "ks_p", float(ks.pvalue), ks.pvalue < KS_P
    return {"n_ref": int(ref.size), "n_cur": int(cur.size), "mean_ref": float(ref.mean()), "mean_cur": float(cur.mean()),
            "ks": float(ks.statistic), "ks_p": float(ks.pvalue), "psi": psi(ref, cur), "wasserstein": w,
            "wasserstein_normed": w_normed, "method": method, "value": value, "drift": bool(flagged)}


def categorical_drift(ref: Counter, cur: Counter) -> dict[str, Any] | None:
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    keys = sorted(set(ref) | set(cur))
    if not keys or not sum(ref.values()) or not sum(cur.values()):
        return None
    a = np.array([ref.get(k, 0) for k in keys], float)
    b = np.array([cur.get(k, 0) for k in keys], float)
    js = float(jensenshannon(a / a.sum(), b / b.sum(), base=2))
    if len(keys) > 1:
        table = np.vstack([a, b])
        table = table[:, table.sum(axis=0) > 0]
        chi2, p, _, _ = stats.chi2_contingency(table)
    else:
        chi2, p = 0.0, 1.0
    n = int(a.sum())
    if n > LARGE:
        method, value, flagged = "jensen_shannon", js, js > JS_DISTANCE
    else:
        method, value, flagged = "chi2_p", float(p), p < CHI2_P
    top = sorted(keys, key=lambda k: -(ref.get(k, 0) + cur.get(k, 0)))[:5]
    return {"n_ref": n, "n_cur": int(b.sum()), "js": js, "chi2": float(chi2), "chi2_p": float(p),
            "method": method, "value": value, "drift": bool(flagged),
            "top": [(k, ref.get(k, 0) / a.sum(), cur.get(k, 0) / b.sum()) for k in top]}


def _mmd2_from_kernel(k: np.ndarray, idx_x: np.ndarray, idx_y: np.ndarray) -> float:
    kxx = k[np.ix_(idx_x, idx_x)]
    kyy = k[np.ix_(idx_y, idx_y)]
    n, m = len(idx_x), len(idx_y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * k[np.ix_(idx_x, idx_y)].mean())


def embedding_drift(ref: np.ndarray, cur: np.ndarray, *, permutations: int = 200, seed: int = 0) -> dict[str, Any]:
    """Classifier two-sample test (Evidently's default "model" method) and MMD² (RBF kernel,
    median-heuristic bandwidth) with a permutation p-value (the kernel matrix is computed once)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(seed)
    x = np.vstack([ref, cur]).astype(np.float64)
    y = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    folds = min(5, int(min(len(ref), len(cur))))
    auc = float(np.mean(cross_val_score(LogisticRegression(max_iter=1000, C=1.0), x, y, scoring="roc_auc",
                                        cv=StratifiedKFold(folds, shuffle=True, random_state=seed))))
    sq = (x * x).sum(1)
    d = np.clip(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0, None)
    med = float(np.median(d[d > 0])) if (d > 0).any() else 1.0
    k = np.exp(-d / med)
    n = len(ref)
    everyone = np.arange(len(x))
    observed = _mmd2_from_kernel(k, everyone[:n], everyone[n:])
    count = 0
    for _ in range(permutations):
        perm = rng.permutation(len(x))
        if _mmd2_from_kernel(k, perm[:n], perm[n:]) >= observed:
            count += 1
    return {"n_ref": int(len(ref)), "n_cur": int(len(cur)), "classifier_auc": auc, "mmd2": observed,
            "mmd2_p": (count + 1) / (permutations + 1), "method": "classifier_auc+mmd", "value": auc,
            "drift": bool(auc > EMBEDDING_AUC and (count + 1) / (permutations + 1) < MMD_P)}


def compare_profiles(ref, cur) -> dict[str, Any]:
    """Drift of every numeric and categorical column the two profiles share."""
    numeric = {}
    for name in sorted(set(ref.numeric) & set(cur.numeric)):
        r = numeric_drift(ref.numeric[name], cur.numeric[name])
        if r:
            numeric[name] = r
    categorical = {}
    for name in sorted(set(ref.categorical) & set(cur.categorical)):
        r = categorical_drift(ref.categorical[name], cur.categorical[name])
        if r:
            categorical[name] = r
    columns = list(numeric.values()) + list(categorical.values())
    drifted = sum(c["drift"] for c in columns)
    return {"numeric": numeric, "categorical": categorical, "drifted_columns": drifted, "columns": len(columns),
            "dataset_drift": bool(columns) and drifted / len(columns) >= DATASET_SHARE,
            "thresholds": THRESHOLDS}
