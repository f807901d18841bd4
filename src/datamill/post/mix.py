"""Mixing post-training sources: a weight per source, a token (or record) budget, a cap on
epochs per source, and the final mix printed as a table.

A weight is a source's share of the *final* mix, counted in tokens by default (``unit="tokens"``)
or in records (``unit="records"``). Weights need not sum to 1; they are normalised.

Planning (:func:`plan_mix`), given what each source holds (records, tokens):

* with a budget ``B``: each source's target is ``weight × B``. A source whose target exceeds
  ``max_epochs`` × its size is capped there, and what it cannot give is shared among the others
  in proportion to their weights (repeated until nothing is over its cap). When every source is
  capped the mix is smaller than the budget, and the plan says by how much.
* without a budget: the largest mix that keeps the weights exactly with no source above its cap
  (``B = min(cap_i / weight_i)``): with the default cap of one epoch, the biggest mix that
  repeats nothing.

``epochs = target / size``: above 1 the source is upsampled (every record ``floor(epochs)`` times,
then a seeded random part of it once more); below 1 it is a seeded random subset. Repeated copies
get ``#ep2``, ``#ep3``… appended to their id (the original is ``metadata.mix_origin_id``), and
every output record has ``metadata.mix_source``. The output is shuffled (seeded) unless told not.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from datamill.core.errors import DatamillError


class MixError(DatamillError):
    """A mix that cannot be planned (no sources, bad weight or cap…)."""


@dataclass
class MixSource:
    """One source of a mix: its records (or a path read with ``read_records``), weight and cap."""

    name: str
    records: list[dict] | None = None
    path: str | None = None
    weight: float = 1.0
    max_epochs: float | None = None   # None: the mix's default


@dataclass
class SourcePlan:
    name: str
    weight: float            # normalised
    records: int             # available
    tokens: int              # available
    max_epochs: float
    target: float            # in the mix's unit
    epochs: float
    capped: bool = False
    out_records: int = 0     # filled in by mix()
    out_tokens: int = 0


@dataclass
class MixPlan:
    unit: str
    budget: float | None
    sources: list[SourcePlan]
    total_target: float
    short_by: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "budget": self.budget, "total_target": self.total_target,
                "short_by": self.short_by, "notes": self.notes,
                "sources": [vars(s) for s in self.sources]}


def plan_mix(sizes: dict[str, tuple[int, int]], weights: dict[str, float], *, budget: float | None = None,
             unit: str = "tokens", max_epochs: float | dict[str, float] = 1.0) -> MixPlan:
    """Plan a mix from each source's ``(records, tokens)`` (see the module doc)."""
    if unit not in ("tokens", "records"):
        raise MixError(f"unit must be 'tokens' or 'records', not {unit!r}")
    if not sizes:
        raise MixError("a mix needs at least one source")
    names = list(sizes)
    w = {}
    for n in names:
        wt = float(weights.get(n, 1.0))
        if not math.isfinite(wt) or wt < 0:
            raise MixError(f"source {n!r}: weight must be a number >= 0, not {weights.get(n)!r}")
        w[n] = wt
    total_w = sum(w.values())
    if total_w <= 0:
        raise MixError("at least one source needs a weight above 0")
    w = {n: v / total_w for n, v in w.items()}
    caps_ep = {n: float(max_epochs.get(n, 1.0) if isinstance(max_epochs, dict) else max_epochs) for n in names}
    for n, c in caps_ep.items():
        if not c > 0:
            raise MixError(f"source {n!r}: max_epochs must be above 0, not {c}")
    size = {n: float(sizes[n][1] if unit == "tokens" else sizes[n][0]) for n in names}
    cap = {n: caps_ep[n] * size[n] for n in names}
    notes: list[str] = []
    if budget is not None and budget < 0:
        raise MixError("the budget cannot be negative")
    if budget is None:
        live = [n for n in names if w[n] > 0]
        B = min(cap[n] / w[n] for n in live)
        target = {n: w[n] * B for n in names}
        capped = {n for n in live if math.isclose(target[n], cap[n], rel_tol=1e-9)}
        limit = min(live, key=lambda n: cap[n] / w[n])
        notes.append(f"no budget: the largest mix with these weights and epoch caps; limited by {limit!r}")
    else:
        target = {n: 0.0 for n in names}
        capped: set[str] = set()
        left = float(budget)
        while True:
            free = [n for n in names if n not in capped and w[n] > 0 and size[n] > 0]
            wsum = sum(w[n] for n in free)
            if not free or wsum <= 0 or left <= 1e-9:
                break
            over = [n for n in free if target[n] + left * w[n] / wsum > cap[n] + 1e-9]
            if not over:
                for n in free:
                    target[n] += left * w[n] / wsum
                left = 0.0
                break
            for n in over:  # give the capped sources all they can, share the rest next round
                left -= cap[n] - target[n]
                target[n] = cap[n]
                capped.add(n)
        for n in names:
            if w[n] > 0 and size[n] == 0:
                notes.append(f"source {n!r} is empty")
        short = max(0.0, float(budget) - sum(target.values()))
        if short > 0.5:
            notes.append(f"every source reached its epoch cap: the mix is {short:,.0f} {unit} short of the budget")
        if capped:
            notes.append("capped at max_epochs: " + ", ".join(sorted(capped)))
    sources = [SourcePlan(name=n, weight=w[n], records=int(sizes[n][0]), tokens=int(sizes[n][1]),
                          max_epochs=caps_ep[n], target=target[n],
                          epochs=(target[n] / size[n]) if size[n] else 0.0, capped=n in capped)
               for n in names]
    total = sum(target.values())
    return MixPlan(unit=unit, budget=budget, sources=sources, total_target=total,
                   short_by=max(0.0, (budget or total) - total), notes=notes)


