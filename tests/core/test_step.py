"""The step base classes, tested directly: what a step's failure does, where signals go,
what survives pickling."""

import pickle
import warnings

import pytest

from datamill.core.compose import Chain
from datamill.core.stats import StepStats
from datamill.core.step import (Failed, Filter, StepContext, StepDefinitionError, Tagger, Transform,
                                deprecated_param)


def recs(*texts):
    return [{"id": str(i), "text": t, "metadata": {"source": "f.jsonl", "line": i + 1}} for i, t in enumerate(texts)]


def run(step, batch, keep_dropped=False):
    stats, ctx = StepStats(step.label, step.kind), StepContext(keep_dropped=keep_dropped)
    out = step.run_batch(batch, stats, ctx)
    return out, stats, ctx


# --- Transform -------------------------------------------------------------------------------

class Upper(Transform):
    name = "upper"

    def transform(self, record):
        if record["text"] == "boom":
            raise ValueError("cannot upper boom")
        if not record["text"]:
            return None
        record["text"] = record["text"].upper()
        return record


def test_per_record_failure_is_quarantined_with_reason_and_location():
    out, stats, ctx = run(Upper(), recs("a", "boom", "", "b"))
    assert [r["text"] for r in out] == ["A", "B"]
    assert stats.n_in == 4 and stats.n_out == 2 and stats.quarantined == 1
    assert stats.dropped == {"empty": 1}
    (entry,) = ctx.quarantined
    assert entry["reason"] == "ValueError: cannot upper boom"
    assert entry["step"] == "upper" and entry["record_id"] == "1" and entry["line"] == 2
    assert entry["source"] == "f.jsonl" and "cannot upper boom" in entry["traceback"]
    assert entry["where"] == "f.jsonl:2"


class BatchOnly(Transform):
    """Defines only the batch method, mutates records, then hits a bug."""

    name = "batch_only"

    def __init__(self):
        self.calls = 0

    def transform_batch(self, batch):
        self.calls += 1
        for r in batch:
            r["text"] += "!"
        raise KeyError("a bug in the step")


def test_batch_method_that_raises_stops_the_task_without_retry():
    step = BatchOnly()
    batch = recs("a", "b")
    with pytest.raises(KeyError, match="a bug in the step"):
        run(step, batch)
    assert step.calls == 1  # not retried record by record (no misleading quarantine)
    assert [r["text"] for r in batch] == ["a!", "b!"]  # applied once, not twice


class ReportsFailures(Transform):
    name = "reports"

    def transform_batch(self, batch):
        return [Failed("no text to parse") if r["text"] == "bad" else r for r in batch]


def test_batch_method_reports_which_records_failed():
    out, stats, ctx = run(ReportsFailures(), recs("ok", "bad", "fine"))
    assert [r["text"] for r in out] == ["ok", "fine"]
    assert stats.quarantined == 1 and ctx.quarantined[0]["reason"] == "no text to parse"
    assert ctx.quarantined[0]["record_id"] == "1" and "traceback" not in ctx.quarantined[0]


def test_batch_method_with_wrong_length_is_an_error():
    class Short(Transform):
        def transform_batch(self, batch):
            return batch[:-1]

    with pytest.raises(RuntimeError, match="returned 1 results for a batch of 2"):
        run(Short(), recs("a", "b"))


def test_a_step_that_defines_nothing_is_an_error_not_a_quarantine():
    class Nothing(Transform):
        pass

    with pytest.raises(StepDefinitionError, match="must define transform"):
        run(Nothing(), recs("a"))

    class NoFilter(Filter):
        pass

    with pytest.raises(StepDefinitionError, match="must define drop_reason"):
        run(NoFilter(), recs("a"))


# --- Tagger ----------------------------------------------------------------------------------

class Length(Tagger):
    name = "length"
    signal_types = {"chars": "int64"}

    def tag(self, record):
        if record["text"] == "boom":
            raise ValueError("boom")
        return {"chars": len(record["text"])}


def test_tagger_writes_under_its_label_and_two_instances_do_not_collide():
    batch = recs("abc", "boom", "de")
    a, b = Length(), Length()
    b._label = "length#2"
    out, stats, ctx = run(a, batch)
    out, _, _ = run(b, out)
    assert [r["signals"] for r in out] == [{"length": {"chars": 3}, "length#2": {"chars": 3}},
                                           {"length": {"chars": 2}, "length#2": {"chars": 2}}]
    assert stats.quarantined == 1 and ctx.quarantined[0]["step"] == "length"


# --- Filter ----------------------------------------------------------------------------------

class Short(Filter):
    name = "short"

    def drop_reason(self, record):
        if record["text"] == "boom":
            raise ValueError("boom")
        return "too_short" if len(record["text"]) < 3 else None


