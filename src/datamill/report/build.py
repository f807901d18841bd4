"""`datamill report SOURCE --html FILE [--compare OTHER]`: one self-contained HTML file (plots
embedded as SVG data URIs, styles inline, no script) and DATASHEET.md beside it.

Python twin: ``build_report("out/" or "catalog://NAME@V", "report.html", compare=...)``.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable

import numpy as np

import datamill
from datamill.report import plots
from datamill.report.datasheet import OPEN, build_datasheet, datasheet_markdown
from datamill.report.profile import compute_profile
from datamill.report.sections import (categories_section, dedup_section, dropped_section, fig, funnel_section,
                                      lengths_section, lineage_section, overview, post_section, row, section,
                                      signals_section)
from datamill.report.source import DEFAULT_SAMPLE, load_source

EMBED_SAMPLE = 200
EMBED_CHARS = 512


def _texts(src) -> list[str]:
    """The pretraining texts of a source (post-training sources use their prompts instead)."""
    if "text" in src.table.column_names:
        return [t or "" for t in src.table.column("text").to_pylist()]
    return []


def _embed_sample(texts: list[str], embed_fn, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(texts), size=min(n, len(texts)), replace=False) if texts else []
    return np.asarray(embed_fn([texts[i][:EMBED_CHARS] for i in idx]))


def _default_embed() -> Callable[[list[str]], np.ndarray]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datamill.embed.model import embed

    return lambda texts: embed(texts, batch_size=64)


def _embed_map(prompts: list[str], embed_fn, seed: int):
    from sklearn.cluster import KMeans

    vecs = _embed_sample([p for p in prompts if p], embed_fn, EMBED_SAMPLE, seed)
    if len(vecs) < 10:
        return None
    centred = vecs - vecs.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    k = int(min(8, max(2, len(vecs) // 40)))
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(vecs)
    return xy, labels, len(vecs)


def drift_section(prof, other_prof, label_a: str, label_b: str, emb: dict | None,
                  embed_name: str = "all-MiniLM-L6-v2") -> tuple[dict, dict]:
    from datamill.report.drift import THRESHOLDS, compare_profiles

    d = compare_profiles(other_prof, prof)  # the other one is the reference
    s = section("drift", f"Drift: {label_a} compared with {label_b}")
    s["notes"].append(f"Reference: {label_b}; current: {label_a}. {d['drifted_columns']} of {d['columns']} columns "
                      f"drifted; dataset drift: {'YES' if d['dataset_drift'] else 'no'}.")
    s["tables"].append({"caption": "Thresholds (Evidently's defaults)", "header": ["column kind", "drift when"],
                        "rows": [row(k, v) for k, v in THRESHOLDS.items()]})
    rows = []
    for name, r in d["numeric"].items():
        rows.append(row(name, r["n_ref"], r["n_cur"], r["mean_ref"], r["mean_cur"], r["ks"], r["ks_p"], r["psi"],
                        r["wasserstein_normed"], "DRIFT" if r["drift"] else "ok", cls="drift" if r["drift"] else None))
    if rows:
        s["tables"].append({"caption": "Numeric columns", "header": ["column", "n ref", "n cur", "mean ref", "mean cur",
                                                                     "KS", "KS p", "PSI", "Wasserstein (normed)", ""],
                            "rows": rows})
    rows = []
    for name, r in d["categorical"].items():
        top = "; ".join(f"{k}: {a:.1%}→{b:.1%}" for k, a, b in r["top"])
        rows.append(row(name, r["n_ref"], r["n_cur"], r["js"], r["chi2"], r["chi2_p"], top,
                        "DRIFT" if r["drift"] else "ok", cls="drift" if r["drift"] else None))
    if rows:
        s["tables"].append({"caption": "Categorical columns", "header": ["column", "n ref", "n cur", "JS distance",
                                                                         "chi²", "chi² p", "top values", ""],
                            "rows": rows})
    if emb is not None:
        s["tables"].append({"caption": f"Embeddings ({embed_name}, {EMBED_SAMPLE} sampled per side at most)",
                            "header": ["n ref", "n cur", "classifier ROC AUC", "MMD²", "MMD² p", ""],
                            "rows": [row(emb["n_ref"], emb["n_cur"], emb["classifier_auc"], emb["mmd2"], emb["mmd2_p"],
                                         "DRIFT" if emb["drift"] else "ok", cls="drift" if emb["drift"] else None)]})
        d["embeddings"] = emb
    else:
        s["notes"].append("Embedding drift left out (embeddings off).")
    shown = sorted(d["numeric"].items(), key=lambda kv: -kv[1]["wasserstein_normed"])[:12]
    for name, _ in shown:
        s["figures"].append(fig(plots.histogram(prof.numeric[name], name, other=other_prof.numeric[name],
                                                labels=(label_a, label_b)), name))
    return s, d


def bias_section(texts: list[str], embed_fn, terms_path: str | None, seed: int) -> tuple[dict, dict]:
    from datamill.report.bias import load_terms, seat, term_association

    terms = load_terms(terms_path)
    s = section("bias", "Bias: group terms and associations")
    assoc = term_association(texts, terms)
    rows = []
    for dim, groups in assoc["groups"].items():
        for gname, g in groups.items():
            top = sorted(g["pmi"].items(), key=lambda kv: -kv[1]["count"])[:8]
            rows.append(row(dim, gname, g["documents"], f"{g['share']:.1%}",
                            "; ".join(f"{w} {v['count']} (PMI {v['pmi']:+.2f})" for w, v in top) or "–"))
    s["tables"].append({"caption": f"Documents mentioning each group, and co-occurrence with {assoc['attribute_set']} "
                                   f"(PMI, log2; {assoc['documents']:,} documents)",
                        "header": ["dimension", "group", "documents", "share", "top attribute words"], "rows": rows})
    result = {"association": assoc}
    if embed_fn is not None:
        tests = seat(texts, embed_fn, terms, seed=seed)
        rows = [row(t["test"], t["x_sentences"], t["y_sentences"], t.get("effect_size"), t.get("p_value"),
                    t.get("note") or "") for t in tests]
        s["tables"].append({"caption": "SEAT on the dataset's sentences (effect size d; permutation p, 1,000 permutations)",
                            "header": ["test", "X sentences", "Y sentences", "effect size", "p", "note"], "rows": rows})
        result["seat"] = tests
    else:
        s["notes"].append("SEAT left out (embeddings off).")
    return s, result


def build_report(source: str, html_path: str, *, compare: str | None = None, embeddings: bool = True,
                 bias: bool = True, sample: int = DEFAULT_SAMPLE, seed: int = 0, catalog_root: str | None = None,
                 bias_terms: str | None = None, datasheet_path: str | None = None, progress: bool = False,
                 embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                 embed_name: str | None = None) -> dict[str, Any]:
    """Write the report; return what it found (sections, drift, bias) and how long it took."""
    import jinja2

    from datamill.io.atomic import atomic_write_bytes

    t0 = time.perf_counter()
    src = load_source(source, sample=sample, seed=seed, catalog_root=catalog_root, progress=progress)
    prof = compute_profile(src.table)
    if embeddings and embed_fn is None:
        embed_fn = _default_embed()
        embed_name = "all-MiniLM-L6-v2"
    embed_name = embed_name or getattr(embed_fn, "__name__", "custom embedding")
    if not embeddings:
        embed_fn = None
    graph = None
    if src.ref:
        from datamill.catalog import Catalog
        from datamill.catalog.graph import lineage_graph

        graph = lineage_graph(Catalog(catalog_root), src.ref)
    sections = [overview(src, prof)]
    lin = lineage_section(src, graph)
    if lin:
        sections.append(lin)
    sections += [funnel_section(src), categories_section(prof)]
    texts = _texts(src) if not src.is_post_training else prof.post.get("prompts", [])
    if src.is_post_training:
        emap = _embed_map(prof.post.get("prompts", []), embed_fn, seed) if embed_fn else None
        sections.append(post_section(prof, emap, embed_name or ""))
    else:
        sections.append(lengths_section(prof))
    sections += [signals_section(prof), dedup_section(src, prof), dropped_section(src)]
    result: dict[str, Any] = {"source": source, "records": src.total_records, "sampled": src.sampled}
    if compare:
        other = load_source(compare, sample=sample, seed=seed, catalog_root=catalog_root, progress=progress)
        other_prof = compute_profile(other.table)
        emb = None
        if embed_fn is not None:
            from datamill.report.drift import embedding_drift

            other_texts = _texts(other) if not other.is_post_training else other_prof.post.get("prompts", [])
            if texts and other_texts:
                emb = embedding_drift(_embed_sample(other_texts, embed_fn, EMBED_SAMPLE, seed),
                                      _embed_sample(texts, embed_fn, EMBED_SAMPLE, seed + 1), seed=seed)
        sec, result["drift"] = drift_section(prof, other_prof, src.ref or src.title, other.ref or other.title, emb, embed_name)
        sections.append(sec)
    if bias and texts:
        sec, result["bias"] = bias_section(texts, embed_fn, bias_terms, seed)
        sections.append(sec)
    sheet = build_datasheet(src, prof)
    ds_section = section("datasheet", "Datasheet")
    ds_section["datasheet"] = sheet
    ds_section["notes"].append("Gebru et al., Datasheets for Datasets. Pre-filled from the lineage and statistics; "
                               "highlighted questions are open and need a person. Also written as DATASHEET.md.")
    sections.append(ds_section)
    template = resources.files("datamill.report").joinpath("data/report.html").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(template).render(
        title=src.ref or src.title, source=source, ref=src.ref, total_records=f"{src.total_records:,}",
        sampled=src.sampled, sample_size=f"{src.table.num_rows:,}", version=datamill.__version__,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"), sections=sections, open_text=OPEN)
    atomic_write_bytes(html_path, html.encode("utf-8"))
    datasheet_path = datasheet_path or os.path.join(os.path.dirname(os.path.abspath(html_path)), "DATASHEET.md")
    atomic_write_bytes(datasheet_path, datasheet_markdown(src.ref or src.title, sheet).encode("utf-8"))
    result.update({"html": html_path, "datasheet": datasheet_path, "sections": [s["id"] for s in sections],
                   "figures": sum(len(s["figures"]) for s in sections), "seconds": round(time.perf_counter() - t0, 2)})
    return result
