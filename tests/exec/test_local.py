import gzip
import json
import sys
from pathlib import Path

import pytest

from datamill.core.errors import DatamillError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_pipeline import pipeline  # noqa: E402

sys.path.insert(0, str(HERE.parent))
from killing import kill_mid_first_stage  # noqa: E402
from synthetic import write_shards  # noqa: E402


def make_shards(folder: Path, n_shards: int = 8, copies: int = 3) -> Path:
    """20 synthetic English and Chinese documents split over shards, with exact duplicates
    planted across shards (the tests make their own data: see tests/synthetic.py)."""
    return write_shards(folder, n_docs=20, n_shards=n_shards, copies=copies)


def read_output(out: Path) -> list[dict]:
    records = []
    for path in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            records.extend(json.loads(line) for line in fh)
    return records


def test_run_dedups_and_writes_stats(tmp_path):
    inputs = make_shards(tmp_path / "in")
    stats = pipeline(0.0).run([str(inputs)], str(tmp_path / "out"), workers=1)
    records = read_output(tmp_path / "out")
    texts = [r["text"] for r in records]
    assert len(texts) == len(set(texts)) and 0 < len(texts) <= 20
    assert stats["output"]["records"] == len(records)
    assert stats["reader"]["read"] == 60
    dedup = next(s for s in stats["steps"] if s["step"] == "exact_dedup")
    assert dedup["dropped"]["exact_duplicate"] == dedup["in"] - len(set(texts))
    on_disk = json.loads((tmp_path / "out" / ".datamill" / "stats.json").read_text())
    assert on_disk["output"]["records"] == len(records)
    for r in records:
        assert r["text"] == r["text"].upper() and r["metadata"]["source"].endswith(".jsonl")


def test_workers_give_the_same_output(tmp_path):
    inputs = make_shards(tmp_path / "in")
    pipeline(0.0).run([str(inputs)], str(tmp_path / "one"), workers=1)
    pipeline(0.0).run([str(inputs)], str(tmp_path / "two"), workers=2)
    assert read_output(tmp_path / "one") == read_output(tmp_path / "two")


def test_sigkill_then_rerun_gives_the_same_output(tmp_path):
    inputs = make_shards(tmp_path / "in", n_shards=8, copies=6)
    reference = tmp_path / "reference"
    pipeline(0.0).run([str(inputs)], str(reference), workers=1)

    out = tmp_path / "killed"
    kill_mid_first_stage([str(HERE / "run_pipeline.py"), str(inputs), str(out), "2", "0.5"], out)
    assert not (out / ".datamill" / "stats.json").exists()

    stats = pipeline(0.5).run([str(inputs)], str(out), workers=2)
    assert stats["resumed_tasks"] >= 2
    assert read_output(out) == read_output(reference)
    assert stats["reader"]["read"] == json.loads((reference / ".datamill" / "stats.json").read_text())["reader"]["read"]
    assert not list(out.rglob(".tmp-*")), "no temporary files may be left behind"


def test_output_of_another_run_is_refused(tmp_path):
    inputs = make_shards(tmp_path / "in", n_shards=2, copies=1)
    pipeline(0.0).run([str(inputs)], str(tmp_path / "out"))
    from datamill import Pipeline
    from datamill.steps.mix.sample import Sample

    with pytest.raises(DatamillError, match="different recipe"):
        Pipeline([Sample(rate=0.5)]).run([str(inputs)], str(tmp_path / "out"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("not ours")
    with pytest.raises(DatamillError, match="not a datamill run"):
        Pipeline([Sample(rate=0.5)]).run([str(inputs)], str(tmp_path / "other"))


def test_parquet_output_loads_with_pyarrow(tmp_path):
    import pyarrow.dataset as ds

    from datamill import Pipeline
    from datamill.steps.mix.sample import Sample

    inputs = make_shards(tmp_path / "in", n_shards=2, copies=1)
    Pipeline([Sample(rate=1.0)], output_format="parquet").run([str(inputs)], str(tmp_path / "out"))
    files = sorted(str(p) for p in (tmp_path / "out").glob("part-*.parquet"))
    table = ds.dataset(files, format="parquet").to_table()
    assert table.num_rows == 20 and {"id", "text", "metadata"} <= set(table.column_names)


def test_dropped_side_output(tmp_path):
    from datamill import Pipeline
    from datamill.steps.mix.sample import Sample

    inputs = make_shards(tmp_path / "in", n_shards=2, copies=1)
    stats = Pipeline([Sample(rate=0.5, seed=1)]).run([str(inputs)], str(tmp_path / "out"), keep_dropped=True)
    dropped = []
    for path in (tmp_path / "out" / ".datamill" / "dropped").glob("*.jsonl.gz"):
        with gzip.open(path, "rt") as fh:
            dropped.extend(json.loads(line) for line in fh)
    assert len(dropped) == sum(stats["steps"][0]["dropped"].values()) > 0
    assert {d["drop_reason"] for d in dropped} == {"sampled_out"} and dropped[0]["dropped_by"] == "sample"
