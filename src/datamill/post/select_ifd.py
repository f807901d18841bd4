"""Selection by instruction-following difficulty (Li et al. 2023, "From Quantity to Quality").

Keeps the records with the highest IFD (``signals["ifd_score"]["ifd"]``, written by the
``ifd_score`` step) under a record and/or token budget. Records with IFD >= ``max_ifd`` (1.0 in
the paper: the instruction does not help predict the answer at all, so prompt and answer do not
match) and records without the signal are left out. ``datamill select --method ifd`` is the CLI.
"""

from __future__ import annotations

from typing import Callable, Sequence

from datamill.post.schema import prompt_text
from datamill.post.select import Selection, SelectionError


def ifd_value(record: dict, signal: str = "ifd_score.ifd") -> float | None:
    node = record.get("signals") or {}
    for part in signal.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def select_ifd(records: Sequence[dict], budget: int | None = None, *, budget_tokens: int | None = None,
               token_counts: Sequence[int] | None = None,
               count_tokens: Callable[[list[str]], list[int]] | None = None,
               signal: str = "ifd_score.ifd", max_ifd: float = 1.0) -> Selection:
    if budget is None and budget_tokens is None:
        raise SelectionError("give a budget (records) and/or a token budget")
    values = [ifd_value(r, signal) for r in records]
    scored = [i for i, v in enumerate(values) if v is not None]
    if records and not scored:
        raise SelectionError(f"no record has the signal {signal!r}: run the ifd_score step first")
    eligible = sorted((i for i in scored if values[i] < max_ifd), key=lambda i: (-values[i], i))
    costs = None
    if budget_tokens is not None:
        if token_counts is None:
            if count_tokens is None:
                from datamill.post.export import count_tokens
            token_counts = count_tokens([prompt_text(r) for r in records])
        costs = list(token_counts)
    chosen, used = [], 0
    for i in eligible:
        if budget is not None and len(chosen) >= budget:
            break
        if costs is not None:
            if used + costs[i] > budget_tokens:
                continue
            used += costs[i]
        chosen.append(i)
    explanations = [{"id": records[i].get("id", str(i)), "rank": k + 1, "index": i, "method": "ifd",
                     "ifd": values[i], "score": values[i], "cluster": -1, "nearest_kept_id": None,
                     "nearest_kept_distance": None, "why": f"IFD {values[i]:.3f}: rank {k + 1} of {len(eligible)} with IFD < {max_ifd}"}
                    for k, i in enumerate(chosen)]
    summary = {"method": "ifd", "records_in": len(records), "records_kept": len(chosen),
               "without_signal": len(records) - len(scored),
               "ifd_at_or_above_max": len(scored) - len(eligible), "max_ifd": max_ifd,
               "quality_source": f"signal {signal}", "clusters": 0, "clusters_covered": 0, "coverage": {}}
    if costs is not None:
        summary["tokens_kept"] = used
    return Selection(chosen, explanations, summary)
