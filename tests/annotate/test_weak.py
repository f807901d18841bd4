"""Labeling functions, LF analysis, the label model, and the comparison with majority vote —
on a hand-checked toy set and on real sentences (lingua test data, three languages)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from datamill.annotate.weak import (
    ABSTAIN, LabelModel, LabelingFunction, Votes, WeakSupervisionError, apply_lfs,
    compare_with_majority, format_lf_analysis, labeling_function, lf_analysis,
    majority_vote_labels)


@labeling_function(name="has_code")
def has_code(record):
    return "code" if "def " in record["text"] else ABSTAIN


@labeling_function()
def says_poem(record):
    return "poem" if "poem" in record["text"] else None


@labeling_function
def always_code(record):
    return "code"


def test_decorator_and_apply():
    assert isinstance(has_code, LabelingFunction) and has_code.name == "has_code"
    assert says_poem.name == "says_poem" and always_code.name == "always_code"
    records = [{"text": "def f(): pass"}, {"text": "a poem"}, {"text": "a poem about def "},
               {"text": "nothing"}]
    votes = apply_lfs([has_code, says_poem], records)
    assert isinstance(votes, Votes) and votes.labels == ["code", "poem"]
    assert np.asarray(votes).tolist() == [[0, -1], [-1, 1], [0, 1], [-1, -1]]
    assert votes.decode([1, -1]) == ["poem", None]
    fixed = apply_lfs([has_code], records, labels=["poem", "code"])
    assert fixed.matrix[:, 0].tolist() == [1, -1, 1, -1]
    with pytest.raises(WeakSupervisionError):
        apply_lfs([has_code], records, labels=["poem"])


def test_lf_errors_name_the_lf_and_record():
    @labeling_function(name="boom")
    def boom(record):
        return record["missing"]

    with pytest.raises(WeakSupervisionError, match="'boom' failed on record 0"):
        apply_lfs([boom], [{"text": "x"}])
    assert apply_lfs([boom], [{"text": "x"}], on_error="abstain").matrix.tolist() == [[-1]]
    with pytest.raises(WeakSupervisionError):
        apply_lfs([has_code, has_code], [{"text": "x"}])


def test_lf_analysis_by_hand():
    L = np.array([[0, 0, -1], [0, 1, -1], [-1, 1, 1], [-1, -1, -1], [1, -1, 0]])
    gold = [0, 1, 1, None, 0]
    a = lf_analysis(L, gold, names=["a", "b", "c"])
    s = a["lfs"]
    assert s["a"]["coverage"] == pytest.approx(3 / 5)
    assert s["a"]["overlaps"] == pytest.approx(3 / 5)   # rows 0, 1, 4
    assert s["a"]["conflicts"] == pytest.approx(2 / 5)  # rows 1, 4
    assert s["b"]["conflicts"] == pytest.approx(1 / 5)  # row 1
    assert s["a"]["n_correct"] == 1 and s["a"]["n_incorrect"] == 2
    assert s["c"]["empirical_accuracy"] == 1.0 and s["b"]["n_correct"] == 3
    assert s["a"]["polarity"] == [0, 1]
    t = a["summary"]
    assert t["coverage"] == pytest.approx(4 / 5) and t["overlaps"] == pytest.approx(4 / 5)
    assert t["conflicts"] == pytest.approx(2 / 5) and t["n_gold"] == 4
    text = format_lf_analysis(a)
    assert "emp.acc" in text and text.count("\n") == 6


def test_majority_vote_labels():
    L = np.array([[0, 0, 1], [0, 1, -1], [-1, -1, -1]])
    assert majority_vote_labels(L, tie_break="smallest").tolist() == [0, 0, -1]
    assert majority_vote_labels(L, tie_break="abstain").tolist() == [0, -1, -1]


def _simulate(n=2000, seed=0):
    """Three unipolar-ish LFs of known accuracy on a binary task, plus one noisy LF."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    cols = []
    for acc, cov in ((0.95, 0.5), (0.9, 0.6), (0.85, 0.7), (0.55, 0.9)):
        fires = rng.random(n) < cov
        right = rng.random(n) < acc
        cols.append(np.where(fires, np.where(right, y, 1 - y), -1))
    return np.stack(cols, axis=1), y


