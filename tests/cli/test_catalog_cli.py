"""`datamill run --register`, `datamill catalog …`: end to end through the command line."""

import os
import subprocess
import sys

from click.testing import CliRunner

from datamill.cli import main

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "catalog"))
from catalog_docs import RECIPE, write_docs  # noqa: E402


def _cli(*args, root):
    result = CliRunner().invoke(main, list(args) + ["--catalog", root], catch_exceptions=False)
    return result


def test_run_register_then_catalog_commands(tmp_path):
    root = str(tmp_path / "cat")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    src = write_docs(tmp_path / "docs.jsonl", n=60)
    r = _cli("run", str(recipe), "-i", str(src), "-o", str(tmp_path / "out"), "-q", "--register", "web", root=root)
    assert r.exit_code == 0, r.output
    assert "registered web@0 (60 records)" in r.output
    # a second run reads the first version through catalog:// and registers a new dataset
    r = _cli("run", str(recipe), "-i", "catalog://web@0", "-o", str(tmp_path / "out2"), "-q",
             "--register", "web-2", root=root)
    assert r.exit_code == 0, r.output
    half = tmp_path / "half.jsonl"
    half.write_bytes(b"".join(open(src, "rb").readlines()[:40]))
    assert _cli("catalog", "add", "web", str(half), "-m", "two thirds", root=root).exit_code == 0
    assert "tagged web@0 as web@v1" in _cli("catalog", "tag", "web@0", "v1", root=root).output

    out = _cli("catalog", "list", root=root).output
    assert "web " in out and "web-2" in out and "v1@0" in out
    out = _cli("catalog", "log", "web", root=root).output
    assert out.index("web@1") < out.index("web@0") and "two thirds" in out
    out = _cli("catalog", "show", "web@v1", "--recipe", root=root).output
    assert "60 records" in out and "sha256" in out and "language_id" in out and str(src) in out
    out = _cli("catalog", "diff", "web@v1", "web@1", root=root).output
    assert "-20 removed" in out and "=40 unchanged" in out
    out = _cli("catalog", "lineage", "web-2", root=root).output
    assert "web-2@0" in out and "web@0" in out and str(src) in out


def test_bad_references_are_one_clear_line(tmp_path):
    root = str(tmp_path / "cat")
    for args, needle in ((["catalog", "show", "nope@0"], "not in the catalog"),
                         (["catalog", "diff", "a b@1", "b"], "dataset name"),
                         (["catalog", "tag", "a@1", "7up"], "tag"),
                         (["catalog", "lineage", "nope"], "not in the catalog")):
        result = subprocess.run([sys.executable, "-m", "datamill.cli", *args, "--catalog", root],
                                capture_output=True, text=True)
        assert result.returncode != 0 and needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


def test_post_training_commands_register(tmp_path, shared_data, monkeypatch):
    import orjson

    root = str(tmp_path / "cat")
    rows = [{"instruction": "把这句话翻译成英文：你好", "input": "", "output": "Hello"},
            {"instruction": "Name a colour.", "input": "", "output": "Blue."},
            {"instruction": "Name a fruit.", "input": "", "output": "An apple."}]
    src = tmp_path / "alpaca.json"
    src.write_bytes(orjson.dumps(rows))
    r = CliRunner().invoke(main, ["convert", str(src), str(tmp_path / "conv.jsonl"), "--catalog-register", "sft",
                                  "--catalog", root])
    assert r.exit_code == 0, r.output
    assert "registered sft@0 (3 records)" in r.output
    monkeypatch.setenv("DATAMILL_SHARED_DATA", str(shared_data))  # the default tokenizer is trained from it
    r = CliRunner().invoke(main, ["export", str(tmp_path / "conv.jsonl"), str(tmp_path / "exp"), "--trainer", "trl",
                                  "--catalog-register", "sft-trl", "--catalog", root])
    assert r.exit_code == 0, r.output
    assert "registered sft-trl@0 (3 records)" in r.output
    from datamill.catalog import Catalog

    v = Catalog(root).version("sft@0")
    assert v.lineage["inputs"][0]["path"] == str(src)
