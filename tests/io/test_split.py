"""Large inputs become several tasks: JSONL by line, WARC by record, Parquet by row group.
The parts read every record exactly once, and a run over split input (also a resumed one)
gives the same output as over whole files."""

import gzip
import json
import os
from pathlib import Path

import pytest

from datamill import Pipeline
from datamill.core.stats import ReadStats
from datamill.core.step import Transform, register
from datamill.io.formats import Shard, detect_format
from datamill.io.readers import Quarantine, read_shard
from datamill.io.split import split_shards

from test_ingest_faults import _record, _warc  # noqa: E402 - same folder


def _rows(n: int) -> list[dict]:
    out = []
    for i in range(n):
        text = (f"中文第{i}行：今天天气很好。" * (1 + i % 7)) if i % 3 == 0 else (f"English row {i}. " * (1 + i % 11))
        out.append({"id": f"r{i}", "text": text})
    return out


def _jsonl(path, rows):
    path.write_bytes(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows))


def _read_parts(path, split_bytes):
    whole = Shard(0, str(path), detect_format(str(path)), os.path.getsize(path))
    parts = split_shards([whole], split_bytes)
    records, entries = [], []
    for part in parts:
        stats = ReadStats()
        q = Quarantine(stats)
        records += list(read_shard(part, stats, q))
        entries += q.entries
    return parts, records, entries


@pytest.mark.parametrize("split_bytes", [1000, 1777, 4096])
def test_jsonl_parts_read_every_line_once(tmp_path, split_bytes):
    path = tmp_path / "big.jsonl"
    rows = _rows(300)
    _jsonl(path, rows)
    parts, records, entries = _read_parts(path, split_bytes)
    assert len(parts) > 3 and parts[0].start == 0 and parts[-1].end is None
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    assert [r["text"] for r in records] == [r["text"] for r in rows]
    assert not entries


