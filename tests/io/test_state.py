"""The state store, and every global step run with its input, output and state on a local
path and on ``memory://`` (an fsspec file system with no local file behind it: a step that
reads its state with a local file function fails there, as it would on ``s3://``)."""

import gzip
import json
import uuid

import fsspec
import numpy as np
import pytest

from datamill import Pipeline
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, StepContext
from datamill.io.state import StateStore

FILLER = ("Plain training text about gardening, the weather in spring and keeping tomatoes "
          "healthy through a long dry summer without wasting water. ")
ZH = "今天天气很好，我们一起去公园散步，看看湖边的柳树和刚刚开放的桃花。"
BENCH = ("A farmer has 17 sheep and buys 5 more at the market each week for four weeks; "
         "how many sheep does the farmer own at the end of the month?")


@pytest.fixture(params=["local", "memory"])
def root(request, tmp_path):
    """A base folder for input, output and state: a local path or a memory:// URL."""
    if request.param == "local":
        yield str(tmp_path)
        return
    base = f"memory://datamill-test-{uuid.uuid4().hex[:8]}"
    yield base
    fs = fsspec.filesystem("memory")
    if fs.exists(base):
        fs.rm(base, recursive=True)


def _rows():
    """Three shards: exact duplicates across shards, a near duplicate, shared boilerplate
    lines, a contaminated record, Chinese and English, short and long."""
    boiler = "Subscribe to our newsletter for weekly updates and special offers from the shop."
    docs = [
        {"id": "a", "text": FILLER * 3 + "\n" + boiler},
        {"id": "b", "text": "Short English text, said once."},
        {"id": "zh-1", "text": ZH * 4 + "\n" + boiler},
        {"id": "a-copy", "text": FILLER * 3 + "\n" + boiler},            # exact duplicate of a
        {"id": "near", "text": FILLER * 3 + "\n" + boiler + " Extra."},  # near duplicate of a
        {"id": "zh-copy", "text": ZH * 4 + "\n" + boiler},               # exact duplicate of zh-1
        {"id": "leak", "text": "Some words first.\n" + BENCH},
        {"id": "zh-short", "text": "短文本。"},
        {"id": "c", "text": "Another distinct document about trains and timetables in the north."},
    ]
    return [docs[0:3], docs[3:6], docs[6:9]]


def _write_inputs(base: str) -> str:
    folder = f"{base}/in"
    fs, path = fsspec.core.url_to_fs(folder)
    fs.makedirs(path, exist_ok=True)
    for s, rows in enumerate(_rows()):
        with fsspec.open(f"{folder}/part-{s}.jsonl", "wb") as fh:
            fh.write(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows))
    return folder


def _read_output(out: str) -> list[dict]:
    fs, path = fsspec.core.url_to_fs(out)
    rows = []
    for p in sorted(fs.ls(path, detail=False)):
        if p.rsplit("/", 1)[-1].startswith("part-"):
            with fs.open(p, "rb") as fh:
                rows += [json.loads(line) for line in gzip.decompress(fh.read()).splitlines()]
    return rows


def _bench_file(tmp_path) -> str:
    path = tmp_path / "bench.jsonl"
    path.write_text(json.dumps({"id": "q0", "problem": BENCH}) + "\n")
    return str(path)


def _steps(name: str, tmp_path):
    from datamill.steps.decontam.step import Decontaminate
    from datamill.steps.dedup.exact import ExactDedup
    from datamill.steps.dedup.minhash import MinHashDedup
    from datamill.steps.dedup.paragraph import ParagraphDedup

    return {
        "exact_dedup": lambda: ExactDedup(),
        "minhash_dedup": lambda: MinHashDedup(threshold=0.7),
        "paragraph_dedup_exact": lambda: ParagraphDedup(method="exact", min_chars=0, partitions=2),
        "paragraph_dedup_bloom": lambda: ParagraphDedup(method="bloom", min_chars=0),
        "decontaminate": lambda: Decontaminate(benchmarks=[], extra_files=[_bench_file(tmp_path)],
                                               extra_field="problem", ngram=8),
    }[name]()


EXPECTED_DROPS = {
    "exact_dedup": {"exact_duplicate": 2},
    "minhash_dedup": {"near_duplicate": 3},
    "paragraph_dedup_exact": {},
    "paragraph_dedup_bloom": {},
    "decontaminate": {"contaminated": 1},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_DROPS))
def test_global_step_runs_on_local_and_memory_storage(root, name, tmp_path):
    inputs = _write_inputs(root)
    out = f"{root}/out"
    stats = Pipeline([_steps(name, tmp_path)]).run([inputs], out, workers=1)
    step = stats["steps"][0]
    assert step["in"] == 9
    assert step["dropped"] == EXPECTED_DROPS[name]
    assert step["out"] == 9 - sum(EXPECTED_DROPS[name].values())
    rows = _read_output(out)
    assert len(rows) == step["out"]
    ids = {r["id"] for r in rows}
    if name == "exact_dedup":
        assert ids == {"a", "b", "zh-1", "near", "leak", "zh-short", "c"}
    if name == "decontaminate":
        assert "leak" not in ids
    if name.startswith("paragraph"):
        # the boilerplate line is kept in its first record and cut from every later one
        by_id = {r["id"]: r["text"] for r in rows}
        assert "Subscribe" in by_id["a"] and "Subscribe" not in by_id["zh-1"]
        assert ZH in by_id["zh-1"]
    # the state went where the output is: on memory:// nothing of it touched the local disk
    fs, path = fsspec.core.url_to_fs(f"{out}/.datamill/state")
    assert fs.ls(path, detail=False)