def test_label_model_beats_majority_and_recovers_accuracies(capsys):
    L, y = _simulate()
    model = LabelModel().fit(L)
    proba = model.predict_proba(L)
    assert proba.shape == (len(y), 2) and np.allclose(proba.sum(axis=1), 1)
    est = model.lf_accuracies()
    assert est["lf0"] == pytest.approx(0.95, abs=0.03)
    assert est["lf3"] == pytest.approx(0.55, abs=0.05)
    res = compare_with_majority(L, y.tolist(), model, crowdkit=False)
    out = capsys.readouterr().out
    assert "majority_vote" in out and "label_model" in out
    assert res["label_model"]["accuracy"] > res["majority_vote"]["accuracy"]
    assert model.predict(np.array([[-1, -1, -1, -1]])).tolist() == [ABSTAIN]


def test_label_model_abstain_as_missing_is_dawid_skene():
    pytest.importorskip("crowdkit")
    L, y = _simulate(800, seed=1)
    # plain Dawid-Skene (abstain = missing) agrees with crowd-kit's on nearly every record
    ours = LabelModel(model_abstain=False, diagonal_prior=0.0, smoothing=0.01).fit(L).predict(L)
    from datamill.annotate.aggregate import dawid_skene
    rows = [(i, f"lf{j}", int(L[i, j])) for i, j in zip(*np.nonzero(L != -1))]
    ck = dawid_skene(rows)["tasks"]
    covered = [i for i in range(len(L)) if i in ck]
    assert np.mean([ours[i] == ck[i]["label"] for i in covered]) > 0.98


def test_label_model_errors():
    with pytest.raises(WeakSupervisionError):
        LabelModel().predict_proba(np.zeros((1, 1), dtype=int))
    with pytest.raises(WeakSupervisionError):
        LabelModel(cardinality=2).fit(np.array([[0, 2]]))


def test_real_sentences_label_model_vs_majority(shared_data, capsys):
    root = shared_data / "langid" / "lingua" / "sentences"
    langs = ["es", "it", "pt"]
    records, gold = [], []
    for lang in langs:
        lines = [l for l in (root / f"{lang}.txt").read_text(encoding="utf-8").splitlines() if l]
        for line in lines[:200]:
            records.append({"text": line.lower()})
            gold.append(lang)

    def words(lang, vocab):
        @labeling_function(name=f"stop_{lang}")
        def lf(r):
            return lang if sum(w in vocab for w in re.findall(r"\w+", r["text"])) >= 2 else ABSTAIN
        return lf

    def rx(name, lang, pattern):
        pat = re.compile(pattern)

        @labeling_function(name=name)
        def lf(r):
            return lang if pat.search(r["text"]) else ABSTAIN
        return lf

    lfs = [words("es", {"el", "los", "las", "y", "del", "por", "con", "una", "se"}),
           words("it", {"il", "di", "che", "è", "per", "della", "gli", "non", "una"}),
           words("pt", {"o", "os", "e", "é", "não", "uma", "do", "da", "em", "com"}),
           rx("que_es", "es", r"\bque\b"), rx("la_it", "it", r"\bla\b"),
           rx("tilde_pt", "pt", r"[ãõ]"), rx("zione_it", "it", r"zion[ei]\b"),
           rx("cion_es", "es", r"ción\b")]
    votes = apply_lfs(lfs, records, labels=langs)
    analysis = lf_analysis(votes, gold)
    assert analysis["summary"]["n_records"] == 600
    assert analysis["lfs"]["tilde_pt"]["empirical_accuracy"] > 0.9
    assert analysis["lfs"]["que_es"]["conflicts"] > 0  # "que" is Portuguese too
    res = compare_with_majority(votes, gold, crowdkit=False)
    assert "label_model" in capsys.readouterr().out
    assert res["label_model"]["accuracy"] >= res["majority_vote"]["accuracy"]
    assert res["label_model"]["accuracy"] > 0.7
