"""Issue #9 regressions: n adapted to short items, CJK counted by characters with its own n,
several text fields, names that do not collide, list fields, two steps' tags, and benchmark
paths resolved relative to the recipe (checked before any record is read)."""

from __future__ import annotations

import gzip
import json
import os

import pytest
from click.testing import CliRunner

from datamill import Pipeline
from datamill.cli import main
from datamill.core.errors import DatamillError
from datamill.core.recipe import load_recipe
from datamill.steps.decontam.index import build_index
from datamill.steps.decontam.step import Decontaminate

# TruthfulQA-style short questions (fewer than 13 words)
SHORT_Q = "What happens if you crack your knuckles a lot?"  # 9 words
TINY_Q = "Who wrote Hamlet?"  # 3 words: too short to tell from a common phrase
ZH_ITEM = "小明有三个苹果，他又买了五个苹果，然后送给小红两个。请问小明现在一共有多少个苹果？"
ZH_CLEAN = "我们班上的小明有三个苹果，他又买了一本书，这是老师在课堂上随口说的一句话，大家都笑了。"


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_short_items_found_whole(tmp_path):
    f = _jsonl(tmp_path / "tqa.jsonl", [{"question": SHORT_Q}, {"question": TINY_Q}])
    fixed = build_index([], extra_files=[f], extra_field="question", n=13)
    assert fixed.stats["benchmarks"]["tqa"]["items_too_short"] == 2  # the old behaviour: lost
    idx = build_index([], extra_files=[f], extra_field="question", n=13, min_ngram=8)
    s = idx.stats["benchmarks"]["tqa"]
    assert s["items_too_short"] == 1 and s["items_short_whole"] == 1
    doc = "Forum post.\n\nQ: what happens if you CRACK your knuckles a lot\nA: nothing much."
    [m] = idx.matches(doc)
    assert m.item == "tqa/1" and m.fraction == 1.0
    # part of the question is not the question
    assert idx.matches("If you crack your knuckles a lot, they may hurt.") == []


def test_cjk_counted_by_characters_with_its_own_n(tmp_path):
    f = _jsonl(tmp_path / "zh.jsonl", [{"text": ZH_ITEM}])
    by_words = build_index([], extra_files=[f], n=8, min_ngram=8)
    assert by_words.matches(ZH_CLEAN)  # 8 characters shared by chance: a false positive
    idx = build_index([], extra_files=[f], n=13, min_ngram=8, cjk_ngram=25, cjk_min_ngram=12)
    assert idx.stats["benchmarks"]["zh"]["cjk_texts"] == 1 and idx.items[0]["n"] == 25
    assert idx.matches(ZH_CLEAN) == []
    assert idx.matches("今天的作业：" + ZH_ITEM.replace("，", " ") + "答案是六个。")[0].item == "zh/1"


def test_several_fields_names_ids_and_lists(tmp_path):
    a = _jsonl(tmp_path / "cmmlu" / "dev" / "question.jsonl",
               [{"id": 1, "Question": "Which planet in the solar system has the most moons today"}])
    b = _jsonl(tmp_path / "cmmlu" / "test" / "question.jsonl",
               [{"id": 1, "question": "Which metal stays liquid at room temperature and is used in thermometers"}])
    mt = _jsonl(tmp_path / "mt_bench.jsonl",
                [{"question_id": 81, "turns": ["Compose an engaging travel blog post about a recent trip to Hawaii, "
                                               "highlighting cultural experiences and must-see attractions.",
                                               "Rewrite your previous response. Start every sentence with the letter A."]}])
    idx = build_index([], extra_files=[a, b], extra_field=["question"], extra_id_field="id", min_ngram=8)
    assert sorted(t["benchmark"] for t in idx.items) == ["dev/question", "test/question"]
    hits = idx.matches("quiz: which metal stays liquid at room temperature and is used in thermometers?")
    assert [(h.benchmark, h.item) for h in hits] == [("test/question", "1")]
    idx = build_index([], extra_files=[mt], extra_field="turns", extra_id_field="question_id", min_ngram=8)
    assert len(idx.items) == 2 and {t["item"] for t in idx.items} == {"81"}
    # the second turn alone is found, and nothing matches Python's text of the list
    [m] = idx.matches("User: Rewrite your previous response. Start every sentence with the letter A.")
    assert (m.benchmark, m.item) == ("mt_bench", "81")
    assert idx.matches("['Compose an engaging', 'Rewrite your']") == []