def test_same_output_on_both_storages(tmp_path):
    """Local and memory:// runs of a multi-stage pipeline give identical records."""
    outs = []
    for base in (str(tmp_path / "local"), f"memory://datamill-test-{uuid.uuid4().hex[:8]}"):
        inputs = _write_inputs(base)
        from datamill.steps.dedup.exact import ExactDedup
        from datamill.steps.dedup.minhash import MinHashDedup

        Pipeline([ExactDedup(), MinHashDedup(threshold=0.7)]).run([inputs], f"{base}/out", workers=1)
        outs.append([(r["id"], r["text"], r["signals"]) for r in _read_output(f"{base}/out")])
    assert outs[0] == outs[1] and len(outs[0]) == 6


def test_semantic_dedup_state_on_memory(monkeypatch):
    """Semantic dedup's stages on memory:// with synthetic vectors (no model needed)."""
    from datamill.steps.dedup.semantic import SemanticDedup

    state = f"memory://datamill-test-{uuid.uuid4().hex[:8]}/state"
    store = StateStore(state)
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 16)).astype(np.float32)
    shards = [np.vstack([base[:3], base[0:1] + 1e-4]), np.vstack([base[3:], base[1:2]])]
    for s, emb in enumerate(shards):
        store.save_npy(f"emb-{s:05d}.npy", emb)
        store.save_npz(f"meta-{s:05d}.npz", valid=np.ones(len(emb), dtype=bool),
                       ids=np.array([f"{s}-{i}" for i in range(len(emb))]))
    step = SemanticDedup(threshold=0.95, partitions=2, n_clusters=2, kmeans_backend="numpy")
    for st in step.stages():
        if st.name == "embed":
            continue
        n = {"partition": st.partitions, "single": 1, "shard": 2}[st.kind]
        for i in range(n):
            step.run_stage(st.name, i, state, 2, None)
    stats, ctx = StepStats(step.label, step.kind), StepContext(keep_dropped=True)
    kept = [list(step.apply_shard(({"id": f"{s}-{i}", "text": "x"} for i in range(len(shards[s]))),
                                  s, state, stats, ctx)) for s in range(2)]
    assert stats.dropped == {"semantic_duplicate": 2}
    assert stats.n_in == 8 and stats.n_out == 6
    assert [r["id"] for r in kept[0]] == ["0-0", "0-1", "0-2"]
    assert [d["drop_reason"] for d in ctx.dropped] == ["semantic_duplicate"] * 2


# --- the store itself --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["local", "memory"])
def test_store_round_trips(kind, tmp_path):
    root = str(tmp_path / "s") if kind == "local" else f"memory://datamill-test-{uuid.uuid4().hex[:8]}/s"
    store = StateStore(root)
    arr = np.arange(12, dtype=np.uint64).reshape(3, 4)
    store.save_npy("a.npy", arr)
    assert (store.load_npy("a.npy") == arr).all()
    assert (store.load_npy("a.npy", mmap=True) == arr).all()
    store.save_npz("b.npz", x=arr, y=np.array(["中文", "en"]))
    z = store.load_npz("b.npz")
    assert z["y"].tolist() == ["中文", "en"]
    with store.writer("c.u32") as fh:
        fh.write(np.arange(5, dtype=np.uint32).tobytes())
    assert store.load_raw("c.u32", np.uint32, mmap=True).tolist() == [0, 1, 2, 3, 4]
    store.write_json("d.json", {"k": "值"})
    assert store.read_json("d.json") == {"k": "值"}
    assert store.exists("d.json") and not store.exists("nope.json")
    assert (store.local_path("a.npy") is not None) == (kind == "local")
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        store.load_npy("nope.npy")
    # an interrupted write leaves nothing under the final name
    with pytest.raises(RuntimeError):
        with store.writer("e.bin") as fh:
            fh.write(b"half")
            raise RuntimeError("killed")
    assert not store.exists("e.bin")


def test_base_class_counts_drops():
    class DropOdd(GlobalStep):
        name = "drop_odd"

        def decide_shard(self, records, shard, state_dir, stats):
            for i, r in enumerate(records):
                yield r, ("odd" if i % 2 else None)

    stats, ctx = StepStats("drop_odd", "global"), StepContext(keep_dropped=True)
    out = list(DropOdd().apply_shard(({"id": str(i)} for i in range(5)), 0, "unused", stats, ctx))
    assert [r["id"] for r in out] == ["0", "2", "4"]
    assert (stats.n_in, stats.n_out, dict(stats.dropped)) == (5, 3, {"odd": 2})
    assert [d["drop_reason"] for d in ctx.dropped] == ["odd", "odd"]
