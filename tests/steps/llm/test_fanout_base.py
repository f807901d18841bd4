"""The FanOut base (LLM steps): a step that does not define process() is a bug that stops the
task, never a quarantine of every record (the step contract of core/step.py)."""

import pytest

from datamill.core.stats import StepStats
from datamill.core.step import StepContext, StepDefinitionError
from datamill.steps.llm.base import FanOut


class Empty(FanOut):
    name = "test_empty_fanout"


class Halves(FanOut):
    name = "test_halves_fanout"

    def process(self, record):
        if record["text"] == "bad":
            raise ValueError("cannot split")
        return [dict(record, text=record["text"][:2]), dict(record, text=record["text"][2:])]


def test_a_fanout_without_process_stops_the_task():
    ctx = StepContext()
    with pytest.raises(StepDefinitionError, match="must define process"):
        Empty().run_batch([{"id": "a", "text": "你好世界"}], StepStats("e", "transform"), ctx)
    assert ctx.quarantined == []


def test_a_failing_record_is_quarantined_and_the_rest_go_on():
    ctx, stats = StepContext(), StepStats("h", "transform")
    out = Halves().run_batch([{"id": "a", "text": "你好世界"}, {"id": "b", "text": "bad"}], stats, ctx)
    assert [r["text"] for r in out] == ["你好", "世界"]
    assert stats.quarantined == 1 and len(ctx.quarantined) == 1
