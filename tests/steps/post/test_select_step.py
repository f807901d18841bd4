"""``kcenter_select``: budgeted selection as a global step, on the local executor with several
shards and workers, Chinese and English prompts (ngram-hash embeddings keep the test fast; the
default model is covered by the selection benchmark)."""

from __future__ import annotations

import gzip
import json

import pytest

from datamill.core.pipeline import Pipeline
from datamill.core.step import REGISTRY
from datamill.steps.post.select import KCenterSelect

TOPICS = ["李白的诗", "长城的历史", "如何学习 Python", "量子力学入门", "北京的美食", "Explain photosynthesis",
          "Write a haiku about rain", "How do I sort a list in Python?"]


def _rows(n_per=6):
    rows = []
    for t, topic in enumerate(TOPICS):
        for k in range(n_per):
            rows.append({"id": f"t{t}-{k}", "kind": "sft", "metadata": {}, "messages": [{"role": "user", "content": f"{topic}：问题 {k}" if t < 5
                                                           else f"{topic} (variant {k})"},
                                                          {"role": "assistant", "content": f"回答 {t}-{k}"}],
                         "signals": {"quality_score": float(k)}})
    return rows


def _run(tmp_path, step, workers=1, name="out"):
    inp = tmp_path / "in"
    if not inp.exists():
        inp.mkdir()
        rows = _rows()
        for s in range(3):
            with open(inp / f"part-{s}.jsonl", "w", encoding="utf-8") as fh:
                for r in rows[s::3]:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    out = tmp_path / name
    stats = Pipeline([step], records="datamill").run([str(inp)], str(out), workers=workers, keep_dropped=True)
    kept = [json.loads(l) for p in sorted(out.glob("part-*")) for l in
            (gzip.open(p, "rt") if p.suffix == ".gz" else open(p, encoding="utf-8"))]
    return kept, stats


def test_kcenter_select_keeps_the_budget_and_covers_every_topic(tmp_path):
    kept, stats = _run(tmp_path, KCenterSelect(budget=8, embed_model="ngram-hash"))
    assert len(kept) == 8
    topics = {r["id"].split("-")[0] for r in kept}
    assert len(topics) >= 6                           # k-center spreads over the topics
    ranks = sorted(r["signals"]["selection"]["rank"] for r in kept)
    assert ranks == list(range(1, 9))
    assert all("farthest" in r["signals"]["selection"]["why"] or r["signals"]["selection"]["rank"] == 1 for r in kept)
    g = stats["globals"]["kcenter_select"]
    assert g["kept"] == 8 and g["selected_from"] == g["records"] == len(TOPICS) * 6


def test_same_result_with_two_workers_and_quality_method(tmp_path):
    a, _ = _run(tmp_path, KCenterSelect(budget=8, embed_model="ngram-hash"), workers=1, name="a")
    b, _ = _run(tmp_path, KCenterSelect(budget=8, embed_model="ngram-hash"), workers=2, name="b")
    assert sorted(r["id"] for r in a) == sorted(r["id"] for r in b)
    q, _ = _run(tmp_path, KCenterSelect(budget=4, method="quality", embed_model="ngram-hash"), name="q")
    assert {r["id"].split("-")[1] for r in q} == {"5"}


def test_parameters_are_checked():
    assert REGISTRY["kcenter_select"] is KCenterSelect
    with pytest.raises(ValueError, match="budget"):
        KCenterSelect().stages()
    with pytest.raises(ValueError, match="method"):
        KCenterSelect(budget=3, method="best")
