"""quality_classifier tags every record with a stored score; signal_filter re-decides on it later
without the model (a new threshold never recomputes a score)."""

from __future__ import annotations

import csv
import gzip
import json
import random

import pytest

from datamill.core.errors import InputError
from datamill.core.pipeline import Pipeline
from datamill.core.recipe import parse_recipe
from datamill.models.classifier import train_classifier
from datamill.models.labelled import LabelledTexts
from datamill.steps.filter.signal_filter import SignalFilter
from datamill.steps.quality.classifier import QualityClassifier


@pytest.fixture(scope="module")
def model_path(shared_data, tmp_path_factory):
    """A small bilingual offensive-language model: COLD (zh) and Davidson (en) rows."""
    rng = random.Random(0)
    cold = list(csv.DictReader(open(shared_data / "toxicity/cold_zh/train.csv", encoding="utf-8-sig")))
    rng.shuffle(cold)
    dav = list(csv.DictReader(open(shared_data / "toxicity/davidson_hate_offensive/labeled_data.csv",
                                   encoding="utf-8")))
    rng.shuffle(dav)
    texts = [r["TEXT"] for r in cold[:300]] + [r["tweet"] for r in dav[:300]]
    labels = [int(r["label"]) for r in cold[:300]] + [int(r["class"] != "2") for r in dav[:300]]
    path = str(tmp_path_factory.mktemp("clf") / "offensive.ftz")
    train_classifier(LabelledTexts(texts, labels, "binary"), path, epoch=5)
    return path


DOCS = [
    {"id": "en-short", "text": "You are an idiot.", "metadata": {"language": "en"}},
    {"id": "en-long", "text": "The committee met on Tuesday to review the annual budget. " * 40,
     "metadata": {"language": "en"}},
    {"id": "zh-short", "text": "你是个傻子。", "metadata": {"language": "zh"}},
    {"id": "zh-long", "text": "今天的会议讨论了城市公共交通的发展规划，与会代表提出了很多建议。" * 40,
     "metadata": {"language": "zh"}},
    {"id": "empty", "text": "   ", "metadata": {}},
]


def _write(path, n_copies: int = 5):
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "docs.jsonl", "w", encoding="utf-8") as fh:
        for k in range(n_copies):
            for d in DOCS:
                fh.write(json.dumps({**d, "id": f"{d['id']}-{k}"}, ensure_ascii=False) + "\n")


def _read(out):
    rows = []
    for p in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def test_tagger_scores_english_and_chinese_and_counts_empty(model_path, tmp_path):
    _write(tmp_path / "in", 1)
    stats = Pipeline([QualityClassifier(model=model_path)]).run([str(tmp_path / "in")], str(tmp_path / "out"))
    rows = {r["id"].rsplit("-", 1)[0]: r for r in _read(tmp_path / "out")}
    assert len(rows) == 5  # a tagger never drops
    for key in ("en-short", "en-long", "zh-short", "zh-long"):
        score = rows[key]["signals"]["quality_classifier"]["quality_score"]
        assert 0.0 <= score <= 1.0
    assert "quality_classifier" not in rows["empty"]["signals"]
    assert stats["steps"][0]["counters"]["unscored"] == {"empty_text": 1}
    # the stored scores are the model's own, in batches as one by one
    from datamill.models.classifier import load_classifier

    keys = ["en-short", "en-long", "zh-short", "zh-long"]
    direct = load_classifier(model_path).predict([next(d["text"] for d in DOCS if d["id"] == k) for k in keys],
                                                 ["en", "en", "zh", "zh"])
    for key, score in zip(keys, direct):
        assert rows[key]["signals"]["quality_classifier"]["quality_score"] == pytest.approx(score, abs=1e-5)
    # Chinese is segmented (jieba) before scoring: fastText sees words, not one long token
    from datamill.models.text_prep import fasttext_line

    assert fasttext_line("你是个傻子。", "zh").split() == ["你", "是", "个", "傻子", "。"]


