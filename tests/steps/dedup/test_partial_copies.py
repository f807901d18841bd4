"""Partial copies (issue #9): MinHash containment finds an excerpt copied into a shorter text,
which Jaccard misses; paragraph/line dedup is robust to re-wrapping. English and Chinese."""

from __future__ import annotations

import json
import random
import textwrap

import pytest

pytest.importorskip("rensa")

from datamill.core.stats import StepStats  # noqa: E402
from datamill.core.step import StepContext  # noqa: E402
from datamill.steps.dedup.minhash import MinHashDedup  # noqa: E402
from datamill.steps.dedup.paragraph import ParagraphDedup, join_wrapped, split_units  # noqa: E402

from test_minhash import _articles, _clusters, _run, jaccard  # noqa: E402


def _excerpt(text: str, words: int, rng: random.Random) -> str:
    w = text.split()
    start = rng.randrange(0, max(1, len(w) - words))
    return " ".join(w[start:start + words])


@pytest.fixture(scope="module")
def partial(shared_data):
    rng = random.Random(11)
    arts = [a for a in _articles(shared_data) if len(a.split()) >= 450][:24]
    assert len(arts) >= 20
    rows = [{"id": f"src{i}", "text": a} for i, a in enumerate(arts[:12])]
    for i, a in enumerate(arts[:12]):
        # an "answer": 40 % of the source copied verbatim, inside the answerer's own words
        own = _excerpt(arts[12 + (i % (len(arts) - 12))], 30, rng)
        rows.append({"id": f"copy{i}", "text": own + " " + _excerpt(a, int(len(a.split()) * 0.4), rng)})
    return rows


def test_containment_finds_partial_copies_jaccard_misses(partial, tmp_path):
    src = {r["id"]: r["text"] for r in partial}
    assert max(jaccard(src[f"src{i}"], src[f"copy{i}"]) for i in range(12)) < 0.5
    kept, dropped, _ = _run(partial, tmp_path, "jac", threshold=0.8)
    assert not dropped  # Jaccard at FineWeb's threshold: none of the partial copies
    kept, dropped, stats = _run(partial, tmp_path, "cont", threshold=0.8, similarity="containment",
                                keep="longest")
    clusters = _clusters(kept + dropped)
    for i in range(12):
        assert any({f"src{i}", f"copy{i}"} <= ids for ids in clusters.values()), i
    assert sorted(r["id"] for r in dropped) == sorted(f"copy{i}" for i in range(12))
    assert all(len(ids) == 2 for ids in clusters.values())  # no source joined to another
    g = stats["globals"]["minhash_dedup"]
    assert g["verified_pairs"] == 12 and g["rows"] < 8  # tuned for the low Jaccard of such pairs


def test_containment_chinese(shared_data, tmp_path):
    lines = (shared_data / "langid" / "lingua" / "sentences" / "zh.txt").read_text("utf-8").splitlines()
    docs = ["".join(lines[i:i + 25]) for i in range(0, 500, 25)]  # 20 "articles" of ~25 sentences
    rng = random.Random(2)
    rows = [{"id": f"z{i}", "text": d, "metadata": {"language": "zh"}} for i, d in enumerate(docs)]
    for i in range(8):
        d = docs[i]
        start = rng.randrange(0, len(d) // 2)
        part = d[start:start + len(d) * 2 // 5]
        rows.append({"id": f"c{i}", "text": "我认为：" + part + "以上是我的回答。"})
    kept, dropped, _ = _run(rows, tmp_path, "zh", threshold=0.8, similarity="containment", keep="longest")
    assert sorted(r["id"] for r in dropped) == sorted(f"c{i}" for i in range(8))
    clusters = _clusters(kept + dropped)
    assert all(len(ids) == 2 for ids in clusters.values()) and len(clusters) == 8


def test_containment_parameters():
    with pytest.raises(ValueError):
        MinHashDedup(similarity="cosine")
    with pytest.raises(ValueError):
        MinHashDedup(similarity="containment", min_size_ratio=0)
    j, c = MinHashDedup(threshold=0.8), MinHashDedup(threshold=0.8, similarity="containment")
    assert c.rows < j.rows and c.bands * c.rows <= 112


# --- re-wrapping --------------------------------------------------------------------------

PARA = ("The committee met on Tuesday to discuss the budget for the coming year, and after a long "
        "debate it agreed to fund the new library wing. Members also asked for a report on the "
        "state of the roads before the winter.")
ZH_PARA = ("委员会周二开会讨论了明年的预算，经过长时间的辩论，同意为图书馆新楼提供资金。"
           "委员们还要求在冬季来临之前提交一份关于道路状况的报告。")


def test_join_wrapped_lines():
    for width in (40, 60, 80):
        wrapped = textwrap.fill(PARA, width)
        units = [c for _, _, c in join_wrapped(split_units(wrapped, "line"), wrapped) if c]
        assert units == [PARA.split(". ")[0] + ".", PARA.split(". ", 1)[1]]
    text = "a b\nc. d e\n\nf"
    spans = join_wrapped(split_units(text, "line"), text)
    assert [c for _, _, c in spans] == ["a b c.", "d e", "", "f"]
    assert "".join(text[s:e] for s, e, _ in spans) == text  # the spans still cover the text


def _apply(step, rows):
    import tempfile

    step.ensure_setup()
    with tempfile.TemporaryDirectory() as d:
        step.run_stage("map", 0, d, 1, rows)
        for st in step.stages()[1:]:
            for i in range(max(1, st.partitions)):
                step.run_stage(st.name, i, d, 1)
        return list(step.apply_shard(rows, 0, d, StepStats(step.label, step.kind), StepContext()))


@pytest.mark.parametrize("para", [PARA, ZH_PARA])
def test_rewrapped_copy_is_found(para):
    filler = "Another paragraph that only this document has, long enough to stay."
    first = {"id": "a", "text": para + "\n\n" + filler}
    wrapped = textwrap.fill(para, 30) if " " in para else "\n".join(para[i:i + 20] for i in range(0, len(para), 20))
    second = {"id": "b", "text": "Intro of the second page, its own words.\n\n" + wrapped}
    for step in (ParagraphDedup(unit="paragraph", normalize=False, min_chars=0),
                 ParagraphDedup(unit="line", rewrap=True, min_chars=0)):
        out = _apply(step, [json.loads(json.dumps(first)), json.loads(json.dumps(second))])
        assert out[0]["text"] == first["text"], step
        assert out[1]["text"] == "Intro of the second page, its own words.", (step, out[1]["text"])
    # without rewrap, line units miss the re-wrapped copy
    out = _apply(ParagraphDedup(unit="line", min_chars=0), [dict(first), dict(second)])
    assert wrapped in out[1]["text"]
