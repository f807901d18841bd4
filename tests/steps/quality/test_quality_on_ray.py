"""The model steps and signal_filter's quantile stages on the Ray executor give the same records
as on the local one (a private Ray instance; slow: Ray starts in tens of seconds)."""

from __future__ import annotations

import gzip
import json
import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.mark.slow
def test_classifier_ensemble_and_keep_top_on_ray(shared_data, tmp_path):
    pytest.importorskip("ray")
    import csv
    import random

    from datamill.core.pipeline import Pipeline
    from datamill.models.classifier import train_classifier
    from datamill.models.labelled import LabelledTexts
    from datamill.steps.filter.signal_filter import SignalFilter
    from datamill.steps.quality.classifier import QualityClassifier
    from datamill.steps.quality.ensemble import QualityEnsemble

    rows = list(csv.DictReader(open(shared_data / "toxicity/cold_zh/train.csv", encoding="utf-8-sig")))
    random.Random(0).shuffle(rows)
    model = str(tmp_path / "m.ftz")
    train_classifier(LabelledTexts([r["TEXT"] for r in rows[:300]], [int(r["label"]) for r in rows[:300]],
                                   "binary"), model, epoch=3)
    src = tmp_path / "in"
    src.mkdir()
    for s in range(3):
        with open(src / f"p{s}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows[300 + 40 * s: 340 + 40 * s]:
                fh.write(json.dumps({"id": r[""], "text": r["TEXT"], "metadata": {"language": "zh"}},
                                    ensure_ascii=False) + "\n")

    def pipeline():
        return Pipeline([QualityClassifier(model=model),
                         QualityEnsemble(signals=["quality_classifier.quality_score"]),
                         SignalFilter(signal="quality_classifier.quality_score", keep_top=0.25)])

    def read(out):
        got = []
        for p in sorted(out.glob("part-*.jsonl.gz")):
            with gzip.open(p, "rt", encoding="utf-8") as fh:
                got += [json.loads(x) for x in fh]
        return sorted(got, key=lambda r: r["id"])

    pipeline().run([str(src)], str(tmp_path / "local"), workers=2)
    pipeline().run([str(src)], str(tmp_path / "ray"), workers=2, executor="ray")
    local, on_ray = read(tmp_path / "local"), read(tmp_path / "ray")
    assert len(local) == 30 and local == on_ray
