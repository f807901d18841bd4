"""signal_filter: thresholds (a Filter) and dataset quantiles (a GlobalStep), on stored signals."""

from __future__ import annotations

import gzip
import json
import pickle

import pytest

from datamill.core.errors import RecipeError
from datamill.core.pipeline import Pipeline
from datamill.core.recipe import parse_recipe, recipe_to_yaml
from datamill.core.step import GlobalStep
from datamill.steps.filter.signal_filter import SignalFilter, SignalQuantileFilter

TEXTS = ["The cat sat on the mat and looked at the garden.", "这是一段关于天气的中文短文。",
         "short", "今天天气很好，我们一起去公园散步吧，公园里有很多花。" * 20]


def _records(n: int = 40):
    out = []
    for i in range(n):
        sig = {"clf": {"quality_score": i / n, "bucket": ["head", "middle", "tail"][i % 3]}}
        if i % 10 == 9:
            sig = {}  # missing signal
        out.append({"id": f"r{i}", "text": TEXTS[i % len(TEXTS)], "metadata": {}, "signals": sig})
    return out


def _write(path, records, shards: int = 2):
    path.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with open(path / f"in-{s}.jsonl", "w", encoding="utf-8") as fh:
            for r in records[s::shards]:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def _read(out):
    rows = []
    for p in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def test_thresholds_and_missing_reasons():
    f = SignalFilter(signal="clf.quality_score", min=0.25, max=0.75)
    recs = _records()
    verdicts = [f.keep(r) for r in recs]
    assert verdicts[0] == "below_min"
    assert verdicts[39] == "missing_signal"
    assert verdicts[38] == "above_max"
    assert verdicts[20] is None
    keep_missing = SignalFilter(signal="clf.quality_score", min=0.5, missing="keep")
    assert keep_missing.keep(recs[9]) is None


def test_in_not_in_and_not_numeric():
    recs = _records()
    f = SignalFilter(signal="clf.bucket", in_=["head"])
    assert f.keep(recs[0]) is None and f.keep(recs[1]) == "not_in_allowed"
    g = SignalFilter(signal="clf.bucket", not_in=["tail"])
    assert g.keep(recs[2]) == "in_excluded" and g.keep(recs[0]) is None
    h = SignalFilter(signal="clf.bucket", min=1)
    assert h.keep(recs[0]) == "not_numeric"


def test_bad_parameters_are_clear():
    with pytest.raises(ValueError, match="at least one of"):
        SignalFilter(signal="clf.quality_score")
    with pytest.raises(ValueError, match="greater than max"):
        SignalFilter(signal="a.b", min=2, max=1)
    with pytest.raises(ValueError, match="fraction"):
        SignalFilter(signal="a.b", keep_top=1.5)
    with pytest.raises(ValueError, match="missing"):
        SignalFilter(signal="a.b", min=1, missing="maybe")


def test_keep_top_is_a_global_step_and_pickles():
    f = SignalFilter(signal="clf.quality_score", keep_top=0.1)
    assert isinstance(f, SignalQuantileFilter) and isinstance(f, GlobalStep)
    assert f.name == "signal_filter"
    g = pickle.loads(pickle.dumps(f))
    assert isinstance(g, SignalQuantileFilter) and g.fraction == 0.1 and g.top


def test_recipe_spells_in_as_in_and_round_trips():
    recipe = parse_recipe("steps:\n  - signal_filter: {signal: clf.bucket, in: [head, middle]}\n"
                          "  - signal_filter: {signal: clf.quality_score, keep_top: 0.25}\n")
    first, second = recipe.steps
    assert first.keep({"signals": {"clf": {"bucket": "tail"}}}) == "not_in_allowed"
    assert isinstance(second, SignalQuantileFilter) and second.label == "signal_filter#2"
    assert "in:" in recipe_to_yaml(recipe)
    with pytest.raises(RecipeError, match="no parameter 'treshold'"):
        parse_recipe("steps:\n  - signal_filter: {signal: a.b, treshold: 1}\n")


@pytest.mark.parametrize("workers", [1, 2])
def test_keep_top_keeps_the_exact_top_fraction(tmp_path, workers):
    recs = _records()
    _write(tmp_path / "in", recs)
    out = tmp_path / f"out{workers}"
    stats = Pipeline([SignalFilter(signal="clf.quality_score", keep_top=0.25)]).run(
        [str(tmp_path / "in")], str(out), workers=workers)
    rows = _read(out)
    scored = sorted((r["signals"]["clf"]["quality_score"] for r in recs if r["signals"]), reverse=True)
    n_keep = -(-len(scored) // 4)  # ceil(36 * 0.25) = 9
    assert sorted((r["signals"]["clf"]["quality_score"] for r in rows), reverse=True) == scored[:n_keep]
    step = stats["steps"][0]
    assert step["dropped"]["missing_signal"] == 4
    assert step["dropped"]["below_top_fraction"] == len(scored) - n_keep
    assert stats["globals"]["signal_filter"]["cut_value"] == pytest.approx(scored[n_keep - 1])


def test_keep_bottom_with_min_and_missing_keep(tmp_path):
    recs = _records()
    _write(tmp_path / "in", recs, shards=3)
    out = tmp_path / "out"
    Pipeline([SignalFilter(signal="clf.quality_score", keep_bottom=0.5, min=0.1, missing="keep")]).run(
        [str(tmp_path / "in")], str(out))
    rows = _read(out)
    kept_scores = sorted(r["signals"]["clf"]["quality_score"] for r in rows if r["signals"])
    eligible = sorted(r["signals"]["clf"]["quality_score"] for r in recs
                      if r["signals"] and r["signals"]["clf"]["quality_score"] >= 0.1)
    assert kept_scores == eligible[: -(-len(eligible) // 2)]
    assert sum(1 for r in rows if not r["signals"]) == 4  # missing kept
