"""The local executor honours what steps declare: batch size, memory, GPUs (spawned workers).
Synthetic data the test writes itself; no shared data needed."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resource_steps import NeedsGPU, NeedsMemory, WhereAmI  # noqa: E402

from datamill import Pipeline  # noqa: E402
from datamill.exec import local  # noqa: E402
from datamill.exec.local import LocalExecutor, gpu_shares  # noqa: E402


def write_shards(folder: Path, shards: int = 2, per_shard: int = 10) -> Path:
    folder.mkdir(parents=True)
    for s in range(shards):
        with open(folder / f"s{s}.jsonl", "w") as fh:
            for i in range(per_shard):
                fh.write(json.dumps({"id": f"{s}-{i}", "text": f"document {i} of shard {s}. 文档。"}) + "\n")
    return folder


def read(out: Path) -> list[dict]:
    import gzip

    rows = []
    for p in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(p, "rt") as fh:
            rows.extend(json.loads(line) for line in fh)
    return rows


def test_steps_see_at_most_their_batch_size(tmp_path):
    inp = write_shards(tmp_path / "in")
    Pipeline([WhereAmI()]).run([str(inp)], str(tmp_path / "out"), batch_size=10)
    rows = read(tmp_path / "out")
    assert len(rows) == 20
    assert sorted({r["signals"]["where_am_i"]["batch"] for r in rows}) == [1, 3]  # 10 = 3+3+3+1


def test_memory_limits_how_many_tasks_run_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "available_memory_mb", lambda: 1000.0)  # room for one 800 MB task
    inp = write_shards(tmp_path / "in")
    ex = LocalExecutor(workers=2, progress=False)
    plan = Pipeline([NeedsMemory(delay=0.3)]).plan([str(inp)], str(tmp_path / "out"))
    assert ex.plan_stage(plan, plan.stages()[0])["parallel"] == 1
    monkeypatch.setattr(local, "available_memory_mb", lambda: 64_000.0)
    assert ex.plan_stage(plan, plan.stages()[0])["parallel"] == 2


def test_memory_limit_is_obeyed_in_a_run(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "available_memory_mb", lambda: 1000.0)
    inp = write_shards(tmp_path / "in", shards=3, per_shard=3)
    Pipeline([NeedsMemory(delay=0.4)]).run([str(inp)], str(tmp_path / "out"), workers=2)
    spans = sorted({(r["signals"]["needs_memory"]["t0"], r["signals"]["needs_memory"]["t1"])
                    for r in read(tmp_path / "out")})
    assert len(spans) == 3
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert b0 >= a1  # one task at a time: never two batches in flight


def test_gpu_steps_run_in_spawned_workers_with_their_own_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    inp = write_shards(tmp_path / "in", shards=4, per_shard=2)
    Pipeline([NeedsGPU(delay=0.3)]).run([str(inp)], str(tmp_path / "out"), workers=2)
    tags = [r["signals"]["needs_gpu"] for r in read(tmp_path / "out")]
    assert len(tags) == 8 and {t["method"] for t in tags} == {"spawn"}
    by_pid = {}
    for t in tags:
        by_pid.setdefault(t["pid"], set()).add(t["cuda"])
    assert all(len(v) == 1 for v in by_pid.values())  # a worker keeps its GPU
    assert set().union(*by_pid.values()) <= {"0", "1"}
    if len(by_pid) == 2:
        assert set().union(*by_pid.values()) == {"0", "1"}


def test_gpu_step_without_gpus_runs_on_cpu_workers(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    inp = write_shards(tmp_path / "in", shards=2, per_shard=2)
    ex = LocalExecutor(workers=2, progress=False)
    plan = Pipeline([NeedsGPU()]).plan([str(inp)], str(tmp_path / "out"))
    how = ex.plan_stage(plan, plan.stages()[0])
    assert how["context"] == "fork" and "asks for 1 GPU but none is visible" in caplog.text


def test_gpu_shares():
    assert gpu_shares(["0", "1", "2", "3"], 1) == ["0", "1", "2", "3"]
    assert gpu_shares(["0", "1", "2", "3"], 2) == ["0,1", "2,3"]
    assert gpu_shares(["0", "1"], 0.5) == ["0", "0", "1", "1"]
    assert gpu_shares(["0"], 2) == ["0"]


def test_labels_survive_pickling_to_spawned_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    inp = write_shards(tmp_path / "in", shards=2, per_shard=2)
    Pipeline([NeedsGPU(), NeedsGPU()]).run([str(inp)], str(tmp_path / "out"), workers=2)
    rows = read(tmp_path / "out")
    assert all(set(r["signals"]) == {"needs_gpu", "needs_gpu#2"} for r in rows)
