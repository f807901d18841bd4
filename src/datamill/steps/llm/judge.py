"""``llm_judge``: an LLM rates or compares answers.

``mode: ratings`` (UltraFeedback): every answer — each response of a ``ranking`` record, the
chosen and rejected of a ``preference``, the answer of an ``sft`` — is rated 1-5 with a one-line
rationale for each criterion (helpfulness, honesty, instruction_following, truthfulness, or the
``criteria`` you give: name -> rubric). Ratings go to ``ratings``/``rationale`` of each response
(of the record for SFT), ``score`` is their mean, and ranking responses get ``rank`` (1 = best,
ties share a rank).

``mode: pairwise`` (MT-Bench): two answers are compared twice, in both orders, which cancels the
judge's position bias; when the orders disagree the result is a tie. On a preference record the
verdict (``chosen``, ``rejected`` or ``tie``) is a signal; on a two-response ranking it sets the
ranks. ``signals[LABEL]`` keeps the per-order verdicts.

A reply without a parseable rating/verdict raises ``llm_parse_error``: the record is dropped
with that reason and its raw reply (``--keep-dropped``), or, with ``on_parse_error: keep``, kept
unrated with the raw reply in ``metadata.llm_raw``.
"""

from __future__ import annotations

from typing import Any

from datamill.core.record import Record
from datamill.core.step import register
from datamill.llm.errors import LLMParseError
from datamill.llm.tasks import judge
from datamill.steps.llm.base import LLMStep
from datamill.steps.llm.records import answer, question


def _text(messages: list[dict]) -> str:
    for m in reversed(messages or []):
        if m.get("role") == "assistant":
            return m.get("content") or ""
    return ""


def ranks(scores: list[float]) -> list[int]:
    """1 + how many scores are strictly higher: ties share a rank."""
    return [1 + sum(1 for o in scores if o > s) for s in scores]


@register("llm_judge")
class LLMJudge(LLMStep):
    """Rate answers per criterion (UltraFeedback) or compare two in both orders (MT-Bench)."""

    template_version = judge.VERSION

    def __init__(self, mode: str = "ratings", criteria: dict[str, str] | list[str] | None = None,
                 on_parse_error: str = "drop", llm: dict[str, Any] | None = None):
        if mode not in ("ratings", "pairwise"):
            raise ValueError(f"mode must be 'ratings' or 'pairwise', not {mode!r}")
        if on_parse_error not in ("drop", "keep"):
            raise ValueError("on_parse_error must be 'drop' or 'keep'")
        if isinstance(criteria, list):
            unknown = [c for c in criteria if c not in judge.CRITERIA]
            if unknown:
                raise ValueError(f"criteria {unknown} have no built-in rubric; give them as name: rubric")
            criteria = {c: judge.CRITERIA[c] for c in criteria}
        super().__init__(llm)
        self.mode, self.on_parse_error = mode, on_parse_error
        self.criteria = dict(criteria or judge.CRITERIA)

    def process(self, record: Record) -> list[Record] | str:
        try:
            if self.mode == "ratings":
                self._rate_record(record)
            else:
                self._pairwise(record)
        except LLMParseError as exc:
            if self.on_parse_error == "drop":
                raise
            self.note("llm_parse_error")
            record.setdefault("metadata", {})["llm_raw"] = exc.raw
        return [self.stamp(record)]

    # --- ratings --------------------------------------------------------------------------
    def rate(self, q: str, a: str) -> tuple[dict[str, int], dict[str, str]]:
        ratings, rationale = {}, {}
        for name, rubric in self.criteria.items():
            text, _ = self.chat_text([{"role": "user", "content": judge.rating_prompt(q, a, name, rubric)}],
                                     temperature=0.0)
            ratings[name], rationale[name] = judge.parse_rating(text)
        return ratings, rationale

    def _rate_record(self, record: Record) -> None:
        q = question(record)
        kind = record.get("kind", "sft")
        if kind == "ranking":
            scores = []
            for resp in record.get("responses") or []:
                r, why = self.rate(q, _text(resp.get("messages")))
                resp["ratings"], resp["rationale"] = r, why
                resp["score"] = round(sum(r.values()) / len(r), 4)
                scores.append(resp["score"])
            for resp, rank in zip(record.get("responses") or [], ranks(scores)):
                resp["rank"] = rank
        elif kind == "preference":
            out = {}
            for side in ("chosen", "rejected"):
                r, why = self.rate(q, _text(record.get(side)))
                out[side] = {"ratings": r, "rationale": why, "score": round(sum(r.values()) / len(r), 4)}
            record.setdefault("signals", {})[self.label] = out
        else:
            r, why = self.rate(q, answer(record))
            record["ratings"], record["rationale"] = r, why
            record.setdefault("signals", {})[self.label] = {"score": round(sum(r.values()) / len(r), 4)}

    # --- pairwise -------------------------------------------------------------------------
    def compare(self, q: str, x: str, y: str) -> tuple[str, list[str]]:
        first, _ = self.chat_text([{"role": "user", "content": judge.pairwise_prompt(q, x, y)}], temperature=0.0)
        second, _ = self.chat_text([{"role": "user", "content": judge.pairwise_prompt(q, y, x)}], temperature=0.0)
        v1, v2 = judge.parse_verdict(first), judge.parse_verdict(second)
        return judge.combine_orders(v1, v2), [v1, v2]

    def _pairwise(self, record: Record) -> None:
        q = question(record)
        kind = record.get("kind")
        if kind == "preference":
            result, orders = self.compare(q, _text(record.get("chosen")), _text(record.get("rejected")))
            verdict = {"x": "chosen", "y": "rejected", "tie": "tie"}[result]
        elif kind == "ranking" and len(record.get("responses") or []) == 2:
            a, b = record["responses"]
            result, orders = self.compare(q, _text(a.get("messages")), _text(b.get("messages")))
            a["rank"], b["rank"] = {"x": (1, 2), "y": (2, 1), "tie": (1, 1)}[result]
            verdict = {"x": "first", "y": "second", "tie": "tie"}[result]
        else:
            raise ValueError("pairwise judging needs a preference record or a ranking of two responses")
        self.note(f"verdict_{verdict}")
        record.setdefault("signals", {})[self.label] = {"verdict": verdict, "orders": orders}
