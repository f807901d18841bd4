"""A run with quality_classifier, quality_ensemble and signal_filter keep_top, killed with
SIGKILL in its first stage, resumes to the same output as an uninterrupted run."""

from __future__ import annotations

import csv
import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from killing import kill_mid_first_stage  # noqa: E402


def _read(out: Path) -> list[dict]:
    rows = []
    for p in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            rows += [json.loads(x) for x in fh]
    return sorted(rows, key=lambda r: r["id"])


def test_sigkill_then_rerun_gives_the_same_output(shared_data, tmp_path):
    sys.path.insert(0, str(HERE))
    from quality_resume_pipeline import pipeline

    from datamill.models.classifier import train_classifier
    from datamill.models.labelled import LabelledTexts

    rows = list(csv.DictReader(open(shared_data / "toxicity/cold_zh/dev.csv", encoding="utf-8-sig")))
    model = str(tmp_path / "m.ftz")
    train_classifier(LabelledTexts([r["TEXT"] for r in rows[:300]], [int(r["label"]) for r in rows[:300]],
                                   "binary"), model, epoch=3, threads=1)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for s in range(8):
        with open(inputs / f"p{s}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows[300 + 25 * s: 325 + 25 * s]:
                fh.write(json.dumps({"id": r[""], "text": r["TEXT"]}, ensure_ascii=False) + "\n")
    reference = tmp_path / "reference"
    pipeline(model, 0.0).run([str(inputs)], str(reference), workers=1)

    out = tmp_path / "killed"
    kill_mid_first_stage([str(HERE / "quality_resume_pipeline.py"), model, str(inputs), str(out), "1.0"],
                         out, timeout=180)
    assert not (out / "stats.json").exists()

    stats = pipeline(model, 1.0).run([str(inputs)], str(out), workers=2)
    assert stats["resumed_tasks"] >= 2
    assert _read(out) == _read(reference)
    assert len(_read(out)) == 100  # keep_top 0.5 of 200
    assert not list(out.rglob(".tmp-*"))
