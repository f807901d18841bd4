"""toxicity: word-list counts on word boundaries (English and Chinese through jieba), the
English classifier shipped in alt-profanity-check, and any datamill-trained classifier."""

from __future__ import annotations

import gzip
import json

import pytest

from datamill.core.errors import InputError
from datamill.core.pipeline import Pipeline
from datamill.steps.quality.badword_counts import BadWordList
from datamill.steps.quality.toxicity import Toxicity


def test_word_boundaries_in_english_and_chinese():
    en = BadWordList(["ass", "two girls one cup"], "en")
    assert en.count("A class of students.")[0] == 0
    assert en.count("What an ass! Two girls one cup.")[0] == 2
    zh = BadWordList(["性", "傻逼"], "zh")
    assert zh.count("他的性格很好，我们一起学习。")[0] == 0  # 性 inside 性格 is not a match
    n, total, hits = zh.count("你这个傻逼，滚。")
    assert n == 1 and hits == ["傻逼"] and total >= 4


@pytest.fixture(scope="module")
def ldnoobw(shared_data):
    return str(shared_data / "badwords" / "ldnoobw")


def _run(tmp_path, docs, **params):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    out = tmp_path / "out"
    stats = Pipeline([Toxicity(**params)]).run([str(src)], str(out), overwrite=True)
    with gzip.open(next(out.glob("part-*.jsonl.gz")), "rt", encoding="utf-8") as fh:
        return {r["id"]: r for r in map(json.loads, fh)}, stats


DOCS = [
    {"id": "en-bad", "text": "Shut up you stupid bitch, nobody cares.", "metadata": {"language": "en"}},
    {"id": "en-long", "text": "The library opens at nine and closes at five on weekdays. " * 50,
     "metadata": {"language": "en"}},
    {"id": "zh-bad", "text": "你这个傻逼，滚出去。", "metadata": {"language": "zh"}},
    {"id": "zh-long", "text": "图书馆每天上午九点开门，下午五点关门，周末休息。" * 50, "metadata": {"language": "zh"}},
    {"id": "sw", "text": "Habari ya asubuhi, rafiki yangu.", "metadata": {"language": "sw"}},
    {"id": "empty", "text": "", "metadata": {}},
]


def test_word_lists_per_language(ldnoobw, tmp_path):
    rows, stats = _run(tmp_path, DOCS, badwords_dir=ldnoobw, english_classifier=False)
    sig = {k: r["signals"].get("toxicity", {}) for k, r in rows.items()}
    assert sig["en-bad"]["badword_count"] >= 1 and sig["en-long"]["badword_count"] == 0
    assert sig["zh-bad"]["badword_count"] >= 1 and sig["zh-long"]["badword_count"] == 0
    assert 0 < sig["zh-bad"]["badword_ratio"] < 1
    assert "badword_count" not in sig["sw"]  # no Swahili list: counted, not guessed
    counters = stats["steps"][0]["counters"]
    assert counters["unscored_wordlist"]["sw"] == 1 and counters["unscored"] == {"empty_text": 1}


def test_english_classifier_scores_english_only(tmp_path):
    pytest.importorskip("profanity_check", reason="alt-profanity-check is in the quality extra")
    rows, _ = _run(tmp_path, DOCS, english_classifier=True)
    en_bad = rows["en-bad"]["signals"]["toxicity"]["toxicity_score"]
    en_ok = rows["en-long"]["signals"]["toxicity"]["toxicity_score"]
    assert en_bad > 0.5 > en_ok
    assert "toxicity_score" not in (rows["zh-bad"].get("signals") or {}).get("toxicity", {})


def test_trained_classifier_for_chinese(shared_data, tmp_path):
    import csv
    import random

    from datamill.models.classifier import train_classifier
    from datamill.models.labelled import LabelledTexts

    rows = list(csv.DictReader(open(shared_data / "toxicity/cold_zh/train.csv", encoding="utf-8-sig")))
    random.Random(0).shuffle(rows)
    path = str(tmp_path / "cold.ftz")
    train_classifier(LabelledTexts([r["TEXT"] for r in rows[:400]], [int(r["label"]) for r in rows[:400]],
                                   "binary"), path, epoch=5)
    got, _ = _run(tmp_path, DOCS, model=path, model_languages=["zh"], english_classifier=False)
    for key in ("zh-bad", "zh-long"):
        assert 0 <= got[key]["signals"]["toxicity"]["toxicity_score"] <= 1
    assert "toxicity_score" not in (got["en-bad"].get("signals") or {}).get("toxicity", {})


def test_bad_paths_fail_before_records(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        Toxicity(badwords_dir=str(tmp_path / "none"))
    with pytest.raises(InputError, match="no such file"):
        Toxicity(model=str(tmp_path / "none.ftz")).setup()
