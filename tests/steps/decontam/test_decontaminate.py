import gzip
import json
import os
import pickle

import pytest

from datamill import Pipeline
from datamill.core.errors import DatamillError, RecipeError
from datamill.core.recipe import build_step
from datamill.core.step import REGISTRY
from datamill.steps.decontam.index import BenchmarkError
from datamill.steps.decontam.step import Decontaminate, output_root, record_text

ITEMS = [
    "A farmer has 17 sheep and buys 5 more at the market each week for four weeks; how many sheep does the farmer own at the end?",
    "Write a function that returns the longest palindromic substring of a given string, scanning every centre and expanding outwards.",
    "Sort the following words alphabetically and list them separated by spaces: banana cherry apple grape melon kiwi lemon.",
]
FILLER = ("This paragraph is ordinary training text about gardening, the weather in spring, and how to "
          "keep tomatoes healthy through a long dry summer without wasting water.")


def _bench(tmp_path):
    path = tmp_path / "mybench.jsonl"
    with open(path, "w") as fh:
        for i, t in enumerate(ITEMS):
            fh.write(json.dumps({"id": f"q{i}", "problem": t}) + "\n")
    return str(path)


def _inputs(tmp_path):
    rows = [
        {"id": "clean-0", "text": FILLER},
        {"id": "leak-0", "text": FILLER + "\n\n" + ITEMS[0]},
        {"id": "leak-1-upper", "text": ITEMS[1].upper().replace(",", " ;")},
        {"id": "empty", "text": ""},
        {"id": "one", "text": "word"},
        {"id": "sur", "text": "broken \ud800 surrogate " + ITEMS[2]},
        {"id": "big", "text": (FILLER + "\n") * 12_000 + ITEMS[0]},    # ~2 MB, leak at the end
        {"id": "chat", "text": "", "messages": [{"role": "user", "content": ITEMS[2]}]},
    ]
    folder = tmp_path / "in"
    folder.mkdir()
    for s in range(2):
        with open(folder / f"part-{s}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows[s::2]:
                fh.write(json.dumps(r) + "\n")
    return str(folder)


def _read(out):
    rows = []
    for name in sorted(os.listdir(out)):
        if name.startswith("part-"):
            with gzip.open(os.path.join(out, name), "rt", encoding="utf-8") as fh:
                rows += [json.loads(line) for line in fh]
    return rows


def test_registered_and_validated():
    assert REGISTRY["decontaminate"] is Decontaminate
    for bad in ({"benchmarks": ["mmlu"]}, {"action": "delete"}, {"ngram": 0}, {"min_fraction": 2.0},
                {"benchmarks": []}):
        with pytest.raises(RecipeError):
            build_step(Decontaminate, bad)
    step = Decontaminate(extra_files=["x.jsonl"], ngram=8)
    assert pickle.loads(pickle.dumps(step)).params == step.params
    assert output_root("/o/.datamill/state/global0-decontaminate") == "/o"


def test_record_text_chat():
    assert record_text({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}) == "a\nb"
    assert record_text({"prompt": "p", "chosen": [{"content": "c"}], "rejected": "r"}) == "p\nc\nr"


def test_pipeline_tag_drop_report_and_workers(tmp_path):
    bench = _bench(tmp_path)
    inp = _inputs(tmp_path)
    results = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        stats = Pipeline([Decontaminate(benchmarks=[], extra_files=[bench], extra_field="problem",
                                        extra_id_field="id", ngram=8, field="text")]).run(
            [inp], str(out), workers=workers)
        with open(out / ".datamill" / "reports" / "contamination_report.json") as fh:
            report = json.load(fh)
        results[workers] = (_read(out), report)
    assert results[1] == results[2]
    kept, report = results[1]
    assert sorted(r["id"] for r in kept) == ["clean-0", "empty", "one"]
    mb = report["benchmarks"]["mybench"]
    # the lone-surrogate row is quarantined by the JSONL reader (orjson refuses it)
    assert sum(stats["quarantine"].values()) == 1
    assert mb["items"] == 3 and mb["items_hit"] == 3 and report["records_contaminated"] == 4
    assert sorted(h["record"] for h in mb["hits"]["q0"]) == ["big", "leak-0"]
    assert [h["record"] for h in mb["hits"]["q1"]] == ["leak-1-upper"]
    assert [h["record"] for h in mb["hits"]["q2"]] == ["chat"]
    step = next(s for s in stats["steps"] if s["step"] == "decontaminate")
    assert step["dropped"] == {"contaminated": 4}
    assert stats["globals"]["decontaminate"]["records_scanned"] == 7

    out = tmp_path / "tag"
    Pipeline([Decontaminate(benchmarks=[], extra_files=[bench], extra_field="problem", extra_id_field="id",
                            ngram=8, action="tag")]).run([inp], str(out))
    rows = {r["id"]: r for r in _read(out)}
    assert len(rows) == 7
    tag = rows["leak-0"]["signals"]["decontaminate"]
    hit = tag["matches"]
    assert tag["contaminated"] and hit[0]["benchmark"] == "mybench" and hit[0]["item"] == "q0"
    assert hit[0]["fraction"] == 1.0
    assert rows["clean-0"]["signals"]["decontaminate"] == {"contaminated": False, "matches": []}


def test_surrogates_direct(tmp_path):
    step = Decontaminate(benchmarks=[], extra_files=[_bench(tmp_path)], extra_field="problem", ngram=8)
    idx = step.build_index()
    found = step.matches({"id": "s\udc80", "text": "broken \ud800 surrogate " + ITEMS[2]}, idx)
    assert found and found[0]["item"] == "mybench/3"
    assert step.matches({"id": "x", "text": "\udfff" * 100}, idx) == []


def test_thresholds(tmp_path):
    bench = _bench(tmp_path)
    inp = _inputs(tmp_path)
    out = tmp_path / "strict"
    Pipeline([Decontaminate(benchmarks=[], extra_files=[bench], extra_field="problem", ngram=8,
                            min_overlap=3, min_fraction=0.5)]).run([inp], str(out))
    # every leak holds the whole item: still found
    assert sorted(r["id"] for r in _read(out)) == ["clean-0", "empty", "one"]
    partial = tmp_path / "partial"
    partial.mkdir()
    words = ITEMS[0].split()
    (partial / "p.jsonl").write_text(json.dumps({"id": "p", "text": " ".join(words[:10])}) + "\n")
    kept = {}
    for mo in (3, 4):  # ten words of the item hold three of its 8-grams
        out = tmp_path / f"partial-{mo}"
        Pipeline([Decontaminate(benchmarks=[], extra_files=[bench], extra_field="problem", ngram=8,
                                min_overlap=mo)]).run([str(partial)], str(out))
        kept[mo] = [r["id"] for r in _read(out)]
    assert kept == {3: [], 4: ["p"]}


def test_missing_benchmark_field_and_dir(tmp_path):
    bench = _bench(tmp_path)
    inp = _inputs(tmp_path)
    with pytest.raises(DatamillError, match=r"mybench\.jsonl:1: no field 'text'"):
        Pipeline([Decontaminate(benchmarks=[], extra_files=[bench])]).run([inp], str(tmp_path / "o1"))
    # found before any record is read, with the step named
    with pytest.raises(DatamillError, match="'decontaminate'.*benchmark folder not found"):
        Pipeline([Decontaminate(benchmarks_dir=str(tmp_path / "none"))]).run([inp], str(tmp_path / "o2"))
    assert not (tmp_path / "o2").exists()


def test_builtin_benchmarks_pipeline(tmp_path, shared_data):
    bdir = shared_data / "benchmarks"
    with gzip.open(bdir / "humaneval" / "HumanEval.jsonl.gz", "rt") as fh:
        he = json.loads(fh.readline())
    with open(bdir / "bbh" / "navigate.json") as fh:
        bbh = json.load(fh)["examples"][7]
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [{"id": "code", "text": "Here is my solution:\n" + he["prompt"] + he["canonical_solution"]},
            {"id": "bbh", "text": bbh["input"] + "\nA: " + bbh["target"]},
            {"id": "clean", "text": FILLER}]
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    Pipeline([Decontaminate(benchmarks_dir=str(bdir), action="tag")]).run([str(folder)], str(out))
    with open(out / ".datamill" / "reports" / "contamination_report.json") as fh:
        report = json.load(fh)
    he_hits = report["benchmarks"]["humaneval"]["hits"]
    assert he["task_id"] in he_hits  # HumanEval/20 shares an n-gram with HumanEval/0: listed too
    assert max(he_hits, key=lambda k: he_hits[k][0]["overlap"]) == he["task_id"]
    bbh_hits = report["benchmarks"]["bbh"]["hits"]  # navigate items share step sequences
    assert max(bbh_hits, key=lambda k: bbh_hits[k][0]["overlap"]) == "bbh/navigate/7"
    assert report["benchmarks"]["gsm8k"]["items_hit"] == 0
