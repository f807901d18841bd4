"""The sections of the HTML report, each a dict the template renders: title, notes, figures,
tables, examples. A section whose data is absent says so instead of showing empty plots."""

from __future__ import annotations

from typing import Any

import numpy as np

from datamill.report import plots


def section(sid: str, title: str) -> dict[str, Any]:
    return {"id": sid, "title": title, "notes": [], "figures": [], "tables": [], "examples": [], "datasheet": None}


def fig(uri: str, alt: str) -> dict[str, str]:
    return {"uri": uri, "alt": alt}


def row(*cells, cls: str | None = None) -> dict[str, Any]:
    return {"cells": [fmt(c) for c in cells], "cls": cls}


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def overview(src, prof) -> dict[str, Any]:
    s = section("overview", "Overview")
    rows = [row("records", src.total_records), row("columns", ", ".join(src.table.column_names))]
    if src.stats:
        st = src.stats
        rows += [row("pipeline", st.get("pipeline")), row("input files", len(st.get("inputs", []))),
                 row("records read", (st.get("reader") or {}).get("read")),
                 row("quarantined", sum((st.get("quarantine") or {}).values())),
                 row("run time (s)", st.get("seconds"))]
    s["tables"].append({"caption": None, "header": ["", "value"], "rows": rows})
    return s


def lineage_section(src, graph) -> dict[str, Any] | None:
    if not src.lineage:
        return None
    s = section("lineage", "Lineage")
    doc = src.lineage
    recipe = doc.get("recipe") or {}
    rows = [row("version", src.ref), row("registered by", doc.get("who")), row("when", doc.get("when")),
            row("datamill", f"{doc.get('datamill_version')} (git {doc.get('git_commit')})"),
            row("recipe", f"{recipe.get('path') or '(run plan)'} sha256 {recipe.get('sha256')}" if recipe else None)]
    for e in (doc.get("inputs") or [])[:30]:
        rows.append(row("input", f"catalog://{e['catalog']}" if "catalog" in e else f"{e['path']} xxh3_128 {e.get('xxh3_128')}"))
    s["tables"].append({"caption": None, "header": ["", ""], "rows": rows})
    if graph:
        s["figures"].append(fig(plots.lineage_image(graph), "lineage graph"))
    return s


def funnel_section(src) -> dict[str, Any]:
    s = section("funnel", "Pipeline funnel")
    steps = (src.stats or {}).get("steps")
    if not steps:
        s["notes"].append("No pipeline stats (stats.json) for this data: the funnel is left out.")
        return s
    read = (src.stats.get("reader") or {}).get("read", steps[0]["in"])
    s["figures"].append(fig(plots.funnel(steps, read), "records per step"))
    rows = []
    for st in steps:
        for reason, n in (st.get("dropped") or {}).items():
            rows.append(row(st["step"], reason, n, f"{n / st['in']:.1%}" if st["in"] else "–"))
    if rows:
        s["tables"].append({"caption": "Drops per reason", "header": ["step", "reason", "records", "of step input"],
                            "rows": rows})
    quarantine = src.stats.get("quarantine") or {}
    if quarantine:
        s["tables"].append({"caption": "Quarantined", "header": ["reason", "records"],
                            "rows": [row(k, v) for k, v in quarantine.items()]})
    return s


def categories_section(prof) -> dict[str, Any]:
    s = section("composition", "Languages, domains, sources")
    for name in ("language", "domain", "source", "kind"):
        counts = prof.categorical.get(name)
        if counts:
            top = counts.most_common(20)
            s["figures"].append(fig(plots.bars(top, f"{name} (top {len(top)} of {len(counts)})"), name))
    if not s["figures"]:
        s["notes"].append("No language, URL or source fields in these records.")
    return s


def lengths_section(prof) -> dict[str, Any]:
    s = section("lengths", "Lengths")
    for name, title in (("length.characters", "characters per record"),
                        ("length.tokens", "tokens per record (words; CJK: characters)")):
        if name in prof.numeric:
            s["figures"].append(fig(plots.histogram(prof.numeric[name], title), title))
    if not s["figures"]:
        s["notes"].append("No text column: see the post-training section for lengths.")
    return s