def test_wrong_model_fails_before_any_record(tmp_path):
    _write(tmp_path / "in", 1)
    with pytest.raises(InputError, match="nope.ftz: no such file"):
        Pipeline([QualityClassifier(model=str(tmp_path / "nope.ftz"))]).run([str(tmp_path / "in")],
                                                                           str(tmp_path / "out"))
    assert not list((tmp_path / "out").glob("part-*"))
    # a recipe naming a model validates on a machine without it (the run fails, not the check)
    assert parse_recipe(f"steps:\n  - quality_classifier: {{model: {tmp_path}/nope.ftz}}\n").steps


def test_rethreshold_on_an_output_folder_needs_no_model(model_path, tmp_path):
    """Run the classifier once; then a recipe of signal_filters on its output folder re-applies
    new thresholds with the model file gone and the classifier's code made unusable."""
    import os
    import shutil

    _write(tmp_path / "in")
    first = tmp_path / "tagged"
    Pipeline([QualityClassifier(model=model_path, output="score")]).run([str(tmp_path / "in")], str(first))
    tagged = _read(first)
    # the model is gone, and any attempt to load or score would fail loudly
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(model_path, moved / "m.ftz")
    shutil.move(model_path + ".card.json", moved / "m.ftz.card.json")
    try:
        import datamill.models.classifier as clf

        def boom(*a, **k):
            raise AssertionError("a model was loaded")
        orig = clf.load_classifier
        clf.load_classifier = boom
        recipe = tmp_path / "rethreshold.yaml"
        recipe.write_text("steps:\n"
                          "  - signal_filter: {signal: quality_classifier.score, min: 0.2}\n"
                          "  - signal_filter: {signal: quality_classifier.score, keep_top: 0.5}\n",
                          encoding="utf-8")
        second = tmp_path / "rethresholded"
        stats = Pipeline.from_recipe(str(recipe)).run([str(first)], str(second))
    finally:
        clf.load_classifier = orig
        shutil.move(moved / "m.ftz", model_path)
        shutil.move(moved / "m.ftz.card.json", model_path + ".card.json")
    scores = [r["signals"]["quality_classifier"]["score"] for r in tagged if "quality_classifier" in r["signals"]]
    eligible = sorted((s for s in scores if s >= 0.2), reverse=True)
    kept = sorted((r["signals"]["quality_classifier"]["score"] for r in _read(second)), reverse=True)
    assert kept == eligible[: -(-len(eligible) // 2)]
    assert stats["steps"][0]["dropped"]["missing_signal"] == 5  # the empty texts have no score
    assert os.path.exists(model_path)


def test_signal_filter_in_python_api_with_quantile(model_path, tmp_path):
    _write(tmp_path / "in")
    out = tmp_path / "out"
    Pipeline([QualityClassifier(model=model_path), SignalFilter(signal="quality_classifier.quality_score",
                                                                 keep_bottom=0.25)]).run(
        [str(tmp_path / "in")], str(out), workers=2)
    assert len(_read(out)) == 5  # ceil(20 scored * 0.25)


def test_documents_in_a_script_the_model_never_saw_are_counted(tmp_path):
    texts = [f"this page is good and useful number {i}" for i in range(15)] + \
        [f"buy cheap pills now click here {i}" for i in range(15)]
    path = str(tmp_path / "en-only.ftz")
    train_classifier(LabelledTexts(texts, [1] * 15 + [0] * 15, "binary"), path, epoch=5, quantize=False)
    _write(tmp_path / "in", 1)
    stats = Pipeline([QualityClassifier(model=path)]).run([str(tmp_path / "in")], str(tmp_path / "out"))
    assert stats["steps"][0]["counters"]["language_not_in_training"] == {"zh": 2}
    assert len(_read(tmp_path / "out")) == 5  # still scored and kept
