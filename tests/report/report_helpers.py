"""Helpers of the report tests: runs to report on (English and Chinese documents through
language ID, Gopher quality and a sampling filter, dropped records kept) and a cheap embedding."""

import os
import sys

import orjson

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "catalog"))
from catalog_docs import write_docs  # noqa: E402

RECIPE = """name: report-test
steps:
  - language_id: {languages: [en, zh], min_score: 0.3}
  - gopher_quality: {}
  - sample: {rate: 0.7}
output: {format: jsonl, compression: gz}
"""


def make_run(tmp_path, name="out", n=150, seed=0, start=0):
    from datamill.core.pipeline import Pipeline

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    src = write_docs(tmp_path / f"{name}.jsonl", n=n, seed=seed, start=start)
    with open(src, "ab") as fh:  # markup in a record must come out escaped
        fh.write(orjson.dumps({"id": "evil", "text": "<script>alert('x')</script> " + "The river is clean. " * 20}) + b"\n")
    out = tmp_path / name
    Pipeline.from_recipe(str(recipe)).run([str(src)], str(out), keep_dropped=True)
    return recipe, src, out



def hashing_embed(texts):  # noqa: D401
    """A real, cheap sentence embedding for fast tests (character 2-4-grams, hashed, unit norm);
    the slow test uses all-MiniLM-L6-v2."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=512, norm="l2", alternate_sign=False)
    return vec.transform(list(texts)).toarray()
