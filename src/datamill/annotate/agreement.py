"""Inter-annotator agreement: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha, per-annotator
agreement and accuracy on gold tasks.

Answers are *long format*: one row per (task, annotator) answer. A row is a tuple
``(task, annotator, value)`` for one question, or ``(task, annotator, question, value[, level])``
for a project (:func:`project_agreement`), or a dict with the keys ``task``/``task_id``,
``annotator``/``worker``, ``question``, ``value``/``label`` and ``level``. A pandas DataFrame with
those columns works too. A value of ``None`` or NaN is a missing answer and is skipped.

Levels of measurement decide the distance between two answers (Krippendorff 2011):

``nominal``   0 if equal, else 1 (categories without order)
``ordinal``   ranks: the distance between two categories grows with the number of answers that
              lie between them (uses the observed frequencies of every category)
``interval``  squared difference of the numbers
``ratio``     squared difference relative to the sum, ``((c-k)/(c+k))**2``

The figures:

* :func:`cohen_kappa` — two annotators over the tasks both answered; ``weights="linear"`` or
  ``"quadratic"`` for ordered answers (weights on the *rank* of each category among ``labels``,
  as scikit-learn and R's ``irr`` do). Undefined (NaN) when chance agreement is 1.
* :func:`fleiss_kappa` — any number of raters. With the same number of raters on every task it is
  Fleiss (1971). With unequal numbers it uses the usual generalisation: tasks with fewer than two
  ratings are left out, per-task agreement is ``sum_j n_ij (n_ij - 1) / (n_i (n_i - 1))`` and the
  chance agreement uses the pooled category proportions; the result says which was used.
* :func:`krippendorff_alpha` — any number of annotators, missing answers, all four levels.
  ``alpha = 1 - (n - 1) * sum(o_ck * d_ck) / sum(n_c * n_k * d_ck)`` from the coincidence matrix
  ``o``. Undefined (NaN) when fewer than two pairable answers or only one value was used.
* :func:`per_annotator_agreement` — each annotator against the others: mean pairwise Cohen's
  kappa, agreement with (and kappa against) the leave-one-out majority of the other annotators,
  and alpha of the question without that annotator.
* :func:`gold_accuracy` — each annotator's accuracy on gold tasks.
* :func:`project_agreement` — all of the above per question, ready for a dashboard (NaN becomes
  ``None`` so the result serialises to JSON).

The figures match crowd-kit's (``crowdkit.metrics.data.alpha_krippendorff`` with the matching
distance, which runs NLTK's ``AnnotationTask``), scikit-learn's ``cohen_kappa_score`` and the
published examples (Fleiss 1971: 0.430; Krippendorff 2011: nominal 0.743, ordinal 0.815,
interval 0.849, ratio 0.797); see ``tests/annotate/test_agreement.py`` and
``benchmarks/eval_agreement.py``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from datamill.core.errors import DatamillError

LEVELS = ("nominal", "ordinal", "interval", "ratio")

_TASK_KEYS = ("task", "task_id", "item", "unit")
_ANNOTATOR_KEYS = ("annotator", "worker", "coder", "rater", "user")
_QUESTION_KEYS = ("question", "criterion", "field")
_VALUE_KEYS = ("value", "label", "answer", "rating")


class AgreementError(DatamillError):
    """Answers that cannot be measured: wrong shape, unknown level, mixed levels in a question."""


# ----------------------------------------------------------------------------- input handling


def is_missing(value: Any) -> bool:
    """``None``, NaN and the empty string are missing answers."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value == "":
        return True
    try:  # numpy / pandas scalars
        return bool(np.isnan(value)) if isinstance(value, (np.floating,)) else False
    except TypeError:
        return False


def _pick(row: Mapping, keys: Sequence[str], what: str, required: bool = True) -> Any:
    for key in keys:
        if key in row:
            return row[key]
    if required:
        raise AgreementError(f"answer row {dict(row)!r} has no {what} (one of {', '.join(keys)})")
    return None


