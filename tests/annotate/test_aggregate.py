"""Majority vote, Dawid-Skene (crowd-kit) and ratings aggregation, checked against crowd-kit on
the shared fixture (crowd_fixture.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crowd_fixture import question, simulate_crowd
from datamill.annotate.aggregate import (
    AggregationError, aggregate_ratings, dawid_skene, majority_vote)

# crowd-kit 1.4.2 passes copy=/inplace= keywords that pandas 3.1 deprecates: noise only
pytestmark = pytest.mark.filterwarnings("ignore:.*keyword.*deprecated")


@pytest.fixture(scope="module")
def crowd():
    return simulate_crowd(120, seed=7)


def test_majority_vote_basics_and_ties():
    rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y"), ("t2", "a", "y"),
            ("t2", "b", "x"), ("t3", "a", None)]
    mv = majority_vote(rows)
    assert set(mv) == {"t1", "t2"}  # a missing answer is skipped
    assert mv["t1"]["label"] == "x" and mv["t1"]["confidence"] == pytest.approx(2 / 3)
    assert mv["t1"]["n_votes"] == 3 and not mv["t1"]["tie"]
    assert mv["t2"]["tie"] and mv["t2"]["label"] == "x"  # smallest
    assert majority_vote(rows, tie_break="none")["t2"]["label"] is None
    assert majority_vote(rows, tie_break="random", seed=1)["t2"]["label"] in {"x", "y"}
    weighted = majority_vote(rows, weights={"a": 3.0})
    assert weighted["t1"]["label"] == "x" and weighted["t2"]["label"] == "y"
    with pytest.raises(AggregationError):
        majority_vote(rows, tie_break="coin")


def test_majority_vote_matches_crowdkit(crowd):
    pd = pytest.importorskip("pandas")
    aggregation = pytest.importorskip("crowdkit.aggregation")
    rows, _ = crowd
    topic = question(rows, "topic")
    ours = majority_vote(topic)
    ck = aggregation.MajorityVote().fit(pd.DataFrame(topic, columns=["task", "worker", "label"]))
    for task, r in ours.items():
        for label, p in r["distribution"].items():
            assert ck.probas_.loc[task, label] == pytest.approx(p)
        if not r["tie"]:  # crowd-kit breaks ties by pandas' column order
            assert ck.labels_[task] == r["label"]


def test_dawid_skene_matches_crowdkit_and_beats_majority(crowd):
    pd = pytest.importorskip("pandas")
    aggregation = pytest.importorskip("crowdkit.aggregation")
    rows, truth = crowd
    topic = question(rows, "topic")
    ds = dawid_skene(topic)
    ck = aggregation.DawidSkene(n_iter=100).fit(
        pd.DataFrame(topic, columns=["task", "worker", "label"]))
    for task, r in ds["tasks"].items():
        assert r["label"] == ck.labels_[task]
        assert r["confidence"] == pytest.approx(ck.probas_.loc[task].max())
        assert sum(r["distribution"].values()) == pytest.approx(1.0)
    gold = {t: truth[(t, "topic")] for t in ds["tasks"]}
    acc_ds = np.mean([ds["tasks"][t]["label"] == g for t, g in gold.items()])
    mv = majority_vote(topic)
    acc_mv = np.mean([mv[t]["label"] == g for t, g in gold.items()])
    assert acc_ds >= acc_mv
    skills = {a: s["accuracy"] for a, s in ds["annotators"].items()}
    assert skills["a1"] > skills["a8"]
    assert sum(ds["priors"].values()) == pytest.approx(1.0)


def test_aggregate_ratings():
    rows = [("t1", "a", "helpful", 4), ("t1", "b", "helpful", 5), ("t1", "c", "helpful", 1),
            ("t1", "a", "harmless", 5), ("t2", "a", "helpful", None)]
    out = aggregate_ratings(rows)
    assert out["t1"]["helpful"]["value"] == pytest.approx(10 / 3)
    assert out["t1"]["helpful"]["median"] == 4 and out["t1"]["helpful"]["n"] == 3
    assert out["t1"]["harmless"] == {"value": 5.0, "mean": 5.0, "median": 5.0, "std": 0.0,
                                     "min": 5.0, "max": 5.0, "n": 1}
    assert "t2" not in out
    assert aggregate_ratings(rows, method="median")["t1"]["helpful"]["value"] == 4
    single = aggregate_ratings([("t1", "a", 2), ("t1", "b", 3)])
    assert single["t1"]["default"]["value"] == 2.5
    with pytest.raises(AggregationError):
        aggregate_ratings([("t1", "a", "q", "good")])
    with pytest.raises(AggregationError):
        aggregate_ratings(rows, method="mode")
    assert not math.isnan(out["t1"]["helpful"]["std"])