def test_jsonl_part_quarantine_names_the_byte_offset(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = b"".join(json.dumps(r).encode() + b"\n" for r in _rows(100))
    path.write_bytes(good + b'{"id": "broken", "text": \n' + good)
    parts, records, entries = _read_parts(path, 2000)
    assert len(records) == 200
    assert [(e["kind"], e["offset"]) for e in entries] == [("malformed_json", len(good))]


def test_compressed_jsonl_is_not_split(tmp_path):
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in _rows(300))))
    parts, records, _ = _read_parts(path, 100)
    assert len(parts) == 1 and len(records) == 300


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_warc_parts_read_every_record_once(tmp_path, gz):
    path = tmp_path / ("big.warc.gz" if gz else "big.warc")
    recs = [_record(i, length_delta=17 if i == 9 else 0) for i in range(30)]
    offsets = _warc(path, recs, gz)
    parts, records, entries = _read_parts(path, -(-os.path.getsize(path) // 7))
    assert len(parts) == 7
    assert [r["metadata"]["url"].rsplit("/", 1)[1] for r in records] == [str(i) for i in range(30) if i != 9]
    assert [(e["kind"], e["offset"]) for e in entries] == [("warc_bad_content_length", offsets[9])]
    assert [r["metadata"]["offset"] for r in records] == [o for i, o in enumerate(offsets) if i != 9]


def test_parquet_parts_are_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows(1000)
    path = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100)
    parts, records, _ = _read_parts(path, os.path.getsize(path) // 4)
    assert len(parts) >= 3
    assert all(isinstance(p.start, int) for p in parts) and parts[-1].end is None
    assert [r["id"] for r in records] == [r["id"] for r in rows]


def _read_out(out):
    rows = []
    for p in sorted(os.listdir(out)):
        if p.startswith("part-"):
            with gzip.open(os.path.join(out, p), "rt", encoding="utf-8") as fh:
                rows += [json.loads(line) for line in fh]
    return rows


FAIL_ON = {"id": None}


@register("test_crash_once")
class CrashOnce(Transform):
    """Dies once on the record named in FAIL_ON: the run stops mid-way, as if killed."""

    def transform(self, record):
        if record["id"] == FAIL_ON["id"]:
            FAIL_ON["id"] = None
            raise SystemExit("killed")  # not an Exception: the task dies, no quarantine
        return record


def _pipeline():
    from datamill.steps.dedup.exact import ExactDedup

    return Pipeline([CrashOnce(), ExactDedup()], output_format="jsonl")


def test_split_run_resumes_exactly(tmp_path):
    rows = _rows(400) + [{"id": f"dup{i}", "text": r["text"]} for i, r in enumerate(_rows(50))]
    (tmp_path / "in").mkdir()
    _jsonl(tmp_path / "in" / "big.jsonl", rows)
    _jsonl(tmp_path / "in" / "small.jsonl", _rows(5))
    whole = _pipeline().run([str(tmp_path / "in")], str(tmp_path / "whole"), split_bytes=0)
    ref = _read_out(tmp_path / "whole")

    FAIL_ON["id"] = "r300"  # in a later part of big.jsonl
    with pytest.raises(SystemExit):
        _pipeline().run([str(tmp_path / "in")], str(tmp_path / "split"), split_bytes=3000)
    done = os.listdir(tmp_path / "split" / ".datamill" / "done")
    assert 0 < len(done)
    stats = _pipeline().run([str(tmp_path / "in")], str(tmp_path / "split"), split_bytes=3000)
    assert stats["resumed_tasks"] == len(done)
    assert len(stats["output"]["files"]) > 3
    got = _read_out(tmp_path / "split")
    assert [(r["id"], r["text"]) for r in got] == [(r["id"], r["text"]) for r in ref]
    assert stats["steps"][1]["dropped"] == whole["steps"][1]["dropped"] == {"exact_duplicate": 55}
    assert stats["reader"]["files"] == 2 and len(stats["inputs"]) == 2


def test_post_training_input_is_not_split(tmp_path):
    rows = [{"instruction": f"问题 {i}", "output": f"answer {i} " * 20} for i in range(200)]
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    stats = Pipeline([], records="alpaca").run([str(path)], str(tmp_path / "out"), split_bytes=2000)
    assert stats["output"]["records"] == 200 and len(stats["output"]["files"]) == 1


def test_auto_split_bytes_depends_on_sizes_only():
    from datamill.core.pipeline import AUTO_MIN_SPLIT, AUTO_MIN_TASKS, DEFAULT_SPLIT_BYTES
    from datamill.io.split import auto_split_bytes

    def shards(*sizes, fmt="warc", suffix=".warc.gz"):
        return [Shard(index=i, path=f"f{i}{suffix}", format=fmt, size=n) for i, n in enumerate(sizes)]

    mb = 1 << 20
    assert auto_split_bytes(shards(4 * mb, 4 * mb, 4 * mb, 4 * mb)) == AUTO_MIN_SPLIT  # floor
    assert auto_split_bytes(shards(18 * mb, 18 * mb, 18 * mb, 18 * mb)) == -(-72 * mb // AUTO_MIN_TASKS)
    assert auto_split_bytes(shards(320 * mb)) == 10 * mb  # one file: 32 parts
    assert auto_split_bytes(shards(100 << 30)) == DEFAULT_SPLIT_BYTES  # cap
    # files that cannot be entered in the middle do not count
    assert auto_split_bytes(shards(320 * mb, fmt="jsonl", suffix=".jsonl.gz")) == AUTO_MIN_SPLIT
    parts = split_shards(shards(18 * mb, 18 * mb), auto_split_bytes(shards(18 * mb, 18 * mb)))
    assert len(parts) == 18 and [p.index for p in parts] == list(range(18))  # 2 MB floor


def test_pipeline_plan_auto_and_explicit(tmp_path):
    f = tmp_path / "a.jsonl"
    line = '{"id": "%d", "text": "' + "x" * 100 + '"}\n'
    f.write_text("".join(line % i for i in range(200_000)))  # about 24 MB
    size = f.stat().st_size
    pipe = Pipeline([])
    n_auto = len(pipe.plan([str(f)], str(tmp_path / "o1")).shards)
    assert n_auto == -(-size // (2 << 20))  # 2 MB parts: 32 parts would be smaller than that
    assert len(pipe.plan([str(f)], str(tmp_path / "o2"), split_bytes=0).shards) == 1
    assert len(pipe.plan([str(f)], str(tmp_path / "o3"), split_bytes=4 << 20).shards) == -(-size // (4 << 20))
    with pytest.raises(Exception, match="split_bytes must be"):
        pipe.plan([str(f)], str(tmp_path / "o4"), split_bytes="lots")


def test_largest_tasks_start_first(tmp_path):
    """The executors start a stage's tasks largest first (by the file's size over its parts),
    so the last tasks to finish are small; an equal size keeps the plan's order."""
    from datamill.exec.tasks import PlanStage, largest_first

    sizes = {"small.jsonl": 1_000, "big.jsonl": 9_000, "mid.jsonl": 4_000}
    for name, n in sizes.items():
        (tmp_path / name).write_text("".join('{"text": "%s"}\n' % ("x" * 40) for _ in range(n // 50)))
    files = [str(tmp_path / n) for n in sizes]
    plan = Pipeline([]).plan(files, str(tmp_path / "o"), split_bytes=3_000)
    seg = next(s for s in plan.stages() if s.segment == 0)
    order = largest_first(plan, seg, list(range(seg.tasks)))
    paths = [Path(plan.shards[i].path).name for i in order]
    assert sorted(order) == list(range(seg.tasks))
    parts = {n: sum(Path(s.path).name == n for s in plan.shards) for n in sizes}
    assert parts["big.jsonl"] > parts["mid.jsonl"] > parts["small.jsonl"] == 1
    # big's parts (~2,400 bytes each), then mid's (~2,100), then small (~1,000)
    assert paths == [n for n in ("big.jsonl", "mid.jsonl", "small.jsonl") for _ in range(parts[n])]
    assert [plan.shards[i].index for i in order[:3]] == sorted(plan.shards[i].index for i in order[:3])
    # a stage that is not per shard keeps its order
    assert largest_first(plan, PlanStage("g", 3, glob=0), [2, 0, 1]) == [2, 0, 1]
