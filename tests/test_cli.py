import json
import subprocess
import sys

from click.testing import CliRunner

from datamill.cli import main


def test_help_on_every_command():
    runner = CliRunner()
    for args in ([], ["run"], ["check"], ["steps"], ["summary"], ["corpus"], ["corpus", "build"]):
        result = runner.invoke(main, args + ["--help"])
        assert result.exit_code == 0, args
        assert "Usage:" in result.output


def test_missing_input_is_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "datamill.cli", "run", "recipes/fineweb-filters.yaml",
                             "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "no such file" in result.stderr and "Traceback" not in result.stderr


def test_unreadable_recipe_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - no_such_step: {}\n")
    for recipe, needle in ((str(tmp_path / "missing.yaml"), "not found"), (str(bad), "bad.yaml:2")):
        result = subprocess.run([sys.executable, "-m", "datamill.cli", "run", recipe, "--input", str(bad),
                                 "--output", str(tmp_path / "out")], capture_output=True, text=True)
        assert result.returncode == 2 and needle in result.stderr
        assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


def test_run_jsonl_with_bad_lines_completes_and_reports(tmp_path):
    data = tmp_path / "in.jsonl"
    good = "The quick brown fox jumps over the lazy dog. " * 20
    data.write_bytes(b"\n".join([json.dumps({"id": "1", "text": good}).encode(), b"{broken",
                                 b'{"text": "\xff\xfe"}', json.dumps({"id": "2", "text": good + "!"}).encode()]) + b"\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - exact_dedup: {}\n")
    result = CliRunner().invoke(main, ["run", str(recipe), "-i", str(data), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "quarantined" in result.output and "malformed_json 1" in result.output
    stats = json.loads((tmp_path / "out" / ".datamill" / "stats.json").read_text())
    assert stats["quarantine"] == {"malformed_json": 1, "invalid_utf8": 1}
    lines = (tmp_path / "out" / ".datamill" / "quarantine" / "seg0-00000.jsonl").read_text().splitlines()
    assert sorted(json.loads(l)["line"] for l in lines) == [2, 3]
    summary = CliRunner().invoke(main, ["summary", str(tmp_path / "out")])
    assert "kept 2 of 2" in summary.output


def test_unknown_executor_is_one_clear_line(tmp_path):
    """--executor takes any registered name (plugins too); an unknown one lists the known ones."""
    import subprocess
    import sys

    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - sample: {rate: 0.5}\n")
    (tmp_path / "in.jsonl").write_text('{"id": "1", "text": "中文 and English"}\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "datamill.cli", "run", str(recipe), "-i", str(tmp_path / "in.jsonl"),
                          "-o", str(tmp_path / "o"), "--executor", "dask"], capture_output=True, text=True)
    assert run.returncode != 0
    assert "unknown executor 'dask'" in run.stderr and "local" in run.stderr and "ray" in run.stderr
    assert "Traceback" not in run.stderr
