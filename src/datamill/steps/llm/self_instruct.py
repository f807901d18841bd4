"""``self_instruct``: new instructions (+ input, output) generated from seed tasks.

Wang et al. 2022: each request shows ``num_examples`` tasks sampled from the pool (seeds, plus up
to ``machine_examples`` already generated ones) and asks for a new task. A new task is kept only
when it passes the paper's filters — keyword blocklist (image, graph, picture, file, map, draw,
plot, go to, ...), too short / too long, starts with punctuation, no output — and its ROUGE-L
against every instruction in the growing pool is below ``rouge_threshold`` (0.7); Chinese is
compared character by character. Generation stops at ``num_instructions`` kept or after
``num_instructions * max_requests_factor`` requests.

It needs the whole seed set, so it is a global step: ``map`` stores each shard's seeds,
``reduce`` generates (requests in rounds of ``llm.max_concurrency``; each request has its own
seed, so a rerun replays the same requests from the cache and a killed run pays for no call
twice), ``apply`` writes the new SFT records (and the seeds too with ``keep_seeds``). Drops per
reason and token counts appear in the step's stats; each kept record has
``signals[LABEL].rouge_l_max``.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from typing import Any, Iterable

import orjson

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, StepContext, register
from datamill.io.atomic import atomic_write_bytes
from datamill.llm.client import finish_reason, reply_text
from datamill.llm.errors import ContextOverflow, LLMError
from datamill.llm.rouge import RougePool
from datamill.llm.tasks import self_instruct as task
from datamill.post.schema import message, prompt_text, response_text, sft
from datamill.steps.llm.base import LLMUser, make_config


def seed_task(record: Record) -> task.Task | None:
    """A seed as Instruction / Input / Output, from a post-training record (SFT) or a plain
    ``{"instruction", "input", "output"}`` / ``{"text"}`` row."""
    if record.get("messages"):
        user = prompt_text(record)
        extra = (record.get("metadata") or {}).get("alpaca_input") or ""
        ins = user[: -len(extra)].rstrip() if extra and user.endswith(extra) else user
        return task.Task(ins, extra, response_text(record)) if ins.strip() else None
    ins = record.get("instruction") or record.get("text") or ""
    return task.Task(ins, record.get("input") or "", record.get("output") or "") if ins.strip() else None


@register("self_instruct")
class SelfInstruct(LLMUser, GlobalStep):
    """Generate new instructions from seed tasks, filtered by ROUGE-L and the paper's rules."""

    template_version = task.VERSION

    def __init__(self, num_instructions: int = 100, num_examples: int = 8, machine_examples: int = 2,
                 rouge_threshold: float = 0.7, min_words: int = 3, max_words: int = 150,
                 extra_blocklist: list[str] | None = None, max_requests_factor: float = 4.0,
                 keep_seeds: bool = False, seed: int = 0, llm: dict[str, Any] | None = None):
        if num_instructions < 0:
            raise ValueError("num_instructions must be >= 0")
        if not 0 < rouge_threshold <= 1:
            raise ValueError("rouge_threshold must be in (0, 1]")
        if num_examples < 1 or machine_examples < 0 or machine_examples > num_examples:
            raise ValueError("need num_examples >= 1 and 0 <= machine_examples <= num_examples")
        self.num_instructions = num_instructions
        self.num_examples = num_examples
        self.machine_examples = machine_examples
        self.rouge_threshold = rouge_threshold
        self.min_words, self.max_words = min_words, max_words
        self.blocklist = task.BLOCKLIST + task.BLOCKLIST_ZH + tuple(w.lower() for w in extra_blocklist or ())
        self.max_requests = max(1, int(num_instructions * max_requests_factor))
        self.keep_seeds = keep_seeds
        self.seed = seed
        self.llm_config = make_config(llm, "self_instruct")

    # --- stages ---------------------------------------------------------------------------
    def map_shard(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any]:
        seeds = []
        for r in records:
            t = seed_task(r)
            if t is not None:
                seeds.append({"instruction": t.instruction, "input": t.input, "output": t.output,
                              "id": r.get("id")})
        atomic_write_bytes(os.path.join(state_dir, f"seeds-{shard:05d}.json"), orjson.dumps(seeds))
        return {"seeds": len(seeds)}

    def reduce(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        seeds: list[dict] = []
        for shard in range(n_shards):
            with open(os.path.join(state_dir, f"seeds-{shard:05d}.json"), "rb") as fh:
                seeds.extend(orjson.loads(fh.read()))
        kept, reasons, usage = self.generate(seeds)
        atomic_write_bytes(os.path.join(state_dir, "generated.json"),
                           orjson.dumps({"records": kept, "dropped": reasons, "usage": usage}))
        return {"seeds": len(seeds), "generated": len(kept),
                **{f"dropped_{k}": v for k, v in reasons.items()},
                **{f"llm_{k}": v for k, v in usage.items()}}

    def generate(self, seeds: list[dict]) -> tuple[list[Record], dict[str, int], dict[str, int]]:
        """The self-instruct loop; deterministic given the replies, so a rerun hits the cache."""
        if not seeds:
            return [], {}, {}
        client = self.client
        before = Counter(client.usage)
        rng = random.Random(self.seed)
        pool = RougePool([s["instruction"] for s in seeds])
        machine: list[dict] = []
        kept: list[Record] = []
        reasons: Counter = Counter()
        sent = 0
        width = client.config.max_concurrency
        while len(kept) < self.num_instructions and sent < self.max_requests:
            requests = []
            for _ in range(min(width, self.max_requests - sent)):
                n_machine = min(self.machine_examples, len(machine))
                examples = rng.sample(seeds, min(len(seeds), self.num_examples - n_machine))
                examples += rng.sample(machine, n_machine)
                rng.shuffle(examples)
                tasks = [task.Task(e["instruction"], e["input"], e["output"]) for e in examples]
                zh = sum(task.is_chinese(t.instruction) for t in tasks) * 2 > len(tasks)
                requests.append((sent, task.build_prompt(tasks, "zh" if zh else "en"),
                                 [e.get("id") for e in examples]))
                sent += 1

            def call(req):
                index, prompt, _ids = req
                return client.chat([{"role": "user", "content": prompt}], seed=self.seed * 1_000_003 + index)

            for req, reply in zip(requests, client.map(call, requests)):
                if len(kept) >= self.num_instructions:
                    break
                if isinstance(reply, ContextOverflow):
                    reasons["too_long"] += 1
                    continue
                if isinstance(reply, LLMError):
                    reasons["llm_error"] += 1
                    continue
                if isinstance(reply, BaseException):
                    raise reply
                raw = reply_text(reply)
                parsed = task.parse_reply(raw)
                if parsed is None:
                    reasons["llm_parse_error"] += 1
                    continue
                why = task.rule_reason(parsed, min_words=self.min_words, max_words=self.max_words,
                                       blocklist=self.blocklist)
                if why is None and finish_reason(reply) == "length" and not parsed.output:
                    why = "truncated"
                if why is not None:
                    reasons[why] += 1
                    continue
                score = pool.max_score(parsed.instruction)
                if score >= self.rouge_threshold:
                    reasons["rouge_similar"] += 1
                    continue
                pool.add(parsed.instruction)
                machine.append({"instruction": parsed.instruction, "input": parsed.input,
                                "output": parsed.output, "id": None})
                user = parsed.instruction + (f"\n{parsed.input}" if parsed.input else "")
                meta: dict[str, Any] = {"source": "self_instruct", "seed_ids": [i for i in req[2] if i],
                                        "llm": {self.label: self.provenance(reply, raw=raw, request=req[0])}}
                if parsed.input:
                    meta["alpaca_input"] = parsed.input
                rec = sft(f"{self.label}-{len(kept):06d}",
                          [message("user", user), message("assistant", parsed.output)], metadata=meta)
                rec["signals"] = {self.label: {"rouge_l_max": round(score, 4)}}
                kept.append(rec)
        return kept, dict(reasons), dict(self.usage_delta(before))

    def apply_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                    stats: StepStats, ctx: StepContext) -> Iterable[Record]:
        for r in records:
            stats.n_in += 1
            if self.keep_seeds:
                stats.n_out += 1
                yield r
        if shard == 0:
            with open(os.path.join(state_dir, "generated.json"), "rb") as fh:
                doc = orjson.loads(fh.read())
            stats.dropped.update(doc["dropped"])
            stats.counter("llm").update(doc["usage"])
            for rec in doc["records"]:
                stats.n_out += 1
                yield rec