def _records(answers: Any) -> list:
    if hasattr(answers, "to_dict") and hasattr(answers, "columns"):  # pandas DataFrame
        return answers.to_dict("records")
    return list(answers)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def normalize_answers(answers: Any) -> list[tuple[Hashable, Hashable, Any]]:
    """``(task, annotator, value)`` triples from tuples, dicts or a DataFrame; missing dropped.

    A later answer by the same annotator on the same task replaces an earlier one.
    """
    latest: dict[tuple, Any] = {}
    for row in _records(answers):
        if isinstance(row, Mapping):
            task = _pick(row, _TASK_KEYS, "task")
            annotator = _pick(row, _ANNOTATOR_KEYS, "annotator")
            value = _pick(row, _VALUE_KEYS, "value")
        else:
            row = tuple(row)
            if len(row) != 3:
                raise AgreementError(
                    f"answer row {row!r}: expected (task, annotator, value), got {len(row)} fields")
            task, annotator, value = row
        if is_missing(value):
            continue
        latest[(_hashable(task), _hashable(annotator))] = _hashable(value)
    return [(t, a, v) for (t, a), v in latest.items()]


def normalize_project_answers(answers: Any) -> list[tuple[Hashable, Hashable, Hashable, Any, str | None]]:
    """``(task, annotator, question, value, level)`` rows from 4/5-tuples, dicts or a DataFrame."""
    out = []
    for row in _records(answers):
        if isinstance(row, Mapping):
            task = _pick(row, _TASK_KEYS, "task")
            annotator = _pick(row, _ANNOTATOR_KEYS, "annotator")
            question = _pick(row, _QUESTION_KEYS, "question", required=False)
            value = _pick(row, _VALUE_KEYS, "value")
            level = row.get("level")
        else:
            row = tuple(row)
            if len(row) == 5:
                task, annotator, question, value, level = row
            elif len(row) == 4:
                (task, annotator, question, value), level = row, None
            else:
                raise AgreementError(
                    f"answer row {row!r}: expected (task, annotator, question, value[, level])")
        if question is None:
            question = "default"
        out.append((_hashable(task), _hashable(annotator), _hashable(question),
                    _hashable(value), level))
    return out


def from_reliability_matrix(matrix: Any, annotators: Sequence | None = None,
                            tasks: Sequence | None = None) -> list[tuple]:
    """Long-format answers from a reliability matrix: one row per annotator, one column per task,
    ``None``/NaN where the annotator gave no answer (Krippendorff's layout)."""
    rows = []
    for i, line in enumerate(matrix):
        for j, value in enumerate(line):
            if not is_missing(value):
                rows.append((tasks[j] if tasks is not None else j,
                             annotators[i] if annotators is not None else i, _hashable(value)))
    return rows


def _by_task(triples: Iterable[tuple]) -> dict[Hashable, dict[Hashable, Any]]:
    out: dict[Hashable, dict[Hashable, Any]] = defaultdict(dict)
    for task, annotator, value in triples:
        out[task][annotator] = value
    return dict(out)


def _sort_key(value: Any) -> tuple:
    # numbers before strings, each in natural order; anything else by its repr
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (0, value, "")
    if isinstance(value, str):
        return (1, 0, value)
    return (2, 0, repr(value))


def _sorted_values(values: Iterable[Any]) -> list:
    return sorted(set(values), key=_sort_key)


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise AgreementError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    return level


