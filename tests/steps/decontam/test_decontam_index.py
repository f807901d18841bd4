import csv
import json

import numpy as np
import pytest

from datamill.steps.decontam.benchmarks import PACKAGE_DIR, benchmark_names
from datamill.steps.decontam.index import (BenchmarkError, BenchmarkItem, LoadStats, NgramIndex,
                                           build_index, load_user_file, ngram_hashes, normalize_text,
                                           resolve_benchmarks_dir, tokenize)

WORDS = ("the quick brown fox jumps over the lazy dog while seven sleepy cats watch from a warm "
         "windowsill and count the passing clouds one by one").split()


def test_normalize_and_tokenize():
    assert normalize_text("Hello,   WORLD!\n\tIt's  (fine).") == "hello world it s fine"
    assert tokenize("Ｆｕｌｌ-width ＡＢＣ") == ["full", "width", "abc"]
    assert tokenize("数学题：小明有3个苹果。") == ["数", "学", "题", "小", "明", "有", "3", "个", "苹", "果"]
    assert tokenize("") == [] and tokenize("...!!!") == []
    assert tokenize("bad \ud800 text") == ["bad", "\ud800", "text"]


def test_ngram_hashes():
    a = ngram_hashes(WORDS, 13)
    assert a.dtype == np.uint64 and len(a) == len(WORDS) - 12
    assert np.array_equal(a, ngram_hashes(list(WORDS), 13))
    assert len(np.unique(a)) == len(a)
    assert len(ngram_hashes(WORDS[:12], 13)) == 0
    assert not np.array_equal(ngram_hashes(WORDS[1:14], 13), ngram_hashes(WORDS[:13], 13))


def test_templates_and_short_items():
    template = " ".join(WORDS[:15])
    items = [BenchmarkItem("t", f"t/{i}", template + f" unique tail {i} " + " ".join([f"w{i}x{j}" for j in range(14)]))
             for i in range(5)] + [BenchmarkItem("t", "t/short", "only five words here now")]
    idx = NgramIndex.build(items, 13, max_item_frequency=2)
    s = idx.stats["benchmarks"]["t"]
    assert s["items_too_short"] == 1 and s["template_ngrams"] == 5  # 3 + 2 ending in "unique tail"
    assert idx.matches("intro " + template + " outro") == []          # a template says nothing
    m = idx.matches(items[3].text)
    assert [x.item for x in m] == ["t/3"] and m[0].fraction < 1.0


def test_resolve_benchmarks_dir(tmp_path, monkeypatch):
    with pytest.raises(BenchmarkError, match="nope"):
        resolve_benchmarks_dir(str(tmp_path / "nope"))
    monkeypatch.setenv("DATAMILL_BENCHMARKS_DIR", str(tmp_path))
    assert resolve_benchmarks_dir() == str(tmp_path)
    monkeypatch.delenv("DATAMILL_BENCHMARKS_DIR")
    monkeypatch.delenv("DATAMILL_SHARED_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    # no folder given: the copies shipped inside the package, whatever the working directory
    assert resolve_benchmarks_dir() == PACKAGE_DIR
    assert build_index(["humaneval"]).stats["benchmarks"]["humaneval"]["items"] == 164
    monkeypatch.setenv("DATAMILL_BENCHMARKS_DIR", str(tmp_path / "gone"))
    with pytest.raises(BenchmarkError, match="DATAMILL_BENCHMARKS_DIR"):
        resolve_benchmarks_dir()
    with pytest.raises(BenchmarkError, match="gsm8k"):
        build_index(["gsm8k"], benchmarks_dir=str(tmp_path))


def _user_files(tmp_path):
    text = " ".join(WORDS)
    jl = tmp_path / "mine.jsonl"
    jl.write_text(json.dumps({"q": text, "id": "A"}) + "\n\n" + json.dumps({"other": 1}) + "\n")
    cs = tmp_path / "mine.csv"
    with open(cs, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["q", "id"])
        w.writerow([text.upper(), "B"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"q": [text, None], "id": ["C", "D"]}), tmp_path / "mine.parquet")
    return jl, cs, tmp_path / "mine.parquet"


def test_user_files_and_missing_field(tmp_path):
    jl, cs, pq_path = _user_files(tmp_path)
    with pytest.raises(BenchmarkError, match=r"mine\.jsonl:3: no field 'q'"):
        build_index([], extra_files=[str(jl)], extra_field="q")
    with pytest.raises(BenchmarkError, match=r"mine\.parquet:2: no field 'q'"):
        list(load_user_file(str(pq_path), "q", LoadStats()))
    idx = build_index([], extra_files=[str(jl), str(cs), str(pq_path)], extra_field="q",
                      extra_id_field="id", missing_field="skip")
    assert [t["item"] for t in idx.items] == ["A", "B", "C"]
    # three files named "mine" in one folder are three benchmarks, named by their file names
    assert [t["benchmark"] for t in idx.items] == ["mine.jsonl", "mine.csv", "mine.parquet"]
    assert idx.stats["benchmarks"]["mine.jsonl"]["skipped_missing_field"] == 1
    assert idx.stats["benchmarks"]["mine.parquet"]["skipped_missing_field"] == 1
    assert len(idx.stats["skipped_examples"]) == 2
    hits = idx.matches("Some text. " + " ".join(WORDS[3:20]) + " and more")
    assert {h.item for h in hits} == {"A", "B", "C"} and hits[0].overlap == 5
    with pytest.raises(BenchmarkError, match="not found"):
        build_index([], extra_files=[str(tmp_path / "missing.jsonl")])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "x"}\n{broken\n')
    with pytest.raises(BenchmarkError, match=r"bad\.jsonl:2: not valid JSON"):
        build_index([], extra_files=[str(bad)], extra_field="q")


def test_cjk_item(tmp_path):
    item = "小明有三个苹果，他又买了五个苹果。请问小明现在一共有多少个苹果？"
    f = tmp_path / "zh.jsonl"
    f.write_text(json.dumps({"text": item}, ensure_ascii=False) + "\n")
    idx = build_index([], extra_files=[str(f)])
    assert idx.matches("今天的作业：" + item.replace("，", " ") + "答案是八个。")[0].item == "zh/1"
    assert idx.matches("今天天气很好，我们一起去公园散步吧。") == []


@pytest.fixture(scope="module")
def builtin_index(shared_data):
    return build_index(benchmarks_dir=str(shared_data / "benchmarks"))


def test_builtin_benchmarks(builtin_index, shared_data):
    s = builtin_index.stats["benchmarks"]
    assert s["gsm8k"]["items"] == 1319 and s["humaneval"]["items"] == 164 and s["bbh"]["items"] > 6000
    with open(shared_data / "benchmarks" / "gsm8k" / "test.jsonl") as fh:
        rows = [json.loads(next(fh)) for _ in range(3)]
    q = rows[2]["question"]
    assert [m.item for m in builtin_index.matches("Homework:\n" + q + "\nThanks!")] == ["gsm8k/test/2"]
    assert builtin_index.matches("  ".join(q.upper().split()))[0].item == "gsm8k/test/2"
    assert builtin_index.matches("The weather today is sunny with a light breeze from the west, "
                                 "and the forecast for tomorrow promises more of the same.") == []
