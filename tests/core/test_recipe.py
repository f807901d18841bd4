import pickle

import pytest

from datamill.core.errors import RecipeError
from datamill.core.recipe import load_recipe, parse_recipe, recipe_to_yaml
from datamill.core.step import REGISTRY


def test_recipe_maps_onto_python_api():
    recipe = parse_recipe("name: t\nsteps:\n  - exact_dedup: {normalize: true}\n  - sample: {rate: 0.5, seed: 3}\n")
    assert [s.name for s in recipe.steps] == ["exact_dedup", "sample"]
    assert recipe.steps[0].params == {"field": "text", "normalize": True}
    assert recipe.steps[1].params["rate"] == 0.5
    again = parse_recipe(recipe_to_yaml(recipe))
    assert [s.params for s in again.steps] == [s.params for s in recipe.steps]


def test_unknown_step_names_file_and_line():
    text = "name: t\nsteps:\n  - exact_dedup: {}\n  - exact_dedupe: {}\n"
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, "r.yaml")
    assert err.value.line == 4 and "r.yaml:4" in str(err.value)
    assert "did you mean 'exact_dedup'" in str(err.value)


def test_unknown_parameter_points_at_its_line():
    text = "steps:\n  - exact_dedup:\n      normalise: true\n"
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, "r.yaml")
    assert err.value.line == 3
    assert "no parameter 'normalise'" in str(err.value) and "normalize" in str(err.value)


def test_wrong_type_is_reported():
    text = "steps:\n  - sample:\n      rate: lots\n"
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, "r.yaml")
    assert err.value.line == 3 and "rate" in str(err.value) and "float" in str(err.value)


def test_missing_required_parameter():
    with pytest.raises(RecipeError) as err:
        parse_recipe("steps:\n  - sample: {}\n", "r.yaml")
    assert "needs parameter 'rate'" in str(err.value) and err.value.line == 2


@pytest.mark.parametrize("text,needle", [
    ("steps: [\n", "not valid YAML"),
    ("", "empty"),
    ("- a\n", "mapping"),
    ("stepz: []\n", "unknown top-level key"),
    ("steps: {a: 1}\n", "must be a list"),
    ("steps:\n  - exact_dedup: {}\noutput: {format: csv}\n", "output format"),
])
def test_malformed_recipes(text, needle):
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, "r.yaml")
    assert needle in str(err.value)


def test_repeated_steps_get_distinct_labels():
    recipe = parse_recipe("steps:\n  - exact_dedup: {}\n  - exact_dedup: {normalize: true}\n")
    assert [s.label for s in recipe.steps] == ["exact_dedup", "exact_dedup#2"]


def test_every_registered_step_pickles_with_its_params():
    from datamill.core.recipe import load_steps_registry, step_parameters
    import inspect

    load_steps_registry()
    for name, cls in REGISTRY.items():
        spec = step_parameters(cls)
        if any(default is inspect.Parameter.empty for _, default in spec.values()):
            continue
        step = cls()
        clone = pickle.loads(pickle.dumps(step))
        assert clone.params == step.params, name


def test_shipped_recipes_validate():
    from pathlib import Path

    from datamill.core.recipe import load_recipe

    recipes = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))
    assert recipes, "no recipes shipped"
    for path in recipes:
        assert load_recipe(str(path)).steps


def test_values_of_the_right_type_skip_pydantic_with_the_same_result(monkeypatch):
    """build_step takes a value that already has its parameter's type as it is (no pydantic
    import on a plain recipe's start); wherever it does, pydantic would return the same value,
    and every bundled recipe builds the same steps either way."""
    import typing
    from pathlib import Path

    from pydantic import TypeAdapter

    import datamill.core.recipe as recipe_mod

    hints = [bool, int, float, str, list[str], list[int], typing.Optional[str], int | None,
             typing.Literal["a", "b"], typing.Literal[1, 2], float | str, typing.Any, dict[str, int]]
    values = [True, False, 0, 1, 2, 1.5, "a", "x", "1", None, ["a", "b"], [1, 2], ["a", 1], [],
              {"a": 1}]
    for hint in hints:
        for value in values:
            if recipe_mod._already_valid(hint, value):
                got = TypeAdapter(hint).validate_python(value, strict=False)
                assert got == value and type(got) is type(value), (hint, value, got)
    assert not recipe_mod._already_valid(float, 1)  # pydantic makes it 1.0
    assert not recipe_mod._already_valid(int, True)
    assert not recipe_mod._already_valid(typing.Literal[1, 2], True)

    recipes = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))
    assert recipes
    fast = {r.name: [(s.name, s.params) for s in load_recipe(str(r)).steps] for r in recipes}
    monkeypatch.setattr(recipe_mod, "_already_valid", lambda hint, value: False)
    slow = {r.name: [(s.name, s.params) for s in load_recipe(str(r)).steps] for r in recipes}
    assert fast == slow
