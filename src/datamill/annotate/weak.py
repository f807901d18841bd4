"""Weak supervision: labeling functions, their analysis, and a label model.

Write rules as Python functions, each returning a label or :data:`ABSTAIN`::

    from datamill.annotate.weak import ABSTAIN, labeling_function, apply_lfs, lf_analysis, LabelModel

    @labeling_function(name="refusal_phrase")
    def refusal_phrase(record):
        return "refusal" if "I can't help" in record["response"] else ABSTAIN

    votes = apply_lfs([refusal_phrase, ...], records)     # Votes: n records × m LFs
    print(format_lf_analysis(lf_analysis(votes, gold)))  # coverage, overlaps, conflicts, accuracy
    model = LabelModel().fit(votes)
    probs = model.predict_proba(votes)                    # probabilistic labels, n × k
    compare_with_majority(votes, gold, model)             # prints both accuracies

The **analysis** (:func:`lf_analysis`) gives, per LF: the labels it emits (polarity), coverage
(share of records it labels), overlaps (share of records it labels that another LF also labels),
conflicts (share of records it labels where another LF gives a different label) and, with gold
labels, the number right and wrong and the empirical accuracy on the records it labels. Overlaps
and conflicts are shares of the whole dataset, as Snorkel reports them.

The **label model** (:class:`LabelModel`) is a small generative model fitted by EM, in the
Dawid-Skene family: a class prior ``p(y)`` and, for each LF ``j``, a distribution over its output
given the true class, ``p(lambda_j = o | y)``, with the LFs independent given ``y``. By default
the output space includes *abstain* (``model_abstain=True``): an LF that only ever says "en" is
informative through how often it fires on each class, which a plain Dawid-Skene model (where an
abstain is a missing answer and such an LF's confusion row is constant) cannot see. Dirichlet
pseudo-counts keep the estimates off 0 and 1 and lean them toward the diagonal (LFs better than
chance), and EM starts from the majority vote. Records no LF labels get :data:`ABSTAIN` from
``predict`` unless ``abstain_uncovered=False``.

:func:`compare_with_majority` prints the majority vote's accuracy beside the label model's (and,
when crowd-kit is installed, crowd-kit's Dawid-Skene with LFs as workers and abstains missing).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from datamill.core.errors import DatamillError

ABSTAIN = -1
"""What a labeling function returns when it has no opinion (``None`` is read the same way)."""


class WeakSupervisionError(DatamillError):
    """A labeling function failed, or votes/gold have the wrong shape."""


# ----------------------------------------------------------------------------- labeling functions


@dataclass
class LabelingFunction:
    """A named rule: ``lf(record)`` returns a label or :data:`ABSTAIN`."""

    name: str
    fn: Callable[..., Any]
    resources: dict = field(default_factory=dict)

    def __call__(self, record: Any) -> Any:
        return self.fn(record, **self.resources)

    def __repr__(self) -> str:
        return f"LabelingFunction({self.name!r})"


def labeling_function(name: str | None = None, resources: Mapping | None = None):
    """Decorator turning ``fn(record, **resources) -> label | ABSTAIN`` into a
    :class:`LabelingFunction` (named ``name`` or the function's name)."""

    def wrap(fn: Callable) -> LabelingFunction:
        lf = LabelingFunction(name or fn.__name__, fn, dict(resources or {}))
        functools.update_wrapper(lf, fn, assigned=("__doc__", "__module__"), updated=())
        return lf

    if callable(name):  # used bare: @labeling_function
        fn, name = name, None
        return wrap(fn)
    return wrap


def _is_abstain(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == ABSTAIN:
        return True
    return isinstance(value, float) and math.isnan(value)


def _sort_key(value: Any) -> tuple:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


@dataclass
class Votes:
    """The votes of ``m`` LFs on ``n`` records: ``matrix[i, j]`` is the index in ``labels`` of
    LF ``j``'s label for record ``i``, or ``-1`` (:data:`ABSTAIN`). ``np.asarray(votes)`` gives
    the matrix."""

    matrix: np.ndarray
    names: list[str]
    labels: list

    def __array__(self, dtype=None, copy=None):
        return self.matrix if dtype is None else self.matrix.astype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def cardinality(self) -> int:
        return len(self.labels)

    def encode(self, values: Sequence) -> np.ndarray:
        """Labels (e.g. gold) as indices into ``labels``; missing or unknown become -1."""
        index = {v: i for i, v in enumerate(self.labels)}
        return np.array([index.get(v, ABSTAIN) if not _is_abstain(v) else ABSTAIN
                         for v in values], dtype=np.int64)

    def decode(self, codes: Iterable[int]) -> list:
        """Indices back to labels (``-1`` becomes ``None``)."""
        return [self.labels[c] if c >= 0 else None for c in codes]


def apply_lfs(lfs: Sequence[LabelingFunction | Callable], records: Iterable[Any],
              labels: Sequence | None = None, on_error: str = "raise") -> Votes:
    """Run every LF on every record.

    ``labels`` fixes the label set and its order (default: every label an LF returned, sorted);
    an LF returning a label outside a given ``labels`` is an error. ``on_error``: ``"raise"``
    (a :class:`WeakSupervisionError` naming the LF and the record) or ``"abstain"``.
    """
    if on_error not in ("raise", "abstain"):
        raise WeakSupervisionError(f"on_error must be raise or abstain, not {on_error!r}")
    names = [getattr(lf, "name", None) or getattr(lf, "__name__", f"lf{j}")
             for j, lf in enumerate(lfs)]
    if len(set(names)) != len(names):
        raise WeakSupervisionError(f"labeling function names must be unique: {names}")
    raw: list[list[Any]] = []
    for i, record in enumerate(records):
        row = []
        for lf, name in zip(lfs, names):
            try:
                value = lf(record)
            except Exception as exc:  # noqa: BLE001 - reported with the LF and the record
                if on_error == "abstain":
                    value = ABSTAIN
                else:
                    raise WeakSupervisionError(
                        f"labeling function {name!r} failed on record {i}: "
                        f"{type(exc).__name__}: {exc}") from exc
            row.append(None if _is_abstain(value) else value)
        raw.append(row)
    seen = {v for row in raw for v in row if v is not None}
    if labels is None:
        label_list = sorted(seen, key=_sort_key)
    else:
        label_list = list(labels)
        unknown = seen - set(label_list)
        if unknown:
            raise WeakSupervisionError(f"labeling functions returned labels {sorted(unknown, key=_sort_key)!r} "
                                       f"not in labels {label_list!r}")
    index = {v: k for k, v in enumerate(label_list)}
    matrix = np.full((len(raw), len(names)), ABSTAIN, dtype=np.int64)
    for i, row in enumerate(raw):
        for j, value in enumerate(row):
            if value is not None:
                matrix[i, j] = index[value]
    return Votes(matrix, names, label_list)


def _as_votes(votes: Votes | np.ndarray, names: Sequence[str] | None = None,
              labels: Sequence | None = None) -> Votes:
    if isinstance(votes, Votes):
        return votes
    matrix = np.asarray(votes, dtype=np.int64)
    if matrix.ndim != 2:
        raise WeakSupervisionError("votes must be an n × m matrix")
    k = int(matrix.max()) + 1 if matrix.size and matrix.max() >= 0 else 0
    return Votes(matrix, list(names) if names else [f"lf{j}" for j in range(matrix.shape[1])],
                 list(labels) if labels is not None else list(range(k)))


def _gold_codes(v: Votes, gold: Sequence | np.ndarray | None) -> np.ndarray | None:
    if gold is None:
        return None
    if len(gold) != v.matrix.shape[0]:
        raise WeakSupervisionError(f"{len(gold)} gold labels for {v.matrix.shape[0]} records")
    return v.encode(list(gold))


# ----------------------------------------------------------------------------- analysis


def lf_analysis(votes: Votes | np.ndarray, gold: Sequence | None = None,
                names: Sequence[str] | None = None) -> dict[str, Any]:
    """Coverage, overlaps, conflicts and (with ``gold``, one label per record, ``None`` where
    unknown) empirical accuracy of each LF, plus dataset totals.

    Returns ``{"lfs": {name: {"polarity", "coverage", "overlaps", "conflicts", "n_votes",
    ["n_correct", "n_incorrect", "empirical_accuracy"]}}, "summary": {"n_records", "n_lfs",
    "coverage", "overlaps", "conflicts", ["n_gold"]}}``.
    """
    v = _as_votes(votes, names)
    L = v.matrix
    n, m = L.shape
    voted = L != ABSTAIN
    n_voting = voted.sum(axis=1)
    # a record has a conflict when its non-abstain votes are not all equal
    big = np.where(voted, L, np.iinfo(np.int64).max)
    small = np.where(voted, L, np.iinfo(np.int64).min)
    conflicted = (n_voting >= 2) & (big.min(axis=1) != small.max(axis=1))
    y = _gold_codes(v, gold)
    lfs = {}
    for j, name in enumerate(v.names):
        col = voted[:, j]
        others_disagree = np.zeros(n, dtype=bool)
        if m > 1:
            other = np.delete(L, j, axis=1)
            others_disagree = ((other != ABSTAIN) & (other != L[:, [j]])).any(axis=1)
        stats: dict[str, Any] = {
            "polarity": [v.labels[c] for c in np.unique(L[col, j])] if col.any() else [],
            "n_votes": int(col.sum()),
            "coverage": float(col.mean()) if n else 0.0,
            "overlaps": float((col & (n_voting >= 2)).mean()) if n else 0.0,
            "conflicts": float((col & others_disagree).mean()) if n else 0.0,
        }
        if y is not None:
            known = col & (y != ABSTAIN)
            correct = int((L[known, j] == y[known]).sum())
            stats["n_correct"] = correct
            stats["n_incorrect"] = int(known.sum()) - correct
            stats["empirical_accuracy"] = (correct / int(known.sum())) if known.any() else None
        lfs[name] = stats
    summary: dict[str, Any] = {
        "n_records": int(n), "n_lfs": int(m),
        "coverage": float((n_voting >= 1).mean()) if n else 0.0,
        "overlaps": float((n_voting >= 2).mean()) if n else 0.0,
        "conflicts": float(conflicted.mean()) if n else 0.0,
    }
    if y is not None:
        summary["n_gold"] = int((y != ABSTAIN).sum())
    return {"lfs": lfs, "summary": summary}


def format_lf_analysis(analysis: Mapping[str, Any]) -> str:
    """The analysis as a fixed-width table (one LF a line, totals at the end)."""
    has_gold = any("empirical_accuracy" in s for s in analysis["lfs"].values())
    width = max([len(n) for n in analysis["lfs"]] + [4])
    head = f"{'LF':<{width}}  {'polarity':<14} {'coverage':>8} {'overlaps':>8} {'conflicts':>9}"
    if has_gold:
        head += f" {'correct':>7} {'wrong':>6} {'emp.acc':>7}"
    lines = [head, "-" * len(head)]
    for name, s in analysis["lfs"].items():
        pol = ",".join(str(p) for p in s["polarity"])[:14]
        line = (f"{name:<{width}}  {pol:<14} {s['coverage']:>8.3f} {s['overlaps']:>8.3f} "
                f"{s['conflicts']:>9.3f}")
        if has_gold:
            acc = s.get("empirical_accuracy")
            line += (f" {s.get('n_correct', 0):>7} {s.get('n_incorrect', 0):>6} "
                     f"{acc if acc is None else format(acc, '.3f'):>7}")
        lines.append(line)
    t = analysis["summary"]
    lines.append("-" * len(head))
    lines.append(f"{'all LFs':<{width}}  {'':<14} {t['coverage']:>8.3f} {t['overlaps']:>8.3f} "
                 f"{t['conflicts']:>9.3f}   ({t['n_records']} records, {t['n_lfs']} LFs)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- majority vote


def majority_vote_labels(votes: Votes | np.ndarray, tie_break: str = "random",
                         seed: int = 0) -> np.ndarray:
    """Majority of the non-abstain votes per record, as label indices; ``-1`` where no LF voted.
    ``tie_break``: ``"random"`` (seeded), ``"smallest"`` or ``"abstain"``."""
    v = _as_votes(votes)
    L = v.matrix
    k = max(v.cardinality, int(L.max()) + 1 if L.size else 0)
    counts = np.zeros((L.shape[0], max(k, 1)))
    for j in range(L.shape[1]):
        col = L[:, j]
        ok = col != ABSTAIN
        np.add.at(counts, (np.nonzero(ok)[0], col[ok]), 1)
    out = np.full(L.shape[0], ABSTAIN, dtype=np.int64)
    rng = np.random.default_rng(seed)
    best = counts.max(axis=1)
    for i in np.nonzero(best > 0)[0]:
        winners = np.nonzero(counts[i] == best[i])[0]
        if len(winners) == 1 or tie_break == "smallest":
            out[i] = winners[0]
        elif tie_break == "random":
            out[i] = rng.choice(winners)
    return out


# ----------------------------------------------------------------------------- label model


class LabelModel:
    """Generative label model fitted by EM (see the module notes).

    ``cardinality``: number of classes (default: the votes' label count). ``model_abstain``:
    include abstain in each LF's output distribution. ``smoothing``: Dirichlet pseudo-count on
    every entry; ``diagonal_prior``: extra pseudo-count on "LF says the true class" (per LF and
    class). ``class_balance``: fixed class prior (default: learned).
    """

    def __init__(self, cardinality: int | None = None, model_abstain: bool = True,
                 max_iter: int = 200, tol: float = 1e-6, smoothing: float = 1.0,
                 diagonal_prior: float = 5.0, class_balance: Sequence[float] | None = None):
        self.cardinality = cardinality
        self.model_abstain = model_abstain
        self.max_iter, self.tol = max_iter, tol
        self.smoothing, self.diagonal_prior = smoothing, diagonal_prior
        self.class_balance = None if class_balance is None else np.asarray(class_balance, float)
        self.prior_: np.ndarray | None = None
        self.theta_: np.ndarray | None = None  # m × k × (k + 1): p(output | y), last = abstain
        self.n_iter_ = 0
        self.log_likelihood_: list[float] = []
        self.labels: list | None = None
        self.names: list[str] | None = None

    # -- internals
    def _outputs(self, L: np.ndarray, k: int) -> np.ndarray:
        return np.where(L == ABSTAIN, k, L)  # abstain as output index k

    def _log_joint(self, L: np.ndarray) -> np.ndarray:
        k = self.prior_.shape[0]
        out = self._outputs(L, k)
        log_theta = np.log(self.theta_)
        joint = np.tile(np.log(self.prior_), (L.shape[0], 1))
        for j in range(L.shape[1]):
            contrib = log_theta[j][:, out[:, j]].T  # n × k
            if not self.model_abstain:
                contrib = np.where((L[:, j] == ABSTAIN)[:, None], 0.0, contrib)
            joint += contrib
        return joint

    def _m_step(self, L: np.ndarray, q: np.ndarray) -> None:
        n, m = L.shape
        k = q.shape[1]
        out = self._outputs(L, k)
        theta = np.empty((m, k, k + 1))
        for j in range(m):
            onehot = np.zeros((n, k + 1))
            onehot[np.arange(n), out[:, j]] = 1.0
            counts = q.T @ onehot + self.smoothing
            counts[:, :k] += self.diagonal_prior * np.eye(k)
            if not self.model_abstain:
                counts[:, k] = 0.0
            theta[j] = counts / counts.sum(axis=1, keepdims=True)
        if not self.model_abstain:
            theta[:, :, k] = 1.0  # unused; keeps log finite
        self.theta_ = theta
        if self.class_balance is not None:
            self.prior_ = self.class_balance / self.class_balance.sum()
        else:
            self.prior_ = (q.sum(axis=0) + 1.0) / (n + k)

    # -- API
    def fit(self, votes: Votes | np.ndarray) -> "LabelModel":
        v = _as_votes(votes)
        L = v.matrix
        k = self.cardinality or v.cardinality
        if k < 2:
            raise WeakSupervisionError("the label model needs at least two classes")
        if L.size and L.max() >= k:
            raise WeakSupervisionError(f"a vote {int(L.max())} is outside {k} classes")
        self.labels, self.names = list(v.labels)[:k] or list(range(k)), list(v.names)
        # start from the (soft) majority vote; uncovered records uniform
        q = np.full((L.shape[0], k), 1e-3)
        for j in range(L.shape[1]):
            ok = L[:, j] != ABSTAIN
            np.add.at(q, (np.nonzero(ok)[0], L[ok, j]), 1.0)
        q /= q.sum(axis=1, keepdims=True)
        self.log_likelihood_ = []
        previous = -np.inf
        for it in range(1, self.max_iter + 1):
            self._m_step(L, q)
            joint = self._log_joint(L)
            top = joint.max(axis=1, keepdims=True)
            ll = float((top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))).sum())
            q = np.exp(joint - top)
            q /= q.sum(axis=1, keepdims=True)
            self.log_likelihood_.append(ll)
            self.n_iter_ = it
            if abs(ll - previous) < self.tol * max(1.0, abs(ll)):
                break
            previous = ll
        self._m_step(L, q)
        return self

    def predict_proba(self, votes: Votes | np.ndarray) -> np.ndarray:
        """``p(y | votes)`` for every record: an n × k matrix (rows sum to 1)."""
        if self.theta_ is None:
            raise WeakSupervisionError("fit the label model first")
        joint = self._log_joint(_as_votes(votes).matrix)
        joint -= joint.max(axis=1, keepdims=True)
        p = np.exp(joint)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, votes: Votes | np.ndarray, abstain_uncovered: bool = True) -> np.ndarray:
        """Most probable class index per record (``-1`` where no LF voted, by default)."""
        v = _as_votes(votes)
        pred = self.predict_proba(v).argmax(axis=1).astype(np.int64)
        if abstain_uncovered:
            pred[(v.matrix == ABSTAIN).all(axis=1)] = ABSTAIN
        return pred

    def lf_accuracies(self) -> dict[str, float]:
        """Each LF's estimated accuracy when it votes: ``sum_y p(y) p(lf=y|y) / p(lf votes)``."""
        k = self.prior_.shape[0]
        out = {}
        for j, name in enumerate(self.names or range(self.theta_.shape[0])):
            right = float((self.prior_ * self.theta_[j, np.arange(k), np.arange(k)]).sum())
            fires = float((self.prior_ * self.theta_[j, :, :k].sum(axis=1)).sum())
            out[name] = right / fires if fires > 0 else float("nan")
        return out


