"""``to_preference``: rated ``ranking`` records -> preference pairs, or -> KTO records.

Pairs (UltraFeedback's binarisation): chosen = the response with the best ``score`` (the mean of
its ratings); rejected = ``rejected: random`` a random lower-scored response (fixed per record
and ``seed``) or ``worst``. A pair whose margin is below ``min_margin`` is dropped with reason
``small_margin``; when every response has the same score, reason ``tie``; a ranking without
scores, ``unrated``. The pair keeps both scores (``ratings``) and the margin as a signal.

KTO (``output: kto``): every rated response becomes a KTO record, desirable when its score is
at least ``kto_threshold``.
"""

from __future__ import annotations

from typing import Any

from datamill.core.record import Record
from datamill.core.step import register
from datamill.post.schema import kto, preference
from datamill.steps.llm.base import FanOut
from datamill.steps.llm.records import rng_for


def _score(resp: dict) -> float | None:
    if isinstance(resp.get("score"), (int, float)):
        return float(resp["score"])
    ratings = resp.get("ratings") or {}
    vals = [float(v) for v in ratings.values() if isinstance(v, (int, float))]
    return sum(vals) / len(vals) if vals else None


@register("to_preference")
class ToPreference(FanOut):
    """Rated rankings -> preference pairs (best vs a lower one, minimum margin) or KTO."""

    def __init__(self, output: str = "preference", rejected: str = "random", min_margin: float = 0.5,
                 kto_threshold: float = 4.0, seed: int = 0):
        if output not in ("preference", "kto"):
            raise ValueError("output must be 'preference' or 'kto'")
        if rejected not in ("random", "worst"):
            raise ValueError("rejected must be 'random' or 'worst'")
        if min_margin < 0:
            raise ValueError("min_margin must be >= 0")
        self.output, self.rejected, self.min_margin = output, rejected, min_margin
        self.kto_threshold, self.seed = kto_threshold, seed

    def process(self, record: Record) -> list[Record] | str:
        if record.get("kind") != "ranking":
            return "not_ranking"
        rated = [(s, r) for r in record.get("responses") or [] if (s := _score(r)) is not None]
        if len(rated) < (1 if self.output == "kto" else 2):
            return "unrated"
        meta = dict(record.get("metadata") or {}, source_id=record.get("id"))
        prompt = record.get("messages") or []
        if self.output == "kto":
            return [kto(f"{record.get('id')}-kto{i}", prompt, r["messages"], s >= self.kto_threshold,
                        metadata=meta, ratings=r.get("ratings"), signals={self.label: {"score": s}})
                    for i, (s, r) in enumerate(rated)]
        best_score = max(s for s, _ in rated)
        chosen = next(r for s, r in rated if s == best_score)
        lower = [(s, r) for s, r in rated if s < best_score]
        if not lower:
            return "tie"
        if self.rejected == "worst":
            low_score = min(s for s, _ in lower)
            rej_score, rej = next((s, r) for s, r in lower if s == low_score)
        else:
            rej_score, rej = rng_for(record, self.seed).choice(lower)
        margin = best_score - rej_score
        if margin < self.min_margin:
            return "small_margin"
        return [preference(str(record.get("id")), prompt, chosen["messages"], rej["messages"], metadata=meta,
                           ratings={"chosen": best_score, "rejected": rej_score},
                           signals={self.label: {"margin": round(margin, 4), "chosen_score": best_score,
                                                 "rejected_score": rej_score}})]
