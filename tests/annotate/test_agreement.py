"""Agreement figures against published examples, scikit-learn and crowd-kit (on a shared,
documented fixture: crowd_fixture.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from crowd_fixture import ANNOTATORS, question, simulate_crowd
from datamill.annotate.agreement import (
    AgreementError, cohen_kappa, fleiss_kappa, from_reliability_matrix, gold_accuracy,
    krippendorff_alpha, krippendorff_distance, mean_pairwise_cohen_kappa, pairwise_cohen_kappa,
    per_annotator_agreement, project_agreement)

_ = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers × 12 units
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _]]

# Fleiss (1971): 30 patients × 6 psychiatrists, 5 diagnoses (R irr's `diagnoses`; kappa 0.4302445)
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5]]

# Wikipedia's Fleiss' kappa example: 10 subjects × 5 categories, 14 raters; kappa 0.210
WIKIPEDIA_TABLE = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
                   [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
                   [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]

# R irr's `anxiety` data, raters 2 and 3 (kappa2: -0.006289308, equal 0.1459075, squared 0.2520325)
ANXIETY_R2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_R3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


@pytest.fixture(scope="module")
def crowd():
    return simulate_crowd(120, seed=7)


@pytest.mark.parametrize("level,published", [
    ("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)])
def test_krippendorff_2011_worked_example(level, published):
    answers = from_reliability_matrix(KRIPPENDORFF_2011)
    assert krippendorff_alpha(answers, level) == pytest.approx(published, abs=5e-4)


def test_krippendorff_details_and_unpairable_unit():
    answers = from_reliability_matrix(KRIPPENDORFF_2011)
    d = krippendorff_alpha(answers, "nominal", return_details=True)
    assert d["n_pairable"] == 40 and d["n_tasks"] == 11  # unit 12 has a single value
    assert d["alpha"] == pytest.approx(1 - d["observed_disagreement"] / d["expected_disagreement"])


def test_krippendorff_degenerate_cases_are_nan():
    assert math.isnan(krippendorff_alpha([("t1", "a", "x"), ("t1", "b", "x")]))  # one value
    assert math.isnan(krippendorff_alpha([("t1", "a", "x"), ("t2", "b", "y")]))  # nothing pairable
    assert krippendorff_alpha([("t1", "a", "x"), ("t1", "b", "x"),
                               ("t2", "a", "y"), ("t2", "b", "y")]) == 1.0


def test_krippendorff_ordinal_categories_and_errors():
    rows = [("t1", "a", "low"), ("t1", "b", "mid"), ("t2", "a", "high"), ("t2", "b", "high"),
            ("t3", "a", "low"), ("t3", "b", "low")]
    order = ["low", "mid", "high"]
    numeric = [(t, a, order.index(v)) for t, a, v in rows]
    assert krippendorff_alpha(rows, "ordinal", categories=order) == pytest.approx(
        krippendorff_alpha(numeric, "ordinal"))
    with pytest.raises(AgreementError):
        krippendorff_alpha(rows, "ordinal", categories=["low", "high"])
    with pytest.raises(AgreementError):
        krippendorff_alpha(rows, "interval")
    with pytest.raises(AgreementError):
        krippendorff_alpha(rows, "cardinal")


def test_fleiss_1971_and_wikipedia():
    answers = [(i, j, v) for i, row in enumerate(FLEISS_1971) for j, v in enumerate(row)]
    details = fleiss_kappa(answers, format="answers", return_details=True)
    assert details["kappa"] == pytest.approx(0.4302445, abs=1e-7)
    assert details["method"] == "fleiss" and details["raters_per_task"] == [6]
    assert fleiss_kappa(WIKIPEDIA_TABLE) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa(np.array(WIKIPEDIA_TABLE)) == pytest.approx(fleiss_kappa(WIKIPEDIA_TABLE))


def test_fleiss_generalised_for_unequal_raters(crowd):
    rows, _ = crowd
    details = fleiss_kappa(question(rows, "topic"), format="answers", return_details=True)
    assert details["method"] == "fleiss-generalised" and details["raters_per_task"] == [3, 4, 5]
    assert -1 < details["kappa"] < 1


@pytest.mark.parametrize("weights,irr", [(None, -0.006289308), ("linear", 0.1459075),
                                         ("quadratic", 0.2520325)])
def test_cohen_kappa_matches_r_irr(weights, irr):
    assert cohen_kappa(ANXIETY_R2, ANXIETY_R3, weights) == pytest.approx(irr, abs=1e-7)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(weights):
    from sklearn.metrics import cohen_kappa_score
    rng = np.random.default_rng(3)
    a = rng.integers(1, 6, 200)
    b = np.clip(a + rng.integers(-1, 2, 200), 1, 5)
    labels = [1, 2, 3, 4, 5]
    assert cohen_kappa(a.tolist(), b.tolist(), weights, labels=labels) == pytest.approx(
        cohen_kappa_score(a, b, weights=weights, labels=labels))


def test_cohen_kappa_missing_undefined_and_value_scale():
    assert cohen_kappa(["x", None, "y"], ["x", "y", "y"]) == 1.0
    assert math.isnan(cohen_kappa(["x", "x"], ["x", "x"]))
    with pytest.raises(AgreementError):
        cohen_kappa(["x"], ["x", "y"])
    # weights on values equal weights on ranks for evenly spaced values, not otherwise
    a, b = [2, 4, 6, 2, 4], [2, 6, 6, 4, 4]
    assert cohen_kappa(a, b, "quadratic", scale="value") == pytest.approx(
        cohen_kappa(a, b, "quadratic"))
    a, b = [1, 2, 10, 1, 2], [1, 10, 10, 2, 2]
    assert cohen_kappa(a, b, "quadratic", scale="value") != pytest.approx(
        cohen_kappa(a, b, "quadratic"))


def test_pairwise_kappa(crowd):
    rows, _ = crowd
    pairs = pairwise_cohen_kappa(question(rows, "topic"))
    assert len(pairs) == 28 and all(p["n"] >= 2 for p in pairs.values())
    assert mean_pairwise_cohen_kappa(question(rows, "topic")) == pytest.approx(
        np.mean([p["kappa"] for p in pairs.values()]))


@pytest.mark.parametrize("name,level", [("topic", "nominal"), ("quality", "ordinal"),
                                        ("score", "interval")])
def test_alpha_matches_crowdkit_on_shared_fixture(crowd, name, level):
    pd = pytest.importorskip("pandas")
    metrics = pytest.importorskip("crowdkit.metrics.data")
    rows, _ = crowd
    triples = question(rows, name)
    frame = pd.DataFrame(triples, columns=["task", "worker", "label"])
    if level == "nominal":
        reference = metrics.alpha_krippendorff(frame)
    else:
        reference = metrics.alpha_krippendorff(frame, krippendorff_distance(triples, level))
    assert krippendorff_alpha(triples, level) == pytest.approx(reference, abs=1e-9)


def test_fleiss_matches_nltk_multi_pi_with_equal_raters():
    agreement = pytest.importorskip("nltk.metrics.agreement")
    answers = [(i, j, v) for i, row in enumerate(FLEISS_1971) for j, v in enumerate(row)]
    task = agreement.AnnotationTask([(a, t, v) for t, a, v in answers])
    assert fleiss_kappa(answers, format="answers") == pytest.approx(task.pi(), abs=1e-9)


def test_per_annotator_ranks_the_random_clicker_last(crowd):
    rows, _ = crowd
    triples = question(rows, "topic")
    per = per_annotator_agreement(triples, "nominal")
    assert set(per) == set(ANNOTATORS)
    full = krippendorff_alpha(triples)
    assert per["a8"]["alpha_without"] > full > per["a1"]["alpha_without"]
    assert per["a1"]["mean_cohen_kappa"] > per["a8"]["mean_cohen_kappa"]
    assert per["a1"]["agreement_with_majority"] > per["a8"]["agreement_with_majority"]
    numeric = per_annotator_agreement(question(rows, "score"), "interval")
    assert numeric["a1"]["mean_abs_diff_from_rest"] < numeric["a8"]["mean_abs_diff_from_rest"]


def test_gold_accuracy_forms():
    rows = [("t1", "a", "x"), ("t1", "b", "y"), ("t2", "a", "y"), ("t2", "b", "y"),
            ("t3", "a", "x")]
    res = gold_accuracy(rows, {"t1": "x", "t2": "y"})
    assert res["a"] == {"n_gold": 2, "n_correct": 2, "accuracy": 1.0}
    assert res["b"]["accuracy"] == 0.5
    project = [("t1", "a", "q", "x", "nominal"), ("t1", "a", "r", 3, "interval"),
               ("t2", "a", "r", 5, "interval")]
    res = gold_accuracy(project, {("t1", "q"): "x", ("t1", "r"): 4, "t2": {"r": 5}}, tolerance=1)
    assert res["a"]["n_gold"] == 3 and res["a"]["accuracy"] == 1.0
    assert res["a"]["by_question"]["r"]["mean_abs_error"] == 0.5


def test_project_agreement(crowd):
    rows, truth = crowd
    dicts = [{"task_id": t, "annotator": a, "question": q, "value": v, "level": lv}
             for t, a, q, v, lv in rows]
    res = project_agreement(dicts + [{"task_id": "t9999", "annotator": "a1", "question": "topic",
                                      "value": None, "level": "nominal"}], gold=truth)
    assert set(res) == {"topic", "quality", "score"}
    topic = res["topic"]
    assert topic["level"] == "nominal" and topic["n_tasks"] == 120 and topic["n_annotators"] == 8
    assert topic["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(question(rows, "topic")))
    assert topic["fleiss_method"] == "fleiss-generalised" and topic["fleiss_kappa"] is not None
    assert res["quality"]["fleiss_kappa"] is None and res["quality"]["cohen_weights"] == "quadratic"
    assert res["score"]["cohen_scale"] == "value"
    assert topic["gold"]["a1"]["accuracy"] > topic["gold"]["a8"]["accuracy"]
    assert res["score"]["gold"]["a1"]["accuracy"] is None  # no tolerance given
    json.dumps(res)  # NaN-free, serialisable


def test_project_agreement_levels():
    rows = [("t1", "a", "q", "x", "nominal"), ("t1", "b", "q", 1, "ordinal")]
    with pytest.raises(AgreementError):
        project_agreement(rows)
    res = project_agreement([("t1", "a", "note", "hello", "text"),
                             ("t1", "b", "note", "hi", "text")])
    assert "note" in res["note"] and res["note"]["n_answers"] == 2
    res = project_agreement([("t1", "a", "q", "x"), ("t1", "b", "q", "x")])
    assert res["q"]["level"] == "nominal" and res["q"]["krippendorff_alpha"] is None
