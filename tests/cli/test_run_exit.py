"""`datamill run` says so, and exits non-zero, when every record was quarantined."""

import json

from click.testing import CliRunner

from datamill.cli import main


def _recipe(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: t\nsteps:\n  - exact_dedup: {}\n")
    return str(path)


def test_every_record_quarantined_exits_non_zero(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1, "text": "unterminated\n[1, 2]\n{"id": "x", "body": "no text"}\n')
    result = CliRunner().invoke(main, ["run", _recipe(tmp_path), "-i", str(bad), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    assert "every record was quarantined (3" in result.output
    assert "malformed_json 2" in result.output and "missing_text 1" in result.output


def test_good_run_exits_zero_and_empty_after_filters_is_not_a_failure(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "text": "中文和English"}, ensure_ascii=False) + "\n" + "broken\n")
    result = CliRunner().invoke(main, ["run", _recipe(tmp_path), "-i", str(good), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "kept 1 of 1" in result.output and "FAILED" not in result.output
    recipe = tmp_path / "drop.yaml"
    recipe.write_text("name: t\nsteps:\n  - sample: {rate: 0.0}\n")
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(good), "-o", str(tmp_path / "out2"), "-q"])
    assert result.exit_code == 0, result.output


def test_split_size_option(tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"id": str(i), "text": f"line {i} " * 30}) + "\n" for i in range(200)))
    result = CliRunner().invoke(main, ["run", _recipe(tmp_path), "-i", str(big), "-o", str(tmp_path / "out"),
                                       "--split-size", "16KB", "-q"])
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "out" / ".datamill" / "stats.json").read_text())
    assert len(stats["output"]["files"]) > 1 and stats["output"]["records"] == 200
    result = CliRunner().invoke(main, ["run", _recipe(tmp_path), "-i", str(big), "-o", str(tmp_path / "o3"),
                                       "--split-size", "lots"])
    assert result.exit_code == 2 and "expected a size" in result.output
    for auto in ("auto", "AUTO"):  # the default, in any case: one task for this small file
        result = CliRunner().invoke(main, ["run", _recipe(tmp_path), "-i", str(big), "-o",
                                           str(tmp_path / f"o4{auto}"), "--split-size", auto, "-q"])
        assert result.exit_code == 0, result.output
        stats = json.loads((tmp_path / f"o4{auto}" / ".datamill" / "stats.json").read_text())
        assert len(stats["output"]["files"]) == 1 and stats["output"]["records"] == 200


def test_summary_reads_the_new_and_the_old_layout(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "text": "hello 世界"}, ensure_ascii=False) + "\n")
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["run", _recipe(tmp_path), "-i", str(good), "-o", str(out), "-q"]).exit_code == 0
    assert not (out / "stats.json").exists() and (out / ".datamill" / "stats.json").exists()
    result = CliRunner().invoke(main, ["summary", str(out)])
    assert result.exit_code == 0 and "kept 1 of 1" in result.output
    # a run written before the .datamill/ layout kept stats.json beside the records
    (out / ".datamill" / "stats.json").rename(out / "stats.json")
    result = CliRunner().invoke(main, ["summary", str(out)])
    assert result.exit_code == 0 and "kept 1 of 1" in result.output
    (out / "stats.json").unlink()
    result = CliRunner().invoke(main, ["summary", str(out)])
    assert result.exit_code == 2 and "has the run" in result.output
