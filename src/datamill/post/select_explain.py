"""Why each record was kept: one sentence per method, and the human summary table."""

from __future__ import annotations

def _why(method: str, rank: int, exp: dict, pos_in_cluster: int, score_rank: int, n: int, seed: int,
         min_distance: float, q_source: str) -> str:
    c, size = exp["cluster"], exp["cluster_size"]
    if method == "kcenter":
        if rank == 0:
            return f"first centre (seeded random start, seed {seed})"
        return (f"farthest remaining prompt from the {rank} kept before it "
                f"(cosine distance {exp['distance_when_chosen']:.3f} to the nearest)")
    if method == "random":
        return f"random draw {rank + 1} (seed {seed})"
    if method == "quality":
        return f"quality {exp['quality']:.3f} ({q_source}), rank {score_rank} of {n}"
    if method == "cluster":
        by = "quality" if q_source != "none" else "random order"
        return (f"pick {pos_in_cluster} from cluster {c} ({size} records), taken in round-robin "
                f"over clusters; best remaining of its cluster by {by}")
    if method != "deita":
        return f"kept by {method}: score {exp['score']:.3f}, rank {score_rank} of {n}"
    d = exp.get("distance_when_chosen")
    near = "first kept" if d is None else f"nearest earlier-kept at distance {d:.3f} ≥ {min_distance}"
    return (f"score {exp['score']:.3f} = quality {exp['quality']:.3f} × complexity "
            f"{exp['complexity']:.3f}, rank {score_rank} of {n}; {near}")


def format_explanation(selection, limit: int = 20) -> str:
    """A short human table of the first ``limit`` kept records and the summary line."""
    s = selection.summary
    lines = [f"  {'rank':>4}  {'id':<24} {'score':>6} {'cluster':>7} {'nearest kept':<24} {'dist':>6}"]
    for e in selection.explanations[:limit]:
        dist = "" if e["nearest_kept_distance"] is None else f"{e['nearest_kept_distance']:.3f}"
        lines.append(f"  {e['rank']:>4}  {str(e['id'])[:24]:<24} {e['score']:>6.3f} {e['cluster']:>7} "
                     f"{str(e['nearest_kept_id'] or '')[:24]:<24} {dist:>6}")
    if len(selection.explanations) > limit:
        lines.append(f"  … {len(selection.explanations) - limit} more")
    cov = s.get("coverage") or {}
    tok = f", {s['tokens_kept']:,} of {s['tokens_in']:,} tokens" if s.get("tokens_in") is not None else ""
    lines.append(f"  kept {s['records_kept']:,} of {s['records_in']:,} records{tok} by {s['method']} "
                 f"(quality from {s['quality_source']}); {s['clusters_covered']} of {s['clusters']} clusters; "
                 f"coverage: mean distance {cov.get('mean', float('nan')):.3f}, max {cov.get('max', float('nan')):.3f}")
    if s.get("skipped_too_close"):
        lines.append(f"  passed over {s['skipped_too_close']:,} records closer than {s['min_distance']} to one kept")
    return "\n".join(lines)
