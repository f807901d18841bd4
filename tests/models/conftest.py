"""Small labelled files cut at run time from the shared toxicity data (never copied into the repo)."""

from __future__ import annotations

import csv
import random

import pytest


def _cut_cold(shared, path, n_per_class: int, seed: int = 0):
    rows = list(csv.DictReader(open(shared / "toxicity" / "cold_zh" / "train.csv", encoding="utf-8-sig")))
    rng = random.Random(seed)
    rng.shuffle(rows)
    out, counts = [], {"0": 0, "1": 0}
    for r in rows:
        if counts[r["label"]] < n_per_class:
            counts[r["label"]] += 1
            out.append({"TEXT": r["TEXT"], "label": r["label"]})
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["TEXT", "label"])
        w.writeheader()
        w.writerows(out)
    return path


@pytest.fixture(scope="session")
def cold_small(shared_data, tmp_path_factory):
    return _cut_cold(shared_data, tmp_path_factory.mktemp("cold") / "cold.csv", 300)


@pytest.fixture(scope="session")
def davidson_graded(shared_data, tmp_path_factory):
    """English tweets with a graded label: how many of the coders voted "offensive" (0-3+)."""
    rows = list(csv.DictReader(open(shared_data / "toxicity" / "davidson_hate_offensive" / "labeled_data.csv",
                                    encoding="utf-8")))
    rng = random.Random(1)
    rng.shuffle(rows)
    path = tmp_path_factory.mktemp("davidson") / "graded.jsonl"
    import json

    with open(path, "w", encoding="utf-8") as fh:
        for r in rows[:600]:
            grade = 2 - int(r["class"])  # 2 hate, 1 offensive, 0 neither
            fh.write(json.dumps({"tweet": r["tweet"], "grade": grade}) + "\n")
    return path