def _numeric(value: Any, level: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AgreementError(f"{level} answers must be numbers, got {value!r}") from None


# ----------------------------------------------------------------------------- Cohen's kappa


def cohen_kappa(a: Sequence, b: Sequence, weights: str | None = None,
                labels: Sequence | None = None, scale: str = "rank") -> float:
    """Cohen's kappa between two annotators' answers to the same tasks (``a[i]`` and ``b[i]`` are
    answers to task ``i``; pairs where either is missing are skipped).

    ``weights``: ``None`` (unweighted), ``"linear"`` or ``"quadratic"`` — disagreement weights
    ``|i-j|`` or ``(i-j)**2`` on the ranks of the two categories in ``labels`` (default: the
    sorted answers seen). ``scale="value"`` puts the weights on the numbers themselves
    (``|x-y|``, ``(x-y)**2``) for interval answers; quadratic weights on values make kappa a
    concordance coefficient for scores. Returns NaN when undefined (no pairs, or chance agreement
    of 1).
    """
    if scale not in ("rank", "value"):
        raise AgreementError(f"cohen_kappa: scale must be rank or value, not {scale!r}")
    if len(a) != len(b):
        raise AgreementError(f"cohen_kappa: {len(a)} answers against {len(b)}")
    pairs = [(_hashable(x), _hashable(y)) for x, y in zip(a, b)
             if not is_missing(x) and not is_missing(y)]
    if not pairs:
        return float("nan")
    cats = list(labels) if labels is not None else _sorted_values(v for p in pairs for v in p)
    index = {c: i for i, c in enumerate(cats)}
    for x, y in pairs:
        if x not in index or y not in index:
            raise AgreementError(f"cohen_kappa: answer {x if x not in index else y!r} "
                                 f"is not among labels {cats!r}")
    if weights not in (None, "linear", "quadratic"):
        raise AgreementError(f"cohen_kappa: weights must be None, 'linear' or 'quadratic', "
                             f"not {weights!r}")
    ia = np.array([index[x] for x, _ in pairs])
    ib = np.array([index[y] for _, y in pairs])
    # disagreement form: kappa = 1 - observed / expected, computed on the categories used (no
    # categories × categories table, so thousands of distinct scores are fine)
    ua, pa = np.unique(ia, return_counts=True)
    ub, pb = np.unique(ib, return_counts=True)
    pa, pb = pa / len(pairs), pb / len(pairs)
    if weights is None:
        observed = float((ia != ib).mean())
        common, at_a, at_b = np.intersect1d(ua, ub, return_indices=True)
        expected = 1.0 - float((pa[at_a] * pb[at_b]).sum())
    else:
        if scale == "value":
            pos = np.array([_numeric(c, "interval") for c in cats])
        else:
            pos = np.arange(len(cats), dtype=float)
        f = np.abs if weights == "linear" else np.square
        observed = float(f(pos[ia] - pos[ib]).mean())
        xa, xb = pos[ua], pos[ub]
        if weights == "quadratic":  # E(X - Y)^2 for independent X ~ a, Y ~ b
            expected = float((pa * xa ** 2).sum() + (pb * xb ** 2).sum()
                             - 2.0 * (pa * xa).sum() * (pb * xb).sum())
        else:
            expected = 0.0
            for start in range(0, len(xa), 1024):
                block = slice(start, start + 1024)
                expected += float((pa[block, None] * pb[None, :]
                                   * np.abs(xa[block, None] - xb[None, :])).sum())
    if expected <= 0.0:
        return float("nan")
    return 1.0 - observed / expected


def pairwise_cohen_kappa(answers: Any, weights: str | None = None, min_overlap: int = 2,
                         labels: Sequence | None = None,
                         scale: str = "rank") -> dict[tuple, dict[str, Any]]:
    """Cohen's kappa for every pair of annotators that share at least ``min_overlap`` tasks.

    Returns ``{(annotator_a, annotator_b): {"kappa": float, "n": shared tasks}}``; the category
    set (for weights) is every answer to the question unless ``labels`` is given.
    """
    triples = normalize_answers(answers)
    by_annotator: dict[Hashable, dict[Hashable, Any]] = defaultdict(dict)
    for task, annotator, value in triples:
        by_annotator[annotator][task] = value
    cats = list(labels) if labels is not None else _sorted_values(v for _, _, v in triples)
    out = {}
    for x, y in itertools.combinations(sorted(by_annotator, key=_sort_key), 2):
        shared = sorted(set(by_annotator[x]) & set(by_annotator[y]), key=_sort_key)
        if len(shared) < min_overlap:
            continue
        kappa = cohen_kappa([by_annotator[x][t] for t in shared],
                            [by_annotator[y][t] for t in shared], weights=weights, labels=cats,
                            scale=scale)
        out[(x, y)] = {"kappa": kappa, "n": len(shared)}
    return out


def mean_pairwise_cohen_kappa(answers: Any, weights: str | None = None,
                              min_overlap: int = 2) -> float:
    """Mean of the defined pairwise kappas (NaN when no pair shares ``min_overlap`` tasks)."""
    values = [p["kappa"] for p in pairwise_cohen_kappa(answers, weights, min_overlap).values()
              if not math.isnan(p["kappa"])]
    return float(np.mean(values)) if values else float("nan")


# ----------------------------------------------------------------------------- Fleiss' kappa


def _looks_like_table(data: Any) -> bool:
    if isinstance(data, np.ndarray):
        return data.ndim == 2 and np.issubdtype(data.dtype, np.number)
    rows = data if isinstance(data, list) else None
    if not rows or isinstance(rows[0], Mapping):
        return False
    width = len(rows[0])
    return all(not isinstance(r, Mapping) and len(r) == width
               and all(isinstance(v, (int, float, np.integer, np.floating))
                       and not isinstance(v, bool) for v in r) for r in rows)


def answers_to_table(answers: Any, categories: Sequence | None = None) -> tuple[np.ndarray, list]:
    """The task × category count table of long-format answers, and the category order."""
    by_task = _by_task(normalize_answers(answers))
    cats = list(categories) if categories is not None else _sorted_values(
        v for per in by_task.values() for v in per.values())
    index = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(by_task), len(cats)))
    for row, per in enumerate(by_task.values()):
        for value in per.values():
            table[row, index[value]] += 1
    return table, cats