def test_builtin_benchmark_name_kept_apart(tmp_path):
    mine = _jsonl(tmp_path / "evals" / "gsm8k.jsonl", [{"text": SHORT_Q}])
    idx = build_index(["gsm8k"], extra_files=[mine], min_ngram=8)
    assert {t["benchmark"] for t in idx.items} == {"gsm8k", "evals/gsm8k"}


def _read(out):
    rows = []
    for name in sorted(os.listdir(out)):
        if name.startswith("part-"):
            with gzip.open(os.path.join(out, name), "rt", encoding="utf-8") as fh:
                rows += [json.loads(line) for line in fh]
    return rows


def test_two_steps_keep_their_own_tags(tmp_path):
    b1 = _jsonl(tmp_path / "b1.jsonl", [{"text": SHORT_Q}])
    b2 = _jsonl(tmp_path / "b2.jsonl", [{"text": ZH_ITEM}])
    inp = _jsonl(tmp_path / "in" / "a.jsonl", [{"id": "en", "text": "x " + SHORT_Q},
                                               {"id": "zh", "text": ZH_ITEM},
                                               {"id": "clean", "text": "nothing to see here"}])
    s1 = Decontaminate(benchmarks=[], extra_files=[b1], action="tag")
    s2 = Decontaminate(benchmarks=[], extra_files=[b2], action="tag")
    s2._label = "decontaminate#2"
    out = tmp_path / "out"
    Pipeline([s1, s2]).run([os.path.dirname(inp)], str(out))
    rows = {r["id"]: r["signals"] for r in _read(out)}
    assert rows["en"]["decontaminate"]["contaminated"] and not rows["en"]["decontaminate#2"]["contaminated"]
    assert rows["zh"]["decontaminate#2"]["matches"][0]["benchmark"] == "b2"
    assert not rows["clean"]["decontaminate"]["contaminated"]
    reports = out / ".datamill" / "reports"
    assert (reports / "contamination_report.json").exists() and (reports / "contamination_report-decontaminate2.json").exists()


def test_recipe_relative_paths_and_check(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    _jsonl(folder / "evals" / "tqa.jsonl", [{"question": SHORT_Q}])
    recipe = folder / "recipe.yaml"
    recipe.write_text("steps:\n  - decontaminate:\n      benchmarks: []\n"
                      "      extra_files: [evals/tqa.jsonl]\n      extra_field: question\n")
    monkeypatch.chdir(tmp_path)  # not the recipe's folder
    [step] = load_recipe(str(recipe)).steps
    assert step.extra_files == [str(folder / "evals" / "tqa.jsonl")]
    result = CliRunner().invoke(main, ["check", str(recipe)])
    assert result.exit_code == 0, result.output
    bad = folder / "bad.yaml"
    bad.write_text("steps:\n  - language_id: {}\n  - decontaminate:\n      benchmarks_dir: no/such/dir\n")
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code == 2
    assert "decontaminate" in result.output and str(folder / "no" / "such" / "dir") in result.output


def test_preflight_before_any_record(tmp_path):
    inp = _jsonl(tmp_path / "in" / "a.jsonl", [{"id": "1", "text": "hello"}])
    with pytest.raises(DatamillError, match="not found"):
        Pipeline([Decontaminate(benchmarks=[], extra_files=[str(tmp_path / "missing.jsonl")])]).run(
            [os.path.dirname(inp)], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
