import gzip
import os
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from datamill.catalog import Catalog
from datamill.catalog.diff import diff
from datamill.catalog.graph import format_lineage, lineage_graph
from datamill.core.errors import DatamillError
from datamill.core.pipeline import Pipeline
from datamill.steps.quality.language_rules import record_language

from catalog_docs import RECIPE, write_docs


def _ids(cat, ref):
    return sorted(cat.dataset(ref).to_table(columns=["id"]).column("id").to_pylist())


def test_add_run_output_records_lineage(tmp_path, run_output):
    recipe, src, out = run_output
    cat = Catalog(str(tmp_path / "cat"))
    v = cat.add("web", str(out), recipe=str(recipe), inputs=[str(src)])
    assert v.version == 0 and v.rows == 120
    doc = v.lineage
    assert doc["recipe"]["text"] == RECIPE
    assert len(doc["recipe"]["sha256"]) == 64
    [entry] = doc["inputs"]
    assert entry["path"] == str(src) and entry["bytes"] == os.path.getsize(src) and len(entry["xxh3_128"]) == 32
    assert doc["stats"]["steps"][0]["step"] == "language_id"
    assert doc["datamill_version"] and doc["who"] and doc["when"].startswith(str(datetime.now(timezone.utc).year))
    table = cat.dataset("web@0").to_table()
    rows = {r["id"]: r for r in table.to_pylist()}
    assert record_language(rows["doc-0"], None) == "zh"  # Chinese survives the round trip
    assert rows["doc-0"]["text"] == orjson.loads(open(src, "rb").readline())["text"]
    assert rows["doc-1"]["signals"]  # signals kept as a struct (queryable in DuckDB/Polars)
    assert "zstd" in cat.files("web@0")[0]


def test_versions_by_number_tag_and_timestamp(tmp_path, run_output):
    _, src, out = run_output
    cat = Catalog(str(tmp_path / "cat"))
    cat.add("web", str(out))
    first = cat.history("web")[0].timestamp
    time.sleep(1.1)
    half = tmp_path / "half.jsonl"
    half.write_bytes(b"".join(open(src, "rb").readlines()[:50]))
    cat.add("web", str(half), message="first 50")
    assert [v.version for v in cat.history("web")] == [1, 0]
    assert len(_ids(cat, "web")) == 50 and len(_ids(cat, "web@0")) == 120
    cat.tag("web@0", "release-1")
    assert cat.resolve("web@release-1") == ("web", 0)
    assert cat.resolve(f"web@{(first + timedelta(milliseconds=500)).isoformat()}") == ("web", 0)
    assert cat.resolve(f"catalog://web@{datetime.now(timezone.utc).isoformat()}") == ("web", 1)
    assert cat.version("web@1").lineage["message"] == "first 50"
    with pytest.raises(DatamillError, match="already names web@0"):
        cat.tag("web@1", "release-1")
    cat.tag("web@1", "release-1", force=True)
    assert cat.resolve("web@release-1") == ("web", 1)


def test_diff_counts_added_removed_changed(tmp_path):
    cat = Catalog(str(tmp_path / "cat"))
    a = write_docs(tmp_path / "a.jsonl", n=100)
    cat.add("d", str(a))
    rows = [orjson.loads(line) for line in open(a, "rb")]
    rows = rows[10:]  # 10 removed
    rows[0]["text"] += " 改了。"  # 1 text changed (Chinese edit)
    rows[1]["url"] = "https://moved.example/"  # 1 changed outside the text
    rows += [{"id": f"new-{i}", "text": f"A new document number {i} about the river.", "url": None} for i in range(7)]
    b = tmp_path / "b.jsonl.gz"
    with gzip.open(b, "wb") as fh:
        fh.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    cat.add("d", str(b))
    d = diff(cat, "d@0", "d@1")["records"]
    assert (d["records_a"], d["records_b"]) == (100, 97)
    assert (d["added"], d["removed"], d["changed"], d["text_changed"], d["unchanged"]) == (7, 10, 2, 1, 88)
    assert d["examples"]["added"][0].startswith("new-")


def test_catalog_uri_as_pipeline_input_and_lineage_graph(tmp_path, run_output, monkeypatch):
    recipe, src, out = run_output
    root = str(tmp_path / "cat")
    monkeypatch.setenv("DATAMILL_CATALOG", root)
    cat = Catalog()
    cat.add("web", str(out), recipe=str(recipe), inputs=[str(src)])
    second = tmp_path / "out2"
    Pipeline.from_recipe(str(recipe)).run(["catalog://web@0"], str(second))
    v = cat.add("web-again", str(second), recipe=str(recipe), inputs=["catalog://web"])
    assert v.rows == 120 and v.lineage["inputs"] == [{"catalog": "web@0"}]
    # without the raw specs, files inside the catalog are recognised as NAME@V too
    v2 = cat.add("web-again", str(second))
    assert v2.lineage["inputs"] == [{"catalog": "web@0"}]
    graph = lineage_graph(cat, "web-again@0")
    assert ("web-again@0", "web@0") in graph["edges"] and ("web@0", str(src)) in graph["edges"]
    text = format_lineage(graph)
    assert "web@0" in text and str(src) in text and "xxh3_128" in text


def test_post_training_file_without_ids(tmp_path):
    rows = [{"instruction": "把这句话翻译成英文：你好", "input": "", "output": "Hello"},
            {"instruction": "Name a colour.", "input": "", "output": "Blue."}]
    path = tmp_path / "alpaca.json"
    path.write_bytes(orjson.dumps(rows))
    cat = Catalog(str(tmp_path / "cat"))
    cat.add("sft", str(path))
    cat.add("sft", str(path))
    d = diff(cat, "sft@0", "sft@1")["records"]
    assert d["records_b"] == 2 and d["unchanged"] == 2  # content ids are stable


def test_clear_errors(tmp_path, run_output):
    _, _, out = run_output
    cat = Catalog(str(tmp_path / "cat"))
    with pytest.raises(DatamillError, match="not in the catalog"):
        cat.resolve("nope")
    cat.add("web", str(out))
    with pytest.raises(DatamillError, match=r"web@7: no such version \(versions 0..0\)"):
        cat.resolve("web@7")
    with pytest.raises(DatamillError, match="no such tag"):
        cat.resolve("web@gold")
    with pytest.raises(DatamillError, match="no version as old"):
        cat.resolve("web@2001-01-01")
    with pytest.raises(DatamillError, match="dataset name"):
        cat.add("bad name", str(out))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "ok"}\n{oops\n')
    with pytest.raises(DatamillError, match=r"bad.jsonl:2: malformed JSON"):
        cat.add("web", str(bad))
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(DatamillError, match="is not writable"):
            Catalog(str(ro / "cat")).add("web", str(out))


def test_post_training_readers_take_catalog_uris(tmp_path, monkeypatch):
    """`datamill convert`/`validate` read catalog://NAME@V like the pipeline does."""
    import json

    from click.testing import CliRunner

    from datamill.cli import main

    sft = tmp_path / "sft.jsonl"
    rows = [{"instruction": "李白是谁", "input": "", "output": "唐代诗人。"},
            {"instruction": "Name a prime number.", "input": "", "output": "7"}]
    sft.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setenv("DATAMILL_CATALOG", str(tmp_path / "cat"))
    cat = Catalog(str(tmp_path / "cat"))
    cat.add("sft", str(sft))
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(main, ["convert", "catalog://sft@0", str(out), "--to", "sharegpt"])
    assert res.exit_code == 0, res.output
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["conversations"][0]["value"] for g in got] == ["李白是谁", "Name a prime number."]