def _take(records: list[dict], costs: list[int], target: float, rng: random.Random) -> list[tuple[int, int]]:
    """(record index, epoch) pairs filling ``target`` cost: whole epochs, then a random part."""
    total = sum(costs)
    if not records or total <= 0 or target <= 0:
        return []
    full = int(target // total) if total else 0
    out = [(i, e) for e in range(full) for i in range(len(records))]
    rest = target - full * total
    order = list(range(len(records)))
    rng.shuffle(order)
    got = 0.0
    for i in order:
        if got >= rest:
            break
        c = costs[i]
        if got + c <= rest or (got + c - rest) < c / 2:
            out.append((i, full))
            got += c
    return out


def mix(sources: Sequence[MixSource], *, budget_tokens: int | None = None, budget_records: int | None = None,
        max_epochs: float = 1.0, seed: int = 0, shuffle: bool = True,
        count_tokens: Callable[[list[str]], list[int]] | None = None,
        tokenizer: str | None = None) -> tuple[list[dict], MixPlan]:
    """Mix ``sources`` into one list of records; returns (records, plan with what was taken).

    Give at most one of ``budget_tokens`` / ``budget_records`` (the unit follows; tokens when
    neither). Token counts come from ``count_tokens`` or :func:`datamill.post.export.count_tokens`
    (``tokenizer``: a tokenizer.json path; default datamill's BPE).
    """
    if budget_tokens is not None and budget_records is not None:
        raise MixError("give a token budget or a record budget, not both")
    if not sources:
        raise MixError("a mix needs at least one source")
    unit = "records" if budget_records is not None else "tokens"
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise MixError("source names must differ: " + ", ".join(sorted({n for n in names if names.count(n) > 1})))
    loaded: dict[str, list[dict]] = {}
    for s in sources:
        if s.records is not None:
            loaded[s.name] = list(s.records)
        elif s.path:
            from datamill.post.formats import read_records

            loaded[s.name] = list(read_records(s.path))
        else:
            raise MixError(f"source {s.name!r} has neither records nor a path")
    if count_tokens is None:
        from datamill.post.export import count_tokens as _ct

        def count_tokens(texts, _tok=tokenizer):
            return _ct(texts, tokenizer=_tok)
    from datamill.post.select import record_text

    costs = {n: list(count_tokens([record_text(r) for r in recs])) for n, recs in loaded.items()}
    sizes = {n: (len(loaded[n]), int(sum(costs[n]))) for n in names}
    plan = plan_mix(sizes, {s.name: s.weight for s in sources},
                    budget=budget_tokens if unit == "tokens" else budget_records, unit=unit,
                    max_epochs={s.name: (s.max_epochs if s.max_epochs is not None else max_epochs) for s in sources})
    out: list[dict] = []
    for sp in plan.sources:
        rng = random.Random(f"{seed}:{sp.name}")
        recs = loaded[sp.name]
        unit_costs = costs[sp.name] if unit == "tokens" else [1] * len(recs)
        for i, ep in _take(recs, unit_costs, sp.target, rng):
            r = dict(recs[i])
            meta = dict(r.get("metadata") or {})
            meta["mix_source"] = sp.name
            if ep:
                meta["mix_origin_id"] = r.get("id")
                r["id"] = f"{r.get('id')}#ep{ep + 1}"
            r["metadata"] = meta
            out.append(r)
            sp.out_records += 1
            sp.out_tokens += costs[sp.name][i]
    if shuffle:
        random.Random(seed).shuffle(out)
    return out, plan


def format_mix(plan: MixPlan) -> str:
    """The final mix as a table: per source its weight, what it holds, epochs taken, what went
    into the mix and its share of the result."""
    tot_tok = sum(s.out_tokens for s in plan.sources)
    tot_rec = sum(s.out_records for s in plan.sources)
    filled = tot_rec > 0 or tot_tok > 0
    width = max([6] + [len(s.name) for s in plan.sources])
    head = (f"  {'source':<{width}}  {'weight':>6}  {'records':>9}  {'tokens':>11}  {'epochs':>6}  "
            f"{'cap':>4}  {'mix recs':>9}  {'mix tokens':>11}  {'share':>6}")
    lines = [head]
    for s in plan.sources:
        share_base = tot_tok if plan.unit == "tokens" else tot_rec
        mine = s.out_tokens if plan.unit == "tokens" else s.out_records
        if not filled:
            mine, share_base = s.target, plan.total_target or 1
        share = 100.0 * mine / share_base if share_base else 0.0
        mark = "*" if s.capped else " "
        recs = f"{s.out_records:,}" if filled else "-"
        toks = f"{s.out_tokens:,}" if filled else (f"~{s.target:,.0f}" if plan.unit == "tokens" else "-")
        lines.append(f"  {s.name:<{width}}  {s.weight:>6.3f}  {s.records:>9,}  {s.tokens:>11,}  "
                     f"{s.epochs:>6.2f}  {s.max_epochs:>3g}{mark}  {recs:>9}  {toks:>11}  {share:>5.1f}%")
    lines.append(f"  {'total':<{width}}  {'':>6}  {sum(s.records for s in plan.sources):>9,}  "
                 f"{sum(s.tokens for s in plan.sources):>11,}  {'':>6}  {'':>4}  {tot_rec:>9,}  {tot_tok:>11,}  100.0%")
    budget = "none" if plan.budget is None else f"{plan.budget:,.0f} {plan.unit}"
    lines.append(f"  budget: {budget}; weights are shares of {plan.unit}; * = at its epoch cap")
    lines += [f"  note: {n}" for n in plan.notes]
    return "\n".join(lines)


def parse_source_spec(spec: str) -> MixSource:
    """``[NAME=]PATH[:WEIGHT[:MAX_EPOCHS]]`` (the CLI's ``--source``)."""
    name = None
    if "=" in spec.split(":", 1)[0]:
        name, spec = spec.split("=", 1)
    parts = spec.rsplit(":", 2)
    path, nums = parts[0], parts[1:]
    while nums and not _is_num(nums[0]):  # a colon inside the path
        path = f"{path}:{nums.pop(0)}"
    weight = float(nums[0]) if nums else 1.0
    cap = float(nums[1]) if len(nums) > 1 else None
    if not path:
        raise MixError(f"--source {spec!r}: no path")
    base = os.path.basename(path.rstrip("/"))
    return MixSource(name=name or base.split(".")[0] or base, path=path, weight=weight, max_epochs=cap)


def _is_num(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def load_mix_config(path: str) -> dict[str, Any]:
    """A YAML mix: ``sources: [{name, path, weight, max_epochs}]``, ``budget_tokens`` or
    ``budget_records``, ``max_epochs``, ``seed``."""
    import yaml

    if not os.path.isfile(path):
        raise MixError(f"mix config {path!r} not found")
    try:
        cfg = yaml.safe_load(open(path, encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise MixError(f"{path}: broken YAML ({exc})") from exc
    if not isinstance(cfg, dict) or not isinstance(cfg.get("sources"), list):
        raise MixError(f"{path}: needs a 'sources' list")
    unknown = set(cfg) - {"sources", "budget_tokens", "budget_records", "max_epochs", "seed", "shuffle", "tokenizer"}
    if unknown:
        raise MixError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    base = os.path.dirname(os.path.abspath(path))
    sources = []
    for i, s in enumerate(cfg["sources"]):
        if not isinstance(s, dict) or "path" not in s:
            raise MixError(f"{path}: source {i + 1} needs a 'path'")
        bad = set(s) - {"name", "path", "weight", "max_epochs"}
        if bad:
            raise MixError(f"{path}: source {i + 1}: unknown keys {', '.join(sorted(bad))}")
        p = s["path"] if os.path.isabs(s["path"]) else os.path.join(base, s["path"])
        sources.append(MixSource(name=str(s.get("name") or os.path.basename(p).split(".")[0]), path=p,
                                 weight=float(s.get("weight", 1.0)),
                                 max_epochs=None if s.get("max_epochs") is None else float(s["max_epochs"])))
    cfg["sources"] = sources
    return cfg