def signals_section(prof) -> dict[str, Any]:
    s = section("signals", "Signals")
    names = [n for n in prof.signal_names() if "cluster" not in n]
    if not names:
        s["notes"].append("This data holds no numeric signals: the signal histograms are left out "
                          "(taggers such as gopher_quality or quality_classifier store them).")
        return s
    rows = []
    for n in names:
        v = prof.numeric[n]
        f = v[np.isfinite(v)]
        s["figures"].append(fig(plots.histogram(v, n[len('signals.'):]), n))
        rows.append(row(n[len("signals."):], int(f.size), float(f.mean()) if f.size else None,
                        float(np.median(f)) if f.size else None, float(f.min()) if f.size else None,
                        float(f.max()) if f.size else None))
    s["tables"].append({"caption": "Summary", "header": ["signal", "records", "mean", "median", "min", "max"],
                        "rows": rows})
    return s


def dedup_section(src, prof) -> dict[str, Any]:
    s = section("dedup", "Duplicate clusters")
    names = [n for n in prof.numeric if "cluster_size" in n]
    for n in names:
        v = prof.numeric[n]
        s["figures"].append(fig(plots.histogram(v[v > 0], f"{n[len('signals.'):]} (kept records that had duplicates)",
                                                log=False), n))
    for label, info in ((src.stats or {}).get("globals") or {}).items():
        scalars = [(k, v) for k, v in info.items() if isinstance(v, (int, float))]
        if scalars:
            s["tables"].append({"caption": label, "header": ["counter", "value"], "rows": [row(k, v) for k, v in scalars]})
    if not s["figures"] and not s["tables"]:
        s["notes"].append("No deduplication step ran on this data (no cluster signals): section left out.")
    return s


def dropped_section(src) -> dict[str, Any]:
    s = section("dropped", "Examples of dropped records")
    if not src.dropped:
        s["notes"].append("No dropped records were kept (run with --keep-dropped to see examples here).")
    for reason, items in src.dropped.items():
        s["examples"].append({"reason": reason, "items": items})
    return s


def post_section(prof, embed_map: tuple | None, embed_name: str = "all-MiniLM-L6-v2") -> dict[str, Any]:
    s = section("post", "Post-training data")
    p = prof.post
    for name, title in (("post.turns", "turns per record"), ("post.prompt_characters", "prompt characters"),
                        ("post.answer_characters", "answer characters (chosen / completion)"),
                        ("post.rejected_characters", "rejected answer characters")):
        if name in prof.numeric:
            s["figures"].append(fig(plots.histogram(prof.numeric[name], title), title))
    if p.get("roles"):
        s["figures"].append(fig(plots.bars(p["roles"].most_common(), "messages per role", xlabel="messages"), "roles"))
    if p.get("labels"):
        s["figures"].append(fig(plots.bars(p["labels"].most_common(), "KTO labels"), "labels"))
    rows = []
    for crit, vals in sorted((p.get("ratings") or {}).items()):
        s["figures"].append(fig(plots.histogram(vals, f"rating: {crit}", log=False, bins=20), crit))
        rows.append(row(crit, int(vals.size), float(vals.mean()), float(np.median(vals))))
    if rows:
        s["tables"].append({"caption": "Ratings per criterion", "header": ["criterion", "records", "mean", "median"],
                            "rows": rows})
    else:
        s["notes"].append("No ratings in these records.")
    if embed_map is not None:
        xy, labels, n = embed_map
        s["figures"].append(fig(plots.scatter_clusters(xy, labels, f"prompts, 2-D PCA of {embed_name} "
                                                                  f"embeddings ({n:,} sampled), k-means clusters"),
                                "prompt embedding map"))
    else:
        s["notes"].append("Prompt embedding map left out (embeddings off).")
    return s