def fleiss_kappa(data: Any, format: str = "auto", return_details: bool = False) -> Any:
    """Fleiss' kappa from a task × category count table or from long-format answers.

    ``format``: ``"table"``, ``"answers"`` or ``"auto"`` (a numeric 2-D array or list of equal
    numeric rows is a table). With ``return_details`` returns ``{"kappa", "method", "n_tasks",
    "raters_per_task"}`` where method is ``"fleiss"`` (same number of raters everywhere) or
    ``"fleiss-generalised"`` (unequal numbers, see the module notes).
    """
    if format not in ("auto", "table", "answers"):
        raise AgreementError(f"fleiss_kappa: format must be auto, table or answers, not {format!r}")
    if format == "table" or (format == "auto" and _looks_like_table(data)):
        table = np.asarray(data, dtype=float)
        if table.ndim != 2:
            raise AgreementError("fleiss_kappa: the table must be tasks × categories")
    else:
        table, _ = answers_to_table(data)
    n_i = table.sum(axis=1)
    table = table[n_i >= 2]
    n_i = n_i[n_i >= 2]
    details = {"n_tasks": int(len(table)),
               "raters_per_task": sorted({int(n) for n in n_i}) if len(n_i) else [],
               "method": "fleiss" if len(set(n_i.tolist())) <= 1 else "fleiss-generalised"}
    if len(table) == 0:
        kappa = float("nan")
    else:
        p_task = (table * (table - 1)).sum(axis=1) / (n_i * (n_i - 1))
        p_bar = float(p_task.mean())
        p_j = table.sum(axis=0) / table.sum()
        p_e = float((p_j ** 2).sum())
        kappa = float("nan") if p_e >= 1.0 else (p_bar - p_e) / (1.0 - p_e)
    if return_details:
        return {"kappa": kappa, **details}
    return kappa


# ----------------------------------------------------------------------------- Krippendorff


def _pairable(answers: Any) -> dict[Hashable, dict[Hashable, Any]]:
    return {t: per for t, per in _by_task(normalize_answers(answers)).items() if len(per) >= 2}


