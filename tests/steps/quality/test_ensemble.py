"""quality_ensemble: dataset percentiles of several scores, max, bucket 0-19; never drops."""

from __future__ import annotations

import gzip
import json

import pytest

from datamill.core.pipeline import Pipeline
from datamill.core.recipe import parse_recipe
from datamill.steps.quality.ensemble import QualityEnsemble

TEXTS = ["An English sentence about the weather.", "关于天气的一句中文。"]


def _docs(n=100):
    out = []
    for i in range(n):
        sig = {"clf": {"quality_score": i / n}, "perplexity": {"perplexity": 1000 - 5 * i if i % 2 else 100 + i}}
        if i == 0:
            sig = {}
        out.append({"id": f"d{i}", "text": TEXTS[i % 2] * (1 + i % 30), "metadata": {}, "signals": sig})
    return out


def _run(tmp_path, step, workers=1):
    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    docs = _docs()
    for s in range(3):
        (src / f"p{s}.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs[s::3]),
                                         encoding="utf-8")
    out = tmp_path / f"out{workers}"
    stats = Pipeline([step]).run([str(src)], str(out), workers=workers)
    rows = []
    for p in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            rows += [json.loads(x) for x in fh]
    return {r["id"]: r for r in rows}, stats


@pytest.mark.parametrize("workers", [1, 2])
def test_buckets_from_percentiles_max_over_signals(tmp_path, workers):
    rows, stats = _run(tmp_path, QualityEnsemble(signals=["clf.quality_score", "perplexity.perplexity"],
                                                 lower_is_better=["perplexity.perplexity"]), workers)
    assert len(rows) == 100  # never drops
    assert "quality_ensemble" not in rows["d0"]["signals"]
    assert stats["steps"][0]["counters"]["unscored"] == {"no_signal": 1}
    b = {k: r["signals"]["quality_ensemble"]["quality_bucket"] for k, r in rows.items() if k != "d0"}
    assert set(b.values()) <= set(range(20))
    assert b["d99"] == 19  # highest classifier score
    # d2 has a low classifier score but one of the lowest perplexities: max takes the better one
    assert b["d2"] >= 15
    # odd documents have high perplexity and a mid classifier score: bucket follows the classifier
    assert b["d51"] == int(rows["d51"]["signals"]["quality_ensemble"]["percentile"] * 20)


def test_recipe_and_bad_parameters():
    recipe = parse_recipe("steps:\n  - quality_ensemble: {signals: [a.b, c.d], lower_is_better: [c.d]}\n")
    assert recipe.steps[0].buckets == 20
    with pytest.raises(ValueError, match="not in 'signals'"):
        QualityEnsemble(signals=["a.b"], lower_is_better=["x.y"])
