"""Fixtures of the catalog tests."""

import pytest

from catalog_docs import RECIPE, write_docs


@pytest.fixture
def run_output(tmp_path):
    """(recipe path, input path, output folder) of a finished run."""
    from datamill.core.pipeline import Pipeline

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    src = write_docs(tmp_path / "docs.jsonl")
    out = tmp_path / "out"
    Pipeline.from_recipe(str(recipe)).run([str(src)], str(out))
    return recipe, src, out