class OldStyle(Filter):
    name = "old_style"

    def keep(self, record):  # the old name: it returns a drop reason too
        return False if record["text"] == "x" else True


class OldBatch(Filter):
    name = "old_batch"

    def keep_batch(self, batch):
        return [None if r["text"] != "x" else "is_x" for r in batch]


def test_filter_drop_reason_and_its_old_name():
    out, stats, ctx = run(Short(), recs("abcd", "ab", "boom"), keep_dropped=True)
    assert [r["text"] for r in out] == ["abcd"]
    assert stats.dropped == {"too_short": 1} and stats.quarantined == 1
    assert ctx.dropped[0]["drop_reason"] == "too_short" and ctx.dropped[0]["dropped_by"] == "short"
    assert Short().keep({"text": "ab"}) == "too_short"  # keep is an alias of drop_reason
    out, stats, _ = run(OldStyle(), recs("x", "y"))
    assert [r["text"] for r in out] == ["y"] and stats.dropped == {"old_style": 1}
    assert OldStyle().drop_reason({"text": "x"}) is False
    out, stats, _ = run(OldBatch(), recs("x", "y"))
    assert [r["text"] for r in out] == ["y"] and stats.dropped == {"is_x": 1}
    assert OldBatch().drop_reason({"text": "x"}) == "is_x"


# --- fallbacks, labels, pickling -------------------------------------------------------------

class Guess(Filter):
    name = "guess"

    def __init__(self, default: str = "en"):
        self.default = default

    def drop_reason(self, record):
        if "language" not in record.get("metadata", {}):
            self.fallback("no_language_used_default")
        return None


def test_fallbacks_are_counted_in_stats():
    out, stats, _ = run(Guess(), recs("a", "b") + [{"id": "z", "text": "c", "metadata": {"language": "de"}}])
    assert len(out) == 3 and stats.fallbacks == {"no_language_used_default": 2}
    merged = StepStats.from_dict(stats.to_dict())
    merged.merge(stats)
    assert merged.fallbacks == {"no_language_used_default": 4}


def test_label_and_parameters_survive_pickling():
    step = Guess(default="de")
    step._label = "guess#2"
    clone = pickle.loads(pickle.dumps(step))
    assert clone.label == "guess#2" and clone.default == "de" and clone.params == {"default": "de"}
    assert pickle.loads(pickle.dumps(Guess())).label == "guess"


# --- Chain -----------------------------------------------------------------------------------

class Rules(Filter):
    name = "rules"

    def drop_reason(self, record):
        return "long" if record["signals"][self.label]["chars"] > 3 else None


class LengthRule(Chain):
    name = "length_rule"

    def __init__(self, keep_signals: bool = True, store_signals: bool | None = None):
        self.keep_signals = self._signals_flag(keep_signals, store_signals)
        self.parts = [Length(), Rules()]


def test_chain_runs_parts_under_its_label_and_counts_as_one_step():
    step = LengthRule()
    step._label = "length_rule#2"
    out, stats, ctx = run(pickle.loads(pickle.dumps(step)), recs("abc", "abcdef", "boom"), keep_dropped=True)
    assert [r["signals"] for r in out] == [{"length_rule#2": {"chars": 3}}]
    assert stats.n_in == 3 and stats.n_out == 1 and stats.dropped == {"long": 1} and stats.quarantined == 1
    assert ctx.dropped[0]["dropped_by"] == "length_rule#2"
    assert ctx.dropped[0]["signals"] == {"length_rule#2": {"chars": 6}}  # the reason is visible
    assert LengthRule().drop_reason({"id": "1", "text": "abcdef"}) == "long"


def test_chain_keep_signals_false_and_deprecated_key():
    out, _, _ = run(LengthRule(keep_signals=False), recs("abc"))
    assert out[0]["signals"] == {}
    with pytest.warns(FutureWarning, match="'store_signals' is deprecated, use 'keep_signals'"):
        assert LengthRule(store_signals=True).keep_signals is True


def test_deprecated_param_names_the_step():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        deprecated_param(Short(), "old", "new")
    assert "step 'short': parameter 'old' is deprecated, use 'new'" in str(seen[0].message)


def test_a_tagger_never_drops_even_with_nothing_to_say():
    class Quiet(Tagger):
        name = "quiet"

        def tag(self, record):
            return None if record["text"] == "a" else {}

    out, stats, _ = run(Quiet(), recs("a", "b"))
    assert [r["text"] for r in out] == ["a", "b"] and stats.n_out == 2
    assert all("quiet" not in (r.get("signals") or {}) for r in out)
