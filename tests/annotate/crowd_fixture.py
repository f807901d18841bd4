"""A deterministic, documented crowd-annotation fixture shared by the agreement tests and
``benchmarks/eval_agreement.py`` (crowd-kit's own datasets download from the network, which
tests cannot rely on).

``simulate_crowd(n_tasks, seed)`` returns ``(rows, truth)``: rows are
``(task, annotator, question, value, level)`` and truth is ``{(task, question): true value}``.

* eight annotators, ``a1``…``a8``, with accuracies 0.95, 0.90, 0.85, 0.80, 0.70, 0.60, 0.45 and
  0.34 (the last is a random clicker among three classes);
* each task is answered by 3, 4 or 5 annotators drawn at random (so unequal rater counts and
  missing answers);
* ``topic`` (nominal: ``animal``/``plant``/``rock``, prior 0.5/0.3/0.2): right with the
  annotator's accuracy, else a uniformly chosen wrong class;
* ``quality`` (ordinal 1–5): the true score plus the annotator's bias (-1…+1) plus rounded
  Gaussian noise whose spread grows as accuracy falls, clipped to 1–5;
* ``score`` (interval, 0–100): true score plus Gaussian noise (sd 5–30 by annotator).
"""

from __future__ import annotations

import numpy as np

ANNOTATORS = [f"a{i}" for i in range(1, 9)]
ACCURACY = [0.95, 0.90, 0.85, 0.80, 0.70, 0.60, 0.45, 0.34]
BIAS = [0, 0, 1, 0, -1, 0, 1, 0]
TOPICS = ["animal", "plant", "rock"]


def simulate_crowd(n_tasks: int = 120, seed: int = 7):
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for t in range(n_tasks):
        task = f"t{t:04d}"
        topic = TOPICS[rng.choice(3, p=[0.5, 0.3, 0.2])]
        quality = int(rng.integers(1, 6))
        score = float(rng.uniform(0, 100))
        truth[(task, "topic")], truth[(task, "quality")], truth[(task, "score")] = topic, quality, score
        raters = rng.choice(len(ANNOTATORS), size=int(rng.integers(3, 6)), replace=False)
        for r in sorted(raters):
            name, acc = ANNOTATORS[r], ACCURACY[r]
            if rng.random() < acc:
                answer = topic
            else:
                answer = rng.choice([x for x in TOPICS if x != topic])
            rows.append((task, name, "topic", str(answer), "nominal"))
            noise = rng.normal(0, 0.3 + 2.0 * (1 - acc))
            rows.append((task, name, "quality",
                         int(np.clip(round(quality + BIAS[r] * (1 - acc) * 2 + noise), 1, 5)),
                         "ordinal"))
            rows.append((task, name, "score",
                         round(float(score + rng.normal(0, 5 + 40 * (1 - acc))), 1), "interval"))
    return rows, truth


def question(rows, name):
    """``(task, annotator, value)`` triples of one question."""
    return [(t, a, v) for t, a, q, v, _ in rows if q == name]