# ----------------------------------------------------------------------------- comparison


def _score(pred: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    known = y != ABSTAIN
    covered = known & (pred != ABSTAIN)
    return {
        "accuracy": float((pred[known] == y[known]).mean()) if known.any() else None,
        "coverage": float(covered.sum() / known.sum()) if known.any() else None,
        "accuracy_on_covered": (float((pred[covered] == y[covered]).mean())
                                if covered.any() else None),
        "n": int(known.sum()),
    }


def compare_with_majority(votes: Votes | np.ndarray, gold: Sequence,
                          label_model: LabelModel | None = None, tie_break: str = "random",
                          seed: int = 0, crowdkit: bool = True,
                          printer: Callable[[str], Any] | None = print) -> dict[str, Any]:
    """Accuracy on gold of the majority vote and of the label model (fitted here when not given),
    and crowd-kit's Dawid-Skene with LFs as workers when crowd-kit is installed.

    ``accuracy`` counts records no LF labels as wrong; ``accuracy_on_covered`` leaves them out.
    Prints a small table through ``printer`` (``None`` for silence) and returns the figures.
    """
    v = _as_votes(votes)
    y = _gold_codes(v, gold)
    results: dict[str, Any] = {}
    results["majority_vote"] = _score(majority_vote_labels(v, tie_break, seed), y)
    model = label_model if label_model is not None else LabelModel().fit(v)
    results["label_model"] = _score(model.predict(v), y)
    if crowdkit:
        try:
            from datamill.annotate.aggregate import MissingDependencyError, dawid_skene
            rows = [(i, v.names[j], int(c)) for i, j in zip(*np.nonzero(v.matrix != ABSTAIN))
                    for c in [v.matrix[i, j]]]
            ds = dawid_skene(rows)["tasks"] if rows else {}
            pred = np.array([ds[i]["label"] if i in ds else ABSTAIN
                             for i in range(v.matrix.shape[0])], dtype=np.int64)
            results["crowdkit_dawid_skene"] = _score(pred, y)
        except MissingDependencyError:
            pass
    if printer is not None:
        printer(f"{'method':<24} {'accuracy':>8} {'coverage':>8} {'acc@covered':>11}")
        for method, s in results.items():
            fmt = lambda x: "n/a" if x is None else f"{x:.4f}"  # noqa: E731
            printer(f"{method:<24} {fmt(s['accuracy']):>8} {fmt(s['coverage']):>8} "
                    f"{fmt(s['accuracy_on_covered']):>11}")
    return results
