"""Versions load unchanged in DuckDB and Polars (through to_pyarrow_dataset())."""

import duckdb
import polars as pl

from datamill.catalog import Catalog


def test_duckdb_and_polars_read_a_version(tmp_path, run_output):
    _, _, out = run_output
    cat = Catalog(str(tmp_path / "cat"))
    cat.add("web", str(out))
    ds = cat.dataset("web@0")

    con = duckdb.connect()
    con.register("web", ds)
    n, zh = con.execute("SELECT count(*), count(*) FILTER (WHERE text LIKE '%图书馆%') FROM web").fetchone()
    assert n == 120 and zh > 0
    langs = dict(con.execute("SELECT metadata.language, count(*) FROM web GROUP BY 1").fetchall())
    assert langs == {"en": 80, "zh": 40}

    frame = pl.scan_pyarrow_dataset(ds).filter(pl.col("metadata").struct.field("language") == "zh").collect()
    assert frame.height == 40
    assert all("。" in t for t in frame["text"].to_list())
