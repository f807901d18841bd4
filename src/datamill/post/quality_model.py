"""A small quality / reward model the user trains on CPU from rated or preference data.

Features are sentence embeddings (all-MiniLM-L6-v2 by default, see :mod:`datamill.embed`) of
the prompt and of the response, joined as ``[p, r, p * r]`` (the product lets a linear head see
whether the answer is *about* the prompt). On top sits a head trained in numpy:

* ``linear``: one weight per feature (logistic regression when the targets are probabilities);
* ``mlp``: one hidden layer (``hidden`` units, tanh), still a few seconds on CPU.

The objective follows from the data (``objective="auto"``):

* ``pairwise`` (Bradley–Terry): preference records (``chosen`` ≻ ``rejected``) and ranking
  records (every better/worse pair); loss ``-log σ(f(chosen) - f(rejected))``;
* ``ratings``: records with numeric ``ratings`` (mean over criteria, min-max scaled to [0, 1]),
  fitted as soft labels with the logistic loss;
* ``binary``: KTO records (``label`` true / false).

``predict(records)`` gives σ(f(x)) in [0, 1]: the quality signal the selection uses.
``save(path)`` writes one ``.npz`` (weights plus a JSON header with the embedding model, the
objective and the validation report); :func:`load_quality_model` reads it back.

Fine-tuning a transformer reward model (on a GPU) is not here: this is the CPU head.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from datamill.core.errors import DatamillError
from datamill.post.schema import prompt_text, response_text

HEADS = ("linear", "mlp")
OBJECTIVES = ("auto", "pairwise", "ratings", "binary")
FORMAT_VERSION = 1


class QualityModelError(DatamillError):
    """The quality model cannot be trained, loaded or used."""


def _last_assistant(msgs: Sequence[dict] | None) -> str:
    for m in reversed(msgs or []):
        if m.get("role") == "assistant":
            return m.get("content") or ""
    return ""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


@dataclass
class TrainingData:
    """Pairs of texts to embed and what to fit: ``prompts``/``responses`` index the features;
    ``pairs`` (better, worse) for Bradley–Terry, or ``targets`` in [0, 1] per item."""

    prompts: list[str]
    responses: list[str]
    objective: str
    pairs: np.ndarray | None = None
    targets: np.ndarray | None = None
    groups: np.ndarray | None = None  # the source record of each item/pair (validation split)


def training_data(records: Sequence[dict], objective: str = "auto") -> TrainingData:
    """Turn post-training records into items and targets for ``objective`` (see module doc)."""
    if objective not in OBJECTIVES:
        raise QualityModelError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    kinds = {r.get("kind") for r in records}
    if objective == "auto":
        if kinds & {"preference", "ranking"}:
            objective = "pairwise"
        elif any(isinstance(r.get("ratings"), dict) and r["ratings"] for r in records):
            objective = "ratings"
        elif "kto" in kinds:
            objective = "binary"
        else:
            raise QualityModelError("nothing to learn from: give preference pairs, ranked responses, "
                                    "records with numeric ratings, or KTO records with a label")
    prompts: list[str] = []
    responses: list[str] = []
    groups: list[int] = []
    if objective == "pairwise":
        pairs = []
        for g, r in enumerate(records):
            p = prompt_text(r)
            if r.get("kind") == "preference":
                c, j = _last_assistant(r.get("chosen")), _last_assistant(r.get("rejected"))
                if c == j:
                    continue
                base = len(prompts)
                prompts += [p, p]
                responses += [c, j]
                pairs.append((base, base + 1))
                groups.append(g)
            elif r.get("kind") == "ranking":
                resp = [x for x in r.get("responses") or [] if x.get("rank") is not None or x.get("score") is not None]
                if len(resp) < 2:
                    continue
                key = [(x["rank"] if x.get("rank") is not None else -float(x["score"])) for x in resp]
                base = len(prompts)
                for x in resp:
                    prompts.append(p)
                    responses.append(_last_assistant(x.get("messages")))
                for a in range(len(resp)):
                    for b in range(len(resp)):
                        if key[a] < key[b]:
                            pairs.append((base + a, base + b))
                            groups.append(g)
        if not pairs:
            raise QualityModelError("pairwise training needs preference records (chosen/rejected) "
                                    "or ranking records with ranks or scores")
        return TrainingData(prompts, responses, objective, pairs=np.asarray(pairs, np.int64),
                            groups=np.asarray(groups, np.int64))
    targets = []
    for g, r in enumerate(records):
        if objective == "ratings":
            ratings = r.get("ratings")
            vals = [float(v) for v in (ratings or {}).values()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)] \
                if isinstance(ratings, dict) else []
            if not vals:
                continue
            t = sum(vals) / len(vals)
        else:
            if "label" not in r:
                continue
            t = 1.0 if r["label"] else 0.0
        resp = _last_assistant(r.get("completion")) if r.get("kind") == "kto" else response_text(r)
        prompts.append(prompt_text(r))
        responses.append(resp)
        targets.append(t)
        groups.append(g)
    if len(targets) < 2:
        raise QualityModelError(f"{objective} training needs at least two records with "
                                f"{'numeric ratings' if objective == 'ratings' else 'a label'}")
    y = np.asarray(targets, np.float64)
    if objective == "ratings":
        lo, hi = y.min(), y.max()
        y = np.full_like(y, 0.5) if hi == lo else (y - lo) / (hi - lo)
    return TrainingData(prompts, responses, objective, targets=y, groups=np.asarray(groups, np.int64))


def features(prompt_vecs: np.ndarray, response_vecs: np.ndarray) -> np.ndarray:
    """``[p, r, p * r]`` as float32."""
    return np.concatenate([prompt_vecs, response_vecs, prompt_vecs * response_vecs], axis=1).astype(np.float32)


@dataclass
class QualityModel:
    """Embedding features + a linear or one-hidden-layer head. ``predict`` → [0, 1]."""

    head: str
    objective: str
    weights: dict[str, np.ndarray]
    embed_model: str | None = None          # a model folder / hub id; None = the packaged default
    report: dict[str, Any] = field(default_factory=dict)
    embed_fn: Callable[[list[str]], np.ndarray] | None = field(default=None, repr=False)

    # --- scoring ---------------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.embed_fn is not None:
            return np.asarray(self.embed_fn(texts), np.float32)
        from datamill.embed import embed
        return embed(texts, model_path=self.embed_model)

    def featurize(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        vecs = self._embed(list(prompts) + list(responses))
        n = len(prompts)
        return features(vecs[:n], vecs[n:])

    def logits(self, X: np.ndarray) -> np.ndarray:
        return _forward(self.head, self.weights, X.astype(np.float64))[0]

    def score_texts(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        if not prompts:
            return np.zeros(0)
        return _sigmoid(self.logits(self.featurize(prompts, responses)))

    def predict(self, records: Sequence[dict]) -> np.ndarray:
        """Quality in [0, 1] of each record's answer (SFT: last assistant turn; preference:
        the chosen; KTO: the completion) given its prompt."""
        prompts = [prompt_text(r) for r in records]
        responses = [_last_assistant(r.get("completion")) if r.get("kind") == "kto" else response_text(r)
                     for r in records]
        return self.score_texts(prompts, responses)

    # --- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> str:
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        header = {"format": "datamill-quality-model", "version": FORMAT_VERSION, "head": self.head,
                  "objective": self.objective, "embed_model": self.embed_model, "report": self.report}
        arrays = {f"w_{k}": v for k, v in self.weights.items()}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez(tmp, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
        os.replace(tmp, path)
        return path


def load_quality_model(path: str | os.PathLike,
                       embed_fn: Callable[[list[str]], np.ndarray] | None = None) -> QualityModel:
    """Read a model written by :meth:`QualityModel.save`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise QualityModelError(f"quality model {path!r}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            weights = {k[2:]: data[k] for k in data.files if k.startswith("w_")}
    except (OSError, ValueError, KeyError) as exc:
        raise QualityModelError(f"quality model {path!r} cannot be read: {exc}") from exc
    if header.get("format") != "datamill-quality-model":
        raise QualityModelError(f"{path!r} is not a datamill quality model")
    return QualityModel(head=header["head"], objective=header["objective"], weights=weights,
                        embed_model=header.get("embed_model"), report=header.get("report") or {},
                        embed_fn=embed_fn)


# ---------------------------------------------------------------------------------------------
# training (numpy, full batch, Adam)
# ---------------------------------------------------------------------------------------------

def _init(head: str, d: int, hidden: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if head == "linear":
        return {"w": np.zeros(d), "b": np.zeros(1)}
    return {"W1": rng.normal(0, 1 / math.sqrt(d), (d, hidden)), "b1": np.zeros(hidden),
            "w2": rng.normal(0, 1 / math.sqrt(hidden), hidden), "b2": np.zeros(1)}


def _forward(head: str, p: dict[str, np.ndarray], X: np.ndarray):
    if head == "linear":
        return X @ p["w"] + p["b"][0], None
    h = np.tanh(X @ p["W1"] + p["b1"])
    return h @ p["w2"] + p["b2"][0], h


def _backward(head: str, p: dict[str, np.ndarray], X: np.ndarray, h, g: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of sum(g * f(X)) with respect to the parameters."""
    if head == "linear":
        return {"w": X.T @ g, "b": np.array([g.sum()])}
    gh = np.outer(g, p["w2"]) * (1 - h * h)
    return {"W1": X.T @ gh, "b1": gh.sum(0), "w2": h.T @ g, "b2": np.array([g.sum()])}


def _loss_grad(objective: str, f: np.ndarray, pairs: np.ndarray | None, y: np.ndarray | None):
    """Mean loss and d(loss)/d(f) per item."""
    g = np.zeros_like(f)
    if objective == "pairwise":
        diff = f[pairs[:, 0]] - f[pairs[:, 1]]
        loss = -_log_sigmoid(diff).mean()
        dd = -(1 - _sigmoid(diff)) / len(pairs)
        np.add.at(g, pairs[:, 0], dd)
        np.add.at(g, pairs[:, 1], -dd)
        return loss, g
    s = _sigmoid(f)
    eps = 1e-12
    loss = -(y * np.log(s + eps) + (1 - y) * np.log(1 - s + eps)).mean()
    return loss, (s - y) / len(f)


def _metrics(objective: str, f: np.ndarray, pairs: np.ndarray | None, y: np.ndarray | None) -> dict[str, float]:
    if objective == "pairwise":
        diff = f[pairs[:, 0]] - f[pairs[:, 1]]
        return {"pair_accuracy": float((diff > 0).mean()), "loss": float(-_log_sigmoid(diff).mean())}
    s = _sigmoid(f)
    out = {"loss": float(_loss_grad(objective, f, None, y)[0])}
    if objective == "binary":
        out["accuracy"] = float(((s > 0.5) == (y > 0.5)).mean())
    else:
        out["mae"] = float(np.abs(s - y).mean())
        if len(y) > 2 and y.std() > 0 and s.std() > 0:
            out["pearson"] = float(np.corrcoef(s, y)[0, 1])
    return out


def _subset(data: TrainingData, keep_groups: np.ndarray):
    """Items/pairs/targets of the records in ``keep_groups`` (pairs keep item indices)."""
    if data.objective == "pairwise":
        mask = np.isin(data.groups, keep_groups)
        return data.pairs[mask], None, None
    mask = np.isin(data.groups, keep_groups)
    return None, data.targets[mask], np.flatnonzero(mask)


def train_quality_model(records: Sequence[dict], *, head: str = "linear", objective: str = "auto",
                        hidden: int = 64, epochs: int = 300, lr: float = 0.01, l2: float = 1e-3,
                        valid_fraction: float = 0.2, seed: int = 0,
                        embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                        embed_model: str | None = None) -> QualityModel:
    """Train a quality model on ``records`` (see the module doc for objectives and heads).

    ``valid_fraction`` of the source records (not of the pairs: both sides of a pair stay on one
    side) is held out; the report holds the training and validation metrics (pair accuracy for
    Bradley–Terry, MAE/Pearson for ratings, accuracy for binary). The final model is then
    refitted on everything.
    """
    if head not in HEADS:
        raise QualityModelError(f"head must be one of {', '.join(HEADS)}, not {head!r}")
    data = training_data(records, objective)
    model = QualityModel(head=head, objective=data.objective, weights={}, embed_model=embed_model,
                         embed_fn=embed_fn)
    X = model.featurize(data.prompts, data.responses).astype(np.float64)
    rng = np.random.default_rng(seed)
    groups = np.unique(data.groups)
    n_valid = int(round(len(groups) * valid_fraction)) if len(groups) >= 5 else 0
    report: dict[str, Any] = {"objective": data.objective, "head": head, "records": len(records),
                              "items": len(data.prompts), "features": int(X.shape[1]), "epochs": epochs,
                              "lr": lr, "l2": l2, "seed": seed}
    if data.objective == "pairwise":
        report["pairs"] = int(len(data.pairs))
    if n_valid:
        perm = rng.permutation(groups)
        valid_g, train_g = perm[:n_valid], perm[n_valid:]
        tr = _subset(data, train_g)
        va = _subset(data, valid_g)
        params = _fit(head, X, data.objective, tr, hidden, epochs, lr, l2, seed)
        f = _forward(head, params, X)[0]
        report["train"] = _eval(data.objective, f, tr)
        report["valid"] = _eval(data.objective, f, va)
        report["valid_records"] = int(n_valid)
    full = _subset(data, groups)
    model.weights = _fit(head, X, data.objective, full, hidden, epochs, lr, l2, seed)
    report["fit_all"] = _eval(data.objective, _forward(head, model.weights, X)[0], full)
    model.report = report
    return model


def _eval(objective, f, subset):
    pairs, y, idx = subset
    if objective == "pairwise":
        return _metrics(objective, f, pairs, None)
    return _metrics(objective, f[idx], None, y)


def _fit(head, X, objective, subset, hidden, epochs, lr, l2, seed) -> dict[str, np.ndarray]:
    pairs, y, idx = subset
    Xs = X if objective == "pairwise" else X[idx]
    params = _init(head, X.shape[1], hidden, np.random.default_rng(seed))
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(val) for k, val in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, epochs + 1):
        f, h = _forward(head, params, Xs)
        _, g = _loss_grad(objective, f, pairs, y)
        grads = _backward(head, params, Xs, h, g)
        for k in params:
            gk = grads[k] + (l2 * params[k] if not k.startswith("b") else 0.0)
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk * gk
            params[k] -= lr * (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + eps)
    return {k: val.astype(np.float32) for k, val in params.items()}
