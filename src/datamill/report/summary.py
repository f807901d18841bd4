"""A run summary people can read: in/out per step, top drop reasons, languages, fallbacks,
quarantine."""

from __future__ import annotations

from typing import Any

from datamill.io.layout import quarantine_dir, stats_path


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f}%" if whole else "    -"


def failure(stats: dict[str, Any]) -> str | None:
    """Why a finished run produced nothing useful, or None: every record it met was
    quarantined (unreadable input, or a step failing on every record). A run whose filters
    dropped everything is not a failure."""
    quarantined = sum((stats.get("quarantine") or {}).values())
    if not quarantined or stats["output"]["records"]:
        return None
    if any(sum(s["dropped"].values()) for s in stats["steps"]):
        return None
    kinds = _fmt_counts(stats["quarantine"])
    return (f"every record was quarantined ({quarantined:,}: {kinds}); nothing was written. "
            f"See {run_file_hint(stats)} for the file, offset or line and reason of each")


def run_file_hint(stats: dict[str, Any]) -> str:
    return quarantine_dir(stats["output_dir"]) + "/"


def format_summary(stats: dict[str, Any], top: int = 5) -> str:
    reader = stats["reader"]
    lines = []
    name = stats.get("pipeline", "pipeline")
    lines.append(f"datamill run: {name}  ({len(stats.get('inputs', []))} input files, "
                 f"{stats.get('workers', 1)} worker(s), {stats.get('seconds', 0):.1f}s)")
    skipped = sum(reader.get("skipped", {}).values())
    quarantined = sum(stats.get("quarantine", {}).values())
    lines.append(f"  read {reader['read']:,} records from {reader['files']} files"
                 + (f"; skipped {skipped:,} ({_fmt_counts(reader['skipped'])})" if skipped else "")
                 + (f"; quarantined {quarantined:,}" if quarantined else ""))
    lines.append("")
    lines.append(f"  {'step':<24}{'kind':<10}{'in':>10}{'out':>10}{'dropped':>10}{'kept':>8}{'time':>9}")
    for s in stats["steps"]:
        dropped = sum(s["dropped"].values())
        lines.append(f"  {s['step']:<24}{s['kind']:<10}{s['in']:>10,}{s['out']:>10,}{dropped:>10,}"
                     f"{_pct(s['out'], s['in']):>8}{s['seconds']:>8.1f}s")
    first_in = stats["steps"][0]["in"] if stats["steps"] else reader["read"]
    out = stats["output"]["records"]
    lines.append("")
    lines.append(f"  kept {out:,} of {first_in:,} records ({_pct(out, first_in).strip()})")
    reasons: list[tuple[int, str, str]] = []
    for s in stats["steps"]:
        for reason, n in s["dropped"].items():
            reasons.append((n, s["step"], reason))
    if reasons:
        reasons.sort(reverse=True)
        lines.append("  top drop reasons:")
        for n, step, reason in reasons[:top]:
            lines.append(f"    {n:>8,}  {reason}  ({step})")
    langs = stats.get("languages") or {}
    if langs:
        total = sum(langs.values())
        shown = ", ".join(f"{k} {_pct(v, total).strip()}" for k, v in list(langs.items())[:8])
        lines.append(f"  languages seen: {shown}" + (f" (+{len(langs) - 8} more)" if len(langs) > 8 else ""))
    fallbacks = [(s["step"], s.get("fallbacks") or {}) for s in stats["steps"]]
    for step, counts in fallbacks:
        if counts:
            lines.append(f"  fallbacks in {step}: {_fmt_counts(counts)}")
    if stats.get("quarantine"):
        lines.append(f"  quarantined: {_fmt_counts(stats['quarantine'])}  -> {run_file_hint(stats)}")
    for label, counters in (stats.get("globals") or {}).items():
        if counters:
            lines.append(f"  {label}: {_fmt_counts(counters)}")
    if stats.get("peak_rss_mb_per_worker"):
        lines.append(f"  peak memory per worker: {stats['peak_rss_mb_per_worker']:,.0f} MB")
    lines.append(f"  output: {stats['output_dir']} ({len(stats['output']['files'])} files, "
                 f"{stats['output']['format']}); stats: {stats_path(stats['output_dir'])}")
    why = failure(stats)
    if why:
        lines.append(f"  FAILED: {why}")
    return "\n".join(lines)


def _fmt_counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in counts.items())


def load_stats(output: str) -> dict[str, Any]:
    """The stats of a finished run in ``output`` (either layout, any fsspec path)."""
    import fsspec
    import orjson

    from datamill.core.errors import DatamillError
    from datamill.io.layout import find_stats

    path = find_stats(output)
    if path is None:
        raise DatamillError(f"{stats_path(output)}: not found; has the run in {output!r} finished?")
    with fsspec.open(path, "rb") as fh:
        return orjson.loads(fh.read())
