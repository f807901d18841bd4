"""``evol_instruct``: WizardLM's Evol-Instruct on the prompts of SFT records.

Each record is evolved for ``generations`` rounds; each round applies one operation drawn (per
record, reproducibly) from ``operations`` — in-depth: constraints, deepen, concretize, reasoning,
complicate_input; in-breadth: breadth. After each round the model answers the new task
(``answer: true``), and the paper's elimination rules decide (see
:func:`datamill.llm.tasks.evol.eliminate`). Evolution stops at the first eliminated round; the
record keeps its last surviving evolution (the answer becomes its assistant turn), or is dropped
with the elimination reason when even the first round failed. Eliminations per reason are in the
stats under ``counters.evol_instruct``; the history is in ``metadata.evol``.
"""

from __future__ import annotations

from typing import Any

from datamill.core.record import Record
from datamill.core.step import register
from datamill.llm.tasks import evol
from datamill.llm.tasks.self_instruct import is_chinese
from datamill.post.schema import message, sft
from datamill.steps.llm.base import LLMStep
from datamill.steps.llm.records import question, rng_for


@register("evol_instruct")
class EvolInstruct(LLMStep):
    """Make prompts harder (in-depth) or new (in-breadth), with WizardLM's elimination rules."""

    template_version = evol.VERSION

    def __init__(self, generations: int = 1, operations: list[str] | None = None, answer: bool = True,
                 same_threshold: float = 0.9, seed: int = 0, llm: dict[str, Any] | None = None):
        ops = list(operations or evol.OPERATIONS)
        bad = [o for o in ops if o not in evol.OPERATIONS]
        if bad:
            raise ValueError(f"unknown operation(s) {bad}; expected some of {list(evol.OPERATIONS)}")
        if generations < 1:
            raise ValueError("generations must be >= 1")
        super().__init__(llm)
        self.generations, self.operations, self.answer = generations, ops, answer
        self.same_threshold, self.seed = same_threshold, seed

    def process(self, record: Record) -> list[Record] | str:
        current = question(record)
        if not current.strip():
            return "no_prompt"
        rng = rng_for(record, self.seed)
        history: list[dict[str, Any]] = []
        best: tuple[str, str, dict] | None = None
        for gen in range(self.generations):
            op = rng.choice(self.operations)
            text, reply = self.chat_text([{"role": "user", "content": evol.build_prompt(current, op, is_chinese(current))}])
            evolved = evol.clean(text)
            response = None
            if self.answer and evolved:
                response, _ = self.chat_text([{"role": "user", "content": evolved}])
            why = evol.eliminate(current, evolved, response, same_threshold=self.same_threshold)
            history.append({"generation": gen + 1, "operation": op, "instruction": evolved,
                            **({"eliminated": why} if why else {})})
            if why:
                self.note(why)
                break
            self.note(f"kept_{op}")
            best = (evolved, response or "", reply)
            current = evolved
        if best is None:
            return history[-1]["eliminated"]
        evolved, response, reply = best
        meta = dict(record.get("metadata") or {})
        meta["evol"] = {"source_id": record.get("id"), "original": question(record), "history": history}
        msgs = [message("user", evolved)] + ([message("assistant", response)] if response else [])
        out = sft(f"{record.get('id')}-evol", msgs, metadata=meta)  # prompt only when answer=false
        return [self.stamp(out, reply)]
