"""The step index (names read from source, no import) agrees with what importing registers,
and a recipe imports only the modules of the steps it names."""

import subprocess
import sys

from datamill import steps
from datamill.core.step import REGISTRY


def test_index_matches_registration():
    steps.load_all()
    index = steps.index()
    missing = {n: cls.__module__ for n, cls in REGISTRY.items()
               if cls.__module__.startswith("datamill.steps.") and n not in index}
    assert not missing, f"registered but not found by steps.index(): {missing}"
    wrong = {n: (m, REGISTRY[n].__module__) for n, m in index.items()
             if n in REGISTRY and REGISTRY[n].__module__ != m}
    assert not wrong, f"index names the wrong module: {wrong}"
    unknown = sorted(set(index) - set(REGISTRY))
    assert not unknown, f"index names steps no module registers: {unknown}"


def test_recipe_imports_only_its_steps(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - gopher_quality: {}\n  - language_id: {languages: [en]}\n")
    code = ("import sys; from datamill.core.recipe import load_recipe; load_recipe(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.startswith('datamill.steps.')))")
    out = subprocess.run([sys.executable, "-c", code, str(recipe)], capture_output=True, text=True,
                         check=True).stdout
    assert "datamill.steps.quality.gopher" in out and "datamill.steps.langid.fasttext_lid" in out
    for heavy in ("datamill.steps.llm.self_instruct", "datamill.steps.dedup.semantic",
                  "datamill.steps.post.select"):
        assert heavy not in out


def test_unknown_step_still_suggests(tmp_path):
    from datamill.core.recipe import RecipeError, load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - gopher_qualty: {}\n")
    try:
        load_recipe(str(recipe))
    except RecipeError as exc:
        assert "gopher_quality" in str(exc)
    else:
        raise AssertionError("an unknown step must be refused")
