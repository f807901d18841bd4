"""The recipe-level `llm:` block and `--set STEP.PARAM=VALUE` overrides (core/recipe.py)."""

import pytest

from datamill.core.errors import RecipeError
from datamill.core.recipe import parse_overrides, parse_recipe, recipe_to_yaml

RECIPE = """\
name: t
llm: {base_url: "http://127.0.0.1:1/v1", model: m, max_concurrency: 2}
steps:
  - self_instruct: {num_instructions: 5}
  - generate: {n: 2, llm: {model: other}}
  - to_preference: {}
  - generate: {n: 3}
"""


def test_llm_block_is_merged_into_llm_steps_and_step_keys_win():
    r = parse_recipe(RECIPE, "r.yaml")
    si, gen, pref, gen2 = r.steps
    assert si.params["llm"] == {"base_url": "http://127.0.0.1:1/v1", "model": "m", "max_concurrency": 2}
    assert gen.params["llm"]["model"] == "other" and gen.params["llm"]["max_concurrency"] == 2
    assert "llm" not in pref.params
    assert gen2.label == "generate#2" and gen2.llm_config.model == "m"
    assert "llm:" in recipe_to_yaml(r)


def test_overrides_are_validated_like_the_recipe():
    o = parse_overrides(["self_instruct.num_instructions=30", "generate#2.n=4", "llm.model=big",
                         "generate.temperatures=[0.2, 1.0]"])
    assert o["self_instruct.num_instructions"] == 30
    r = parse_recipe(RECIPE, "r.yaml", o)
    assert r.steps[0].num_instructions == 30
    assert r.steps[3].n == 4
    assert r.steps[0].llm_config.model == "big"
    assert r.steps[1].llm_config.model == "other"  # the step's own setting still wins
    assert r.steps[1].temperatures == [0.2, 1.0]
    r2 = parse_recipe(RECIPE, "r.yaml", parse_overrides(["generate.llm.model=x"]))
    assert r2.steps[1].llm_config.model == "x"
    with pytest.raises(RecipeError, match="expected int"):
        parse_recipe(RECIPE, "r.yaml", parse_overrides(["self_instruct.num_instructions=many"]))
    with pytest.raises(RecipeError, match="no parameter 'num_instruction'"):
        parse_recipe(RECIPE, "r.yaml", parse_overrides(["self_instruct.num_instruction=3"]))
    with pytest.raises(RecipeError, match="no step labelled 'judge'"):
        parse_recipe(RECIPE, "r.yaml", parse_overrides(["judge.x=1"]))
    with pytest.raises(RecipeError, match="STEP.PARAM=VALUE"):
        parse_overrides(["num_instructions=3"])


def test_llm_block_errors_name_the_recipe():
    with pytest.raises(RecipeError, match=r"r.yaml:2: 'llm' must be a mapping"):
        parse_recipe("steps: []\nllm: 3\n", "r.yaml")
    with pytest.raises(RecipeError, match="api_key_env"):
        parse_recipe("llm: {api_key: sk-123}\nsteps:\n  - generate: {}\n", "r.yaml")
    with pytest.raises(RecipeError, match="unknown setting"):
        parse_recipe("llm: {modle: x}\nsteps:\n  - generate: {}\n", "r.yaml")
