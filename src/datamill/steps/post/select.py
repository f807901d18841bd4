"""``kcenter_select``: budgeted selection as a global step in a recipe.

The same selection as ``datamill select`` (:func:`datamill.post.select.select`) run on the
pipeline engine, in three stages that both executors run and resume:

1. ``map`` (per shard): embed each record's prompt (the last user turn) with ``embed_model``
   (default multilingual-e5-small, offline; embeddings cached by content hash in the step's
   state folder) and keep what scoring needs (id, prompt messages, ratings, signals,
   metadata), plus each record's token count when a token budget is set;
2. ``reduce`` (single): select ``budget`` records and/or ``budget_tokens`` tokens with
   ``method`` (``kcenter`` by default; ``cluster``, ``deita``, ``quality``, ``random`` or a
   registered method) and write the decision per shard;
3. apply: a kept record gets ``signals.selection`` (rank, distance when chosen, cluster,
   nearest kept record…); the others are dropped with the reason ``not_selected``.

Recipe::

    - kcenter_select: {budget: 1000}
    - kcenter_select: {budget_tokens: 2000000, method: deita}
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

import numpy as np

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, Resources, StepContext, register
from datamill.io.atomic import atomic_open
from datamill.post.schema import prompt_text


def _save(path: str, **arrays: np.ndarray) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _load(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _light(record: dict) -> dict:
    """What scoring needs of a record: no answers beyond ranked scores."""
    msgs = [m for m in record.get("messages") or [] if isinstance(m, dict) and m.get("role") in ("system", "user")]
    out = {"id": record.get("id"), "kind": record.get("kind", "sft"),
           "messages": [{"role": m.get("role"), "content": m.get("content") or ""} for m in msgs]}
    for k in ("ratings", "signals", "metadata"):
        if record.get(k) is not None:
            out[k] = record[k]
    if record.get("kind") == "ranking":
        out["responses"] = [{"score": r.get("score")} for r in record.get("responses") or [] if isinstance(r, dict)]
    return out


@register("kcenter_select")
class KCenterSelect(GlobalStep):
    """Keep a budget of records that cover the prompt space (K-Center-Greedy by default)."""

    resources = Resources(cpus=1.0, memory_mb=2048, batch_size=256)

    def __init__(self, budget: int | None = None, budget_tokens: int | None = None, method: str = "kcenter",
                 embed_model: str | None = None, tokenizer: str | None = None, n_clusters: int | None = None,
                 min_distance: float = 0.1, seed: int = 0, center: bool = True,
                 quality_keys: list[str] | None = None):
        from datamill.post.select import METHOD_REGISTRY

        for name, v in (("budget", budget), ("budget_tokens", budget_tokens)):
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        if method not in METHOD_REGISTRY:
            raise ValueError(f"method must be one of {', '.join(METHOD_REGISTRY)}, not {method!r}")
        self.budget = budget
        self.budget_tokens = budget_tokens
        self.method = method
        self.embed_model = embed_model
        self.tokenizer = tokenizer
        self.n_clusters = n_clusters
        self.min_distance = float(min_distance)
        self.seed = int(seed)
        self.center = center
        self.quality_keys = list(quality_keys) if quality_keys else None

    def _check_budget(self) -> None:
        if self.budget is None and self.budget_tokens is None:
            raise ValueError("kcenter_select needs a budget: budget (records), budget_tokens, or both")

    def stages(self):
        self._check_budget()  # before any work: a step without a budget fails at once
        return super().stages()

    # --- stage 1 ----------------------------------------------------------------------------------
    def map_shard(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any]:
        from datamill.embed import get_embedder, multilingual_default

        self._check_budget()
        records = list(records)
        light = [_light(r) for r in records]
        texts = [prompt_text(r) for r in light]
        model = self.embed_model or multilingual_default()
        X = get_embedder(model).embed(texts) if texts else np.zeros((0, 1), np.float32)
        costs = np.zeros(len(records), np.int64)
        if self.budget_tokens is not None and records:
            from datamill.post.export import count_tokens
            from datamill.post.select import record_text

            costs = np.asarray(count_tokens([record_text(r) for r in records], self.tokenizer), dtype=np.int64)
        _save(os.path.join(state_dir, f"emb-{shard:05d}.npz"), X=np.asarray(X, np.float32), costs=costs)
        with atomic_open(os.path.join(state_dir, f"light-{shard:05d}.jsonl"), "wb") as fh:
            for r in light:
                fh.write(json.dumps(r, ensure_ascii=False, default=str).encode("utf-8") + b"\n")
        return {"records": len(records)}

    # --- stage 2 ----------------------------------------------------------------------------------
    def reduce(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        from datamill.post.select import select

        light, parts, costs, where = [], [], [], []
        for s in range(n_shards):
            emb = _load(os.path.join(state_dir, f"emb-{s:05d}.npz"))
            with open(os.path.join(state_dir, f"light-{s:05d}.jsonl"), encoding="utf-8") as fh:
                rows = [json.loads(line) for line in fh]
            light += rows
            if rows:
                parts.append(emb["X"])
                costs.append(emb["costs"])
            where += [(s, i) for i in range(len(rows))]
        kept: dict[int, dict[int, dict]] = {s: {} for s in range(n_shards)}
        summary: dict[str, Any] = {"selected_from": len(light)}
        if light:
            sel = select(light, self.budget, budget_tokens=self.budget_tokens, method=self.method,
                         embeddings=np.concatenate(parts), token_counts=np.concatenate(costs),
                         quality_keys=self.quality_keys, n_clusters=self.n_clusters,
                         min_distance=self.min_distance, seed=self.seed, center_embeddings=self.center)
            for idx, exp in zip(sel.indices, sel.explanations):
                s, pos = where[idx]
                kept[s][pos] = {k: v for k, v in exp.items() if k not in ("id", "index")}
            cov = sel.summary.get("coverage") or {}
            summary.update(kept=len(sel.indices), coverage_mean=round(cov.get("mean", float("nan")), 4),
                           coverage_max=round(cov.get("max", float("nan")), 4),
                           quality_source=sel.summary.get("quality_source"))
            if sel.summary.get("tokens_kept") is not None and self.budget_tokens is not None:
                summary["tokens_kept"] = sel.summary["tokens_kept"]
        for s in range(n_shards):
            with atomic_open(os.path.join(state_dir, f"kept-{s:05d}.json"), "wb") as fh:
                fh.write(json.dumps({str(k): v for k, v in kept[s].items()}, ensure_ascii=False).encode("utf-8"))
        return summary

    # --- apply ------------------------------------------------------------------------------------
    def apply_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                    stats: StepStats, ctx: StepContext) -> Iterable[Record]:
        with open(os.path.join(state_dir, f"kept-{shard:05d}.json"), encoding="utf-8") as fh:
            kept = json.load(fh)
        for pos, record in enumerate(records):
            stats.n_in += 1
            exp = kept.get(str(pos))
            if exp is None:
                stats.dropped["not_selected"] += 1
                ctx.drop(self, record, "not_selected")
                continue
            sig = record.get("signals")
            if sig is None:
                sig = record["signals"] = {}
            sig["selection"] = exp
            stats.n_out += 1
            yield record

