"""A multi-shard Parquet output, whose shards carry different signals and metadata, loads
unchanged with pyarrow.dataset, HF datasets, Polars, DuckDB and Ray Data."""

import json
import os

import pytest

from datamill import Pipeline
from datamill.io.parquet_schema import conform_table, unify_schemas

ZH = "今天天气很好，我们一起去公园散步，看看湖边的柳树和刚刚开放的桃花。"
EN = "Plain training text about rivers, towns and the long history of trade along the water. "


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    """Three shards whose records carry different signal and metadata keys and types; MinHash
    adds cluster signals to some records only; a broken line is quarantined and dropped
    records are kept, so the run's side outputs sit beside the records."""
    from datamill.steps.dedup.exact import ExactDedup
    from datamill.steps.dedup.minhash import MinHashDedup

    base = tmp_path_factory.mktemp("readers")
    inp = base / "in"
    inp.mkdir()
    shards = [
        [{"id": "a0", "text": EN * 3, "signals": {"pii_ips": 2, "pii_emails": 0}, "lang_score": 1},
         {"id": "a1", "text": ZH * 3, "signals": {"pii_ips": 0}}],
        [{"id": "b0", "text": EN * 3 + " Extra words here.", "signals": {"toxicity": 0.1}},
         {"id": "b1", "text": "A short distinct English text about railway timetables.",
          "signals": {"quality": {"score": 0.7}}, "lang_score": 0.93, "tags": ["news", "en"]}],
        [{"id": "c0", "text": ZH * 3, "source_url": "http://example.cn/1"},   # exact duplicate of a1
         {"id": "c1", "text": "短文本，只有一句。", "signals": {"pii_ips": 1}, "tags": []}],
    ]
    for s, rows in enumerate(shards):
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if s == 2:
            body += "{broken json\n"
        (inp / f"part-{s}.jsonl").write_text(body, encoding="utf-8")
    out = base / "out"
    stats = Pipeline([ExactDedup(), MinHashDedup(threshold=0.7)], output_format="parquet").run(
        [str(inp)], str(out), keep_dropped=True)
    return out, stats


def _ids(rows):
    return sorted(r["id"] for r in rows)


EXPECTED = ["a0", "a1", "b1", "c1"]  # c0 is an exact and b0 a near duplicate


def test_every_part_has_one_schema(output):
    import pyarrow.parquet as pq

    out, stats = output
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 3
    schemas = [pq.read_schema(p) for p in parts]
    assert all(s.equals(schemas[0]) for s in schemas)
    signals = schemas[0].field("signals").type
    assert {"pii_ips", "pii_emails", "quality", "minhash_dedup"} <= {f.name for f in signals}
    assert stats["output"]["schema"]["rewritten"] >= 2
    # run metadata lives apart from the records
    assert sorted(os.listdir(out)) == [".datamill"] + [p.name for p in parts]
    assert (out / ".datamill" / "stats.json").exists() and list((out / ".datamill" / "quarantine").iterdir())
    assert list((out / ".datamill" / "dropped").iterdir())


def test_pyarrow_dataset(output):
    import pyarrow.dataset as ds

    out, _ = output
    table = ds.dataset(str(out), format="parquet").to_table()
    assert _ids(table.to_pylist()) == EXPECTED
    by_id = {r["id"]: r for r in table.to_pylist()}
    assert by_id["a0"]["signals"]["pii_ips"] == 2 and by_id["a0"]["signals"]["minhash_dedup"]["cluster_size"] >= 1
    assert by_id["a1"]["text"].startswith("今天")


def test_hf_datasets(output, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out, _ = output
    for ds in (datasets.load_dataset("parquet", data_dir=str(out), split="train", cache_dir=str(tmp_path / "a")),
               datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "b"))):
        assert _ids(ds) == EXPECTED
        assert "pii_ips" in ds.features["signals"]


def test_polars(output):
    pl = pytest.importorskip("polars")
    out, _ = output
    df = pl.read_parquet(str(out / "*.parquet"))
    assert sorted(df["id"].to_list()) == EXPECTED
    ips = dict(zip(df["id"].to_list(), df["signals"].struct.field("pii_ips").to_list()))
    assert ips["a0"] == 2 and ips["b1"] is None


def test_duckdb(output):
    duckdb = pytest.importorskip("duckdb")
    out, _ = output
    for source in (f"read_parquet('{out}/*.parquet')", f"read_parquet('{out}')"):
        rows = duckdb.sql(f"SELECT id, signals.pii_ips AS ips, metadata.lang_score AS ls FROM {source} "
                          f"ORDER BY id").fetchall()
        assert [r[0] for r in rows] == EXPECTED
        assert rows[0][1] == 2 and rows[0][2] == 1.0


def test_ray_data(output):
    ray = pytest.importorskip("ray")
    out, _ = output
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", object_store_memory=100 * 1024 * 1024)
    try:
        rows = ray.data.read_parquet(str(out)).take_all()
    finally:
        ray.shutdown()
    assert _ids(rows) == EXPECTED


def test_unify_keeps_values_and_widens_types():
    import pyarrow as pa

    t1 = pa.Table.from_pylist([{"id": "x", "m": {"n": 1, "l": ["a"]}, "s": None}])
    t2 = pa.Table.from_pylist([{"id": "y", "m": {"n": 2.5, "k": {"deep": True}}, "s": {"v": 1}}])
    t3 = pa.Table.from_pylist([{"id": "z", "m": {"n": "text"}, "s": None}])
    schema = unify_schemas([t1.schema, t2.schema, t3.schema])
    rows = [r for t in (t1, t2, t3) for r in conform_table(t, schema).to_pylist()]
    assert rows[0]["m"] == {"n": "1", "l": ["a"], "k": None} and rows[0]["s"] is None
    assert rows[1]["m"] == {"n": "2.5", "l": None, "k": {"deep": True}} and rows[1]["s"] == {"v": 1}
    assert rows[2]["m"]["n"] == "text"
    ints = unify_schemas([pa.schema([("n", pa.int32())]), pa.schema([("n", pa.float32())])])
    assert ints.field("n").type == pa.float64()


def test_unify_parts_rewrites_row_group_by_row_group(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datamill.io.parquet_schema import unify_parts

    a, b = tmp_path / "part-00000.parquet", tmp_path / "part-00001.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": str(i), "signals": {"x": i}} for i in range(250)]), a,
                   row_group_size=100)
    pq.write_table(pa.Table.from_pylist([{"id": "z", "signals": {"y": "中文"}}]), b)
    info = unify_parts([str(a), str(b)], row_group_size=100)
    assert info == {"parts": 2, "rewritten": 2, "columns": 2}
    assert pq.read_schema(a).equals(pq.read_schema(b))
    assert pq.ParquetFile(a).metadata.num_row_groups == 3
    rows = pq.read_table(a).to_pylist()
    assert rows[249] == {"id": "249", "signals": {"x": 249, "y": None}}
    assert unify_parts([str(a), str(b)])["rewritten"] == 0  # idempotent: a rerun rewrites nothing
