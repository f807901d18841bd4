"""`datamill convert`, its Python twin, and pipelines reading post-training records."""

from __future__ import annotations

import gzip
import json

import orjson
import pytest
from click.testing import CliRunner

from datamill.cli import main
from datamill.post.formats import convert, read_records


def _tiny(shared_data, tmp_path, rel, n, name):
    """The first n rows of a shared file, as a JSON array (a cut fixture; nothing is copied into the repo)."""
    src = shared_data / rel
    rows = (json.load(open(src)) if str(src).endswith(".json")
            else [json.loads(line) for line in gzip.open(src, "rt")])[:n]
    path = tmp_path / name
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


def test_cli_convert_summary_and_errors(tmp_path, shared_data):
    src = shared_data / "instruction_sft/llamafactory/glaive_toolcall_en_demo.json"
    out = tmp_path / "alpaca.jsonl"
    result = CliRunner().invoke(main, ["convert", str(src), str(out), "--to", "alpaca"])
    assert result.exit_code == 0, result.output
    assert "read 300 records (sharegpt)" in result.output and "wrote 109 records as alpaca" in result.output
    assert "191  cannot_write: tools" in result.output
    assert len(out.read_text().splitlines()) == 109
    # --from overrides detection; a wrong one is reported per row, and nothing written is exit 1
    result = CliRunner().invoke(main, ["convert", str(src), str(tmp_path / "x.jsonl"), "--from", "alpaca"])
    assert result.exit_code == 1 and "300  unconvertible: instruction" in result.output
    result = CliRunner().invoke(main, ["convert", str(src), str(tmp_path / "x.jsonl"), "--to", "parquet"])
    assert result.exit_code == 2 and "--to 'parquet'" in result.output


def test_cli_convert_llamafactory_dataset_and_register(tmp_path, shared_data):
    info = shared_data / "instruction_sft/llamafactory/dataset_info.json"
    out = tmp_path / "export" / "kto.json"
    result = CliRunner().invoke(main, ["convert", str(shared_data / "preference/llamafactory"), str(out),
                                       "--dataset-info", str(info), "--dataset", "kto_en_demo", "--to", "sharegpt",
                                       "--register", "kto_export"])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "export" / "dataset_info.json").read_text())["kto_export"]
    assert entry["columns"]["kto_tag"] == "kto_tag" and entry["formatting"] == "sharegpt"
    assert len(list(read_records(str(tmp_path / "export"), dataset="kto_export"))) == 300


def test_python_convert_hh_to_trl_and_back(tmp_path, shared_data):
    src = shared_data / "preference/hh-rlhf/harmless-base/test.jsonl.gz"
    res = convert(str(src), str(tmp_path / "trl.jsonl"), to="trl_implicit")
    assert res["read"] == res["written"] == 2312 and res["errors"] == {}
    back = convert(str(tmp_path / "trl.jsonl"), str(tmp_path / "hh.jsonl.gz"), to="hh_rlhf")
    assert back["formats"] == {str(tmp_path / "trl.jsonl"): "trl"} and back["written"] == 2312
    with gzip.open(src, "rb") as a, gzip.open(tmp_path / "hh.jsonl.gz", "rb") as b:
        assert [orjson.loads(x) for x in a] == [orjson.loads(x) for x in b]


def test_pipeline_reads_post_training_records(tmp_path, shared_data):
    from datamill.core.pipeline import Pipeline

    data = tmp_path / "in"
    data.mkdir()
    _tiny(shared_data, data, "instruction_sft/llamafactory/alpaca_en_demo.json", 20, "a.json")
    (data / "b.jsonl").write_text('{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}\n'
                                  '{"conversations": [{"from": "robot", "value": "?"}]}\n')
    (data / "dataset_info.json").write_text(json.dumps({"a": {"file_name": "a.json"}}))  # an index, not data
    stats = Pipeline([], records="auto").run([str(data)], str(tmp_path / "out"))
    assert stats["output"]["records"] == 21 and stats["quarantine"] == {"unconvertible": 1}
    assert stats["reader"]["skipped"] == {"dataset_info": 1}
    rows = [orjson.loads(x) for f in sorted((tmp_path / "out").glob("part-*.jsonl.gz")) for x in gzip.open(f)]
    assert {r["kind"] for r in rows} == {"sft"} and rows[0]["id"] == "a.json[0]"
    q = [orjson.loads(x) for f in (tmp_path / "out" / ".datamill" / "quarantine").glob("*.jsonl") for x in open(f, "rb")]
    assert q[0]["line"] == 2 and q[0]["source"].endswith("b.jsonl") and "robot" in q[0]["reason"]


def test_recipe_input_records_is_validated(tmp_path):
    from datamill.core.errors import RecipeError
    from datamill.core.recipe import load_recipe

    good = tmp_path / "good.yaml"
    good.write_text("name: sft\nsteps: []\ninput: {records: sharegpt}\n")
    assert load_recipe(str(good)).input == {"records": "sharegpt"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: sft\nsteps: []\ninput:\n  records: sharegtp\n")
    with pytest.raises(RecipeError, match=r"bad.yaml:4: input records 'sharegtp'"):
        load_recipe(str(bad))
