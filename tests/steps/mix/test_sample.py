import pickle

import pytest

from datamill.core.step import REGISTRY, StepContext
from datamill.core.stats import StepStats
from datamill.steps.mix.sample import Sample

IDS = [f"doc-{i}" for i in range(10_000)]


def kept(step, ids=IDS):
    return {i for i in ids if step.keep({"id": i, "text": "t"}) is None}


def test_registered():
    assert REGISTRY["sample"] is Sample


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5, 0.9])
def test_rate_within_tolerance(rate):
    n = len(kept(Sample(rate=rate)))
    sd = (len(IDS) * rate * (1 - rate)) ** 0.5
    assert abs(n - rate * len(IDS)) < 4 * sd + 1


def test_edges():
    assert len(kept(Sample(rate=0.0))) == 0
    assert len(kept(Sample(rate=1.0))) == len(IDS)
    with pytest.raises(ValueError):
        Sample(rate=1.5)
    with pytest.raises(ValueError):
        Sample(rate=0.5, seed=-1)


def test_deterministic_seeded_and_nested():
    a = kept(Sample(rate=0.3))
    assert a == kept(Sample(rate=0.3))                # same run, resumed run
    assert a == kept(Sample(rate=0.3), ids=list(reversed(IDS)))  # order does not matter
    b = kept(Sample(rate=0.3, seed=1))
    assert a != b and abs(len(a) - len(b)) < 300
    assert kept(Sample(rate=0.1)) <= a                # smaller rate: a subset


def test_reason_and_batch_path():
    step = Sample(rate=0.5, seed=7)
    batch = [{"id": i, "text": "t"} for i in IDS[:1000]]
    stats = StepStats(label="sample", kind="filter")
    out = step.run_batch([dict(r) for r in batch], stats, StepContext())
    assert {r["id"] for r in out} == kept(step, IDS[:1000])
    assert stats.dropped["sampled_out"] == 1000 - len(out)
    assert step.keep_batch(batch) == [step.keep(r) for r in batch]


def test_missing_id_uses_text_and_int_ids():
    step = Sample(rate=0.5)
    assert step.keep({"text": "abc"}) == step.keep({"text": "abc"})
    assert step.keep({"id": 5, "text": "x"}) == step.keep({"id": "5", "text": "y"})


def test_pickle_keeps_params():
    step = Sample(rate=0.25, seed=42)
    clone = pickle.loads(pickle.dumps(step))
    assert clone.params == {"rate": 0.25, "seed": 42}
    assert kept(clone) == kept(step)