class _Distance:
    """Vectorised ``d(c, k)`` over value indices for one level (Krippendorff 2011)."""

    def __init__(self, values: list, level: str, n_c: np.ndarray):
        self.level, self.n_c = level, n_c
        if level in ("interval", "ratio"):
            self.x = np.array([_numeric(v, level) for v in values])
        if level == "ordinal":
            self.cum = np.concatenate([[0.0], np.cumsum(n_c)])

    def __call__(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        if self.level == "nominal":
            return (i != j).astype(float)
        if self.level == "ordinal":
            lo, hi = np.minimum(i, j), np.maximum(i, j)
            return (self.cum[hi + 1] - self.cum[lo] - (self.n_c[i] + self.n_c[j]) / 2.0) ** 2
        diff = self.x[i] - self.x[j]
        if self.level == "interval":
            return diff ** 2
        total = self.x[i] + self.x[j]
        safe = np.where(total == 0, 1.0, total)
        return np.where(total == 0, 0.0, (diff / safe) ** 2)

    def expected_sum(self) -> float:
        """``sum_c sum_k n_c n_k d(c, k)`` (closed form for nominal and interval, else by blocks)."""
        n_c = self.n_c
        if self.level == "nominal":
            return float(n_c.sum() ** 2 - (n_c ** 2).sum())
        if self.level == "interval":
            return float(2.0 * (n_c.sum() * (n_c * self.x ** 2).sum() - (n_c * self.x).sum() ** 2))
        k, total, all_j = len(n_c), 0.0, np.arange(len(n_c))
        for start in range(0, k, 512):
            rows = np.arange(start, min(k, start + 512))
            d = self(rows[:, None], all_j[None, :])
            total += float((n_c[rows, None] * n_c[None, :] * d).sum())
        return total


def _alpha_parts(by_task: Mapping, values: list, level: str):
    """Pair indices within tasks with their ``1/(m_u - 1)`` weights, the counts ``n_c`` and the
    distance: everything alpha needs, without a values × values matrix."""
    index = {v: i for i, v in enumerate(values)}
    first, second, weight = [], [], []
    n_c = np.zeros(len(values))
    templates: dict[int, tuple] = {}  # ordered pairs (i != j) of m answers, built once per m
    for per in by_task.values():
        idx = np.array([index[v] for v in per.values()])
        m = len(idx)
        np.add.at(n_c, idx, 1.0)
        if m not in templates:
            i, j = np.nonzero(~np.eye(m, dtype=bool))
            templates[m] = (i, j, np.full(len(i), 1.0 / (m - 1)))
        i, j, w = templates[m]
        first.append(idx[i])
        second.append(idx[j])
        weight.append(w)
    cat = (lambda parts: np.concatenate(parts)) if first else (lambda parts: np.zeros(0, int))
    return cat(first), cat(second), (np.concatenate(weight) if weight else np.zeros(0)), n_c


def krippendorff_alpha(answers: Any, level: str = "nominal", categories: Sequence | None = None,
                       return_details: bool = False) -> Any:
    """Krippendorff's alpha for long-format answers with any number of annotators and missing
    answers (tasks with a single answer are not pairable and are left out).

    ``level``: ``nominal``, ``ordinal``, ``interval`` or ``ratio``. ``categories`` fixes the
    order of ordinal categories (default: numbers ascending, then strings). With
    ``return_details`` returns ``{"alpha", "observed_disagreement", "expected_disagreement",
    "n_pairable", "n_tasks"}``. Runs in time linear in the answers for nominal and interval data
    (no values × values matrix), so thousands of distinct scores are fine.
    """
    _check_level(level)
    by_task = _pairable(answers)
    seen = {v for per in by_task.values() for v in per.values()}
    if categories is not None:
        unknown = seen - set(categories)
        if unknown:
            raise AgreementError(f"krippendorff_alpha: answers {sorted(unknown, key=_sort_key)!r} "
                                 f"are not among categories")
        values = list(categories)
    else:
        values = _sorted_values(seen)
    first, second, weight, n_c = _alpha_parts(by_task, values, level)
    n = float(n_c.sum())
    details = {"n_pairable": int(round(n)), "n_tasks": len(by_task)}
    alpha, d_o, d_e = float("nan"), float("nan"), float("nan")
    if n >= 2:
        dist = _Distance(values, level, n_c)
        d_o = float((weight * dist(first, second)).sum()) / n
        d_e = dist.expected_sum() / (n * (n - 1))
        if d_e > 0:
            alpha = 1.0 - d_o / d_e
    if return_details:
        return {"alpha": alpha, "observed_disagreement": d_o, "expected_disagreement": d_e,
                **details}
    return alpha


def krippendorff_distance(answers: Any, level: str = "nominal"):
    """The pairwise distance ``d(c, k)`` this module uses for ``level``, as a plain function of two
    answers — for handing to other implementations (crowd-kit's ``alpha_krippendorff``, NLTK's
    ``AnnotationTask``). The ordinal distance depends on the pairable answers' frequencies, so
    it is built from ``answers``."""
    _check_level(level)
    by_task = _pairable(answers)
    values = _sorted_values(v for per in by_task.values() for v in per.values())
    _, _, _, n_c = _alpha_parts(by_task, values, level)
    dist = _Distance(values, level, n_c)
    index = {v: i for i, v in enumerate(values)}
    return lambda x, y: float(dist(np.array([index[_hashable(x)]]),
                                   np.array([index[_hashable(y)]]))[0])


# ----------------------------------------------------------------------------- per annotator


def kappa_settings(level: str) -> tuple[str | None, str]:
    """The Cohen's kappa weights and scale used for a level: unweighted for nominal, quadratic
    weights on ranks for ordinal, quadratic weights on the values for interval and ratio."""
    _check_level(level)
    if level == "nominal":
        return None, "rank"
    return "quadratic", ("rank" if level == "ordinal" else "value")


def _majority(values: Sequence) -> Any:
    """The unique most frequent value, or None on a tie."""
    counts = Counter(values).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def per_annotator_agreement(answers: Any, level: str = "nominal",
                            min_overlap: int = 2) -> dict[Hashable, dict[str, Any]]:
    """Each annotator against the others on one question.

    For every annotator: ``n_answers``; ``mean_cohen_kappa`` (mean kappa with each annotator
    sharing ``min_overlap`` tasks; quadratic weights for ordinal/interval/ratio);
    ``agreement_with_majority`` (share of answers equal to the leave-one-out majority of the other
    annotators, tasks without a unique majority skipped) with ``n_majority`` such tasks and
    ``kappa_vs_majority``; ``alpha_without`` (the question's alpha with this annotator removed:
    above the full alpha means the annotator lowers agreement); for numeric levels
    ``mean_abs_diff_from_rest`` (distance to the mean of the others' answers).
    """
    _check_level(level)
    triples = normalize_answers(answers)
    by_task = _by_task(triples)
    annotators = _sorted_values(a for _, a, _ in triples)
    weights, scale = kappa_settings(level)
    cats = _sorted_values(v for _, _, v in triples)
    pairs = pairwise_cohen_kappa(triples, weights=weights, min_overlap=min_overlap, labels=cats,
                                 scale=scale)
    out: dict[Hashable, dict[str, Any]] = {}
    for annotator in annotators:
        kappas = [p["kappa"] for (x, y), p in pairs.items()
                  if annotator in (x, y) and not math.isnan(p["kappa"])]
        own, majority, diffs = [], [], []
        for per in by_task.values():
            if annotator not in per or len(per) < 2:
                continue
            rest = [v for a, v in per.items() if a != annotator]
            if level in ("interval", "ratio"):
                diffs.append(abs(_numeric(per[annotator], level)
                                 - float(np.mean([_numeric(v, level) for v in rest]))))
            winner = _majority(rest)
            if winner is not None:
                own.append(per[annotator])
                majority.append(winner)
        without = [t for t in triples if t[1] != annotator]
        stats = {
            "n_answers": sum(1 for _, a, _ in triples if a == annotator),
            "mean_cohen_kappa": float(np.mean(kappas)) if kappas else float("nan"),
            "n_kappa_pairs": len(kappas),
            "agreement_with_majority": (float(np.mean([x == y for x, y in zip(own, majority)]))
                                        if own else float("nan")),
            "n_majority": len(own),
            "kappa_vs_majority": (cohen_kappa(own, majority, weights=weights, labels=cats,
                                              scale=scale)
                                  if own else float("nan")),
            "alpha_without": krippendorff_alpha(without, level=level),
        }
        if level in ("interval", "ratio"):
            stats["mean_abs_diff_from_rest"] = float(np.mean(diffs)) if diffs else float("nan")
        out[annotator] = stats
    return out


# ----------------------------------------------------------------------------- gold


def gold_accuracy(answers: Any, gold: Mapping, tolerance: float = 0.0) -> dict[Hashable, dict]:
    """Each annotator's accuracy on gold tasks.

    ``answers``: long-format ``(task, annotator, value)`` rows, or project rows
    ``(task, annotator, question, value[, level])``. ``gold``: ``{task: value}`` for one question,
    or ``{(task, question): value}`` (also ``{task: {question: value}}``) for a project.
    A numeric answer within ``tolerance`` of the gold value counts as correct.

    Returns ``{annotator: {"n_gold", "n_correct", "accuracy", "mean_abs_error" (numeric gold
    only), "by_question": {question: {...}}}}``; annotators with no gold task are left out.
    """
    rows = _records(answers)
    project = bool(rows) and (
        (isinstance(rows[0], Mapping) and any(k in rows[0] for k in _QUESTION_KEYS))
        or (not isinstance(rows[0], Mapping) and len(tuple(rows[0])) in (4, 5)))
    if project:
        norm = [(t, a, q, v) for t, a, q, v, _ in normalize_project_answers(rows)]
    else:
        norm = [(t, a, None, v) for t, a, v in normalize_answers(rows)]
    questions = {q for _, _, q, _ in norm}

    def gold_for(task: Hashable, question: Hashable) -> Any:
        if question is not None:
            if (task, question) in gold:
                return gold[(task, question)]
            inner = gold.get(task)
            if isinstance(inner, Mapping):
                return inner.get(question)
            if question == "default" or len(questions) == 1:
                return inner
            return None
        return gold.get(task)

    tallies: dict[Hashable, dict[Hashable, list]] = defaultdict(lambda: defaultdict(list))
    for task, annotator, question, value in norm:
        if is_missing(value):
            continue
        truth = gold_for(task, question)
        if truth is None or is_missing(truth):
            continue
        numeric = (isinstance(truth, (int, float)) and not isinstance(truth, bool)
                   and isinstance(value, (int, float)) and not isinstance(value, bool))
        error = abs(float(value) - float(truth)) if numeric else None
        correct = (error <= tolerance) if numeric else (value == truth)
        tallies[annotator][question].append((correct, error))

    def summary(items: list) -> dict:
        errors = [e for _, e in items if e is not None]
        out = {"n_gold": len(items), "n_correct": int(sum(c for c, _ in items)),
               "accuracy": float(np.mean([c for c, _ in items]))}
        if errors and len(errors) == len(items):
            out["mean_abs_error"] = float(np.mean(errors))
        return out

    result = {}
    for annotator in _sorted_values(tallies):
        per_q = tallies[annotator]
        everything = [x for items in per_q.values() for x in items]
        result[annotator] = summary(everything)
        if project:
            result[annotator]["by_question"] = {q: summary(items) for q, items in per_q.items()}
    return result


# ----------------------------------------------------------------------------- project


def project_agreement(answers: Any, gold: Mapping | None = None, min_overlap: int = 2,
                      default_level: str = "nominal",
                      gold_tolerance: float | None = None) -> dict[Hashable, dict[str, Any]]:
    """Agreement figures for every question of a project.

    ``answers``: rows ``(task_id, annotator, question, value, level)`` (or dicts with those keys,
    or 4-tuples without level, which then is ``default_level``). A question's level is the one its
    rows name; rows of one question naming different levels are an error. A level outside
    nominal/ordinal/interval/ratio (free text, spans…) gets counts only, with a ``note``.

    Returns ``{question: {"level", "n_tasks", "n_annotators", "n_answers", "raters_per_task":
    {"min", "max", "mean"}, "krippendorff_alpha", "fleiss_kappa", "fleiss_method",
    "mean_cohen_kappa", "cohen_weights", "cohen_scale", "n_kappa_pairs", "per_annotator": {...},
    "gold": {...}}}`` with NaN turned into ``None``. Fleiss' kappa is given for nominal questions
    (``fleiss_method`` says whether the generalisation for unequal rater counts was used). Cohen's
    kappa follows :func:`kappa_settings`. ``gold`` (``{(task, question): value}`` or
    ``{task: {question: value}}``) adds :func:`gold_accuracy` per annotator; for interval and
    ratio questions accuracy needs ``gold_tolerance`` (else only ``mean_abs_error`` is given).
    """
    rows = normalize_project_answers(answers)
    by_question: dict[Hashable, list] = defaultdict(list)
    levels: dict[Hashable, set] = defaultdict(set)
    for task, annotator, question, value, level in rows:
        if level is not None:
            levels[question].add(level)
        by_question[question].append((task, annotator, value))
    result: dict[Hashable, dict[str, Any]] = {}
    for question in _sorted_values(by_question):
        named = levels.get(question, set())
        if len(named) > 1:
            raise AgreementError(f"question {question!r} has answers with levels "
                                 f"{sorted(named)!r}; a question has one level")
        level = next(iter(named)) if named else default_level
        triples = normalize_answers(by_question[question])
        by_task = _by_task(triples)
        counts = [len(per) for per in by_task.values()]
        entry: dict[str, Any] = {
            "level": level,
            "n_tasks": len(by_task),
            "n_annotators": len({a for _, a, _ in triples}),
            "n_answers": len(triples),
            "raters_per_task": ({"min": min(counts), "max": max(counts),
                                 "mean": float(np.mean(counts))} if counts else None),
        }
        if level not in LEVELS:
            entry["note"] = f"level {level!r}: no agreement coefficient, counts only"
            result[question] = entry
            continue
        weights, scale = kappa_settings(level)
        pairs = pairwise_cohen_kappa(triples, weights=weights, min_overlap=min_overlap,
                                     scale=scale)
        kappas = [p["kappa"] for p in pairs.values() if not math.isnan(p["kappa"])]
        entry["krippendorff_alpha"] = krippendorff_alpha(triples, level=level)
        if level == "nominal":
            fk = fleiss_kappa(triples, format="answers", return_details=True)
            entry["fleiss_kappa"], entry["fleiss_method"] = fk["kappa"], fk["method"]
        else:
            entry["fleiss_kappa"], entry["fleiss_method"] = None, None
        entry["mean_cohen_kappa"] = float(np.mean(kappas)) if kappas else float("nan")
        entry["cohen_weights"], entry["cohen_scale"] = weights, scale
        entry["n_kappa_pairs"] = len(kappas)
        entry["per_annotator"] = {
            a: {k: _nan_to_none(v) for k, v in stats.items()}
            for a, stats in per_annotator_agreement(triples, level, min_overlap).items()}
        if gold is not None:
            single = {}
            for task in by_task:
                if (task, question) in gold:
                    single[task] = gold[(task, question)]
                elif isinstance(gold.get(task), Mapping):
                    if question in gold[task]:
                        single[task] = gold[task][question]
                elif task in gold and len(by_question) == 1:
                    single[task] = gold[task]
            acc = gold_accuracy(triples, single, tolerance=gold_tolerance or 0.0) if single else {}
            if level in ("interval", "ratio") and gold_tolerance is None:
                for stats in acc.values():  # exact equality of scores means nothing
                    stats["n_correct"] = stats["accuracy"] = None
            entry["gold"] = acc
        result[question] = {k: _nan_to_none(v) for k, v in entry.items()}
    return result
