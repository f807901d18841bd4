"""A user's own step, as docs/pipelines.md shows it, loads from a recipe by ``module:Class`` or
an entry point; ``datamill check`` accepts it and ``datamill run`` runs it."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from datamill.cli import main
from datamill.core.errors import RecipeError, format_location
from datamill.core.recipe import load_recipe, parse_recipe
from datamill.core.registry import Registry

REPO = Path(__file__).resolve().parents[2]

USER_STEP = textwrap.dedent('''
    from datamill.core.step import Filter, register

    @register("min_length")
    class MinLength(Filter):
        """Drop records shorter than min_chars."""
        def __init__(self, min_chars: int = 200):
            self.min_chars = min_chars

        def drop_reason(self, record):
            return None if len(record["text"]) >= self.min_chars else "too_short"


    class Shout(Filter):
        def drop_reason(self, record):
            return None if record["text"].isupper() else "not_shouting"
''')


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """One user module for the whole file (it registers ``min_length`` when imported)."""
    folder = tmp_path_factory.mktemp("userproject")
    (folder / "mysteps_user.py").write_text(USER_STEP)
    return folder


def module_name(project: Path) -> str:
    return "mysteps_user"


def test_check_and_run_accept_a_module_class_step(project):
    mod = module_name(project)
    recipe = project / "mine.yaml"
    recipe.write_text(f"name: mine\nsteps:\n  - {mod}:MinLength: {{min_chars: 20}}\n  - {mod}:Shout\n")
    result = CliRunner().invoke(main, ["check", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "OK, 2 steps" in result.output and "min_length" in result.output and f"{mod}:Shout" in result.output
    (project / "in.jsonl").write_text("\n".join(json.dumps({"id": str(i), "text": t}) for i, t in
                                                enumerate(["short", "A LONG ENOUGH SHOUTED LINE", "a long enough quiet line"])))
    out = project / "out"
    proc = subprocess.run([sys.executable, "-m", "datamill", "run", str(recipe), "-i", str(project / "in.jsonl"),
                           "-o", str(out), "-q"], cwd=REPO, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((out / ".datamill" / "stats.json").read_text())
    assert [s["dropped"] for s in stats["steps"]] == [{"too_short": 1}, {"not_shouting": 1}]
    assert stats["output"]["records"] == 1


def test_bad_references_name_the_recipe_line(project):
    mod = module_name(project)
    path = str(project / "r.yaml")
    with pytest.raises(RecipeError, match=r"r.yaml:3: step 'no_such_module:X' cannot be imported"):
        parse_recipe("steps:\n  - sample: {rate: 1.0}\n  - no_such_module:X\n", path)
    with pytest.raises(RecipeError, match="is not a datamill step"):
        parse_recipe(f"steps:\n  - {mod}:register\n", path)


def test_steps_from_an_entry_point(project, monkeypatch):
    """An installed package's ``datamill.steps`` entry point (a real dist-info on sys.path)."""
    mod = module_name(project)
    dist = project / "mysteps_user-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mysteps\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[datamill.steps]\nshout = {mod}:Shout\n")
    monkeypatch.syspath_prepend(str(project))
    from datamill.core import step as step_mod

    fresh = Registry("steps", dict(step_mod.REGISTRY))
    monkeypatch.setattr(step_mod, "STEPS", fresh)
    import datamill.core.recipe as recipe_mod

    monkeypatch.setattr(recipe_mod, "STEPS", fresh)
    recipe = project / "ep.yaml"
    recipe.write_text("steps:\n  - shout\n")
    steps = load_recipe(str(recipe)).steps
    assert type(steps[0]).__name__ == "Shout" and steps[0].label in ("shout", "mysteps_user:Shout")


def test_one_format_for_locations():
    assert format_location("a.jsonl", line=3) == "a.jsonl:3"
    assert format_location("c.warc.gz", offset=1234) == "c.warc.gz@1234"
    assert format_location("d.json", index=0, field="messages[1].content") == "d.json[0]:messages[1].content"
    assert format_location("e.parquet", record_id="x1") == "e.parquet (id=x1)"
    with pytest.raises(RecipeError, match=r"^r.yaml:2: "):
        parse_recipe("steps:\n  - nope_step\n", "r.yaml")


def test_built_in_names_do_not_scan_plugins(monkeypatch):
    """A lookup that the built-in loaders answer does not read every installed package's
    entry points (20-40 ms of each run's start); an unknown name still does, once."""
    from importlib import metadata

    scans = []
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: scans.append(group) or [])
    reg = Registry("things")
    reg.add_loader(lambda: reg.register("builtin", 1))
    assert reg.get("builtin") == 1 and scans == []
    assert reg.find("plugin") is None and scans == ["datamill.things"]
    assert reg.find("plugin") is None and len(scans) == 1
