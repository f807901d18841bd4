"""A step made of steps: how the shipped rule sets are a tagger plus rules under one name.

``gopher_quality`` in a recipe is one step, but inside it a tagger computes every statistic
(``gopher_quality_signals``) and a filter decides on them (``gopher_quality_rules``); C4 is a
transform that removes lines followed by rules on the page. A :class:`Chain` runs its parts in
order on each batch, under its own label: the parts' signals land in
``record["signals"][<chain label>]``, their drops are counted (per reason) in the chain's stats,
and with ``keep_signals=False`` the chain removes its signals once it decided.
"""

from __future__ import annotations

import time
from typing import Any

from datamill.core.record import Batch, Record
from datamill.core.stats import StepStats
from datamill.core.step import Step, StepContext, deprecated_param


class Chain(Step):
    """Runs ``self.parts`` (built by the subclass's ``__init__``) in order under one label.

    Subclasses set ``self.parts`` and ``self.keep_signals``. The chain's kind is ``filter``
    when a part may drop (the default), else the kind of its last part."""

    kind = "filter"
    parts: list[Step]
    keep_signals: bool = True

    def _signals_flag(self, keep_signals: bool, store_signals: bool | None) -> bool:
        """``store_signals`` is the old spelling of ``keep_signals``."""
        if store_signals is not None:
            deprecated_param(self, "store_signals", "keep_signals",
                             " (signals are now kept by default)")
            return bool(store_signals)
        return keep_signals

    def declared_signals(self) -> dict[str, dict[str, str]]:
        """The parts' signals, all under the chain's label (none when ``keep_signals`` is off)."""
        if not self.keep_signals:
            return {}
        merged: dict[str, str] = {}
        for part in self.parts:
            merged.update(part.signal_types)
        return {self.label: merged} if merged else {}

    def setup(self) -> None:
        for part in self.parts:
            part.ensure_setup()

    def run_batch(self, batch: Batch, stats: StepStats, ctx: StepContext) -> Batch:
        t0 = time.perf_counter()
        stats.n_in += len(batch)
        label = self.label
        for part in self.parts:
            if not batch:
                break
            part._label = label  # the parts speak (signals, drop side output) as the chain
            sub = StepStats(label, part.kind)
            batch = part.run_batch(batch, sub, ctx)
            stats.dropped.update(sub.dropped)
            stats.quarantined += sub.quarantined
            stats.fallbacks.update(sub.fallbacks)
            for name, counter in sub.counters.items():
                stats.counter(name).update(counter)
        if not self.keep_signals:
            for record in batch:
                sig = record.get("signals")
                if sig:
                    sig.pop(label, None)
        self.drain_fallbacks(stats)
        stats.n_out += len(batch)
        stats.seconds += time.perf_counter() - t0
        return batch

    # --- one record at a time (tests, notebooks) ------------------------------------------
    def drop_reason(self, record: Record) -> str | None:
        """Run the chain on one record (changed in place, as in a run): ``None`` when it is
        kept, else the drop reason. A record the chain cannot process raises."""
        self.ensure_setup()
        ctx = StepContext(keep_dropped=True)
        stats = StepStats(self.label, self.kind)
        out = self.run_batch([record], stats, ctx)
        if ctx.quarantined:
            raise RuntimeError(ctx.quarantined[0]["reason"])
        if out:
            return None
        dropped = ctx.dropped[0]
        # the side-output copy carries the parts' changes (signals, rewritten text): keep them
        record.update({k: v for k, v in dropped.items() if k not in ("dropped_by", "drop_reason")})
        return dropped["drop_reason"]

    def keep(self, record: Record) -> str | None:
        """Old name of :meth:`drop_reason`."""
        return self.drop_reason(record)

    def describe(self) -> dict[str, Any]:
        return {"step": self.label, "parts": [type(p).__name__ for p in self.parts]}
