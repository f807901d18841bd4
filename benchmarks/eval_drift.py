"""Drift on real data: two outputs of the same crawl made with different recipes (fineweb:
English only; fineweb-multilingual) should drift; two random halves of one output should not.

    PYTHONPATH=src python benchmarks/eval_drift.py --shared ../shared/data [--files 4] [--embeddings]
    PYTHONPATH=src python benchmarks/eval_drift.py --a OUT_FINEWEB --b OUT_MULTILINGUAL

Prints every column's statistics and which were flagged (Evidently's default thresholds, see
datamill.report.drift), for the recipe pair and for 5 random halvings of each output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def build(shared: str, files: int, work: str) -> tuple[str, str]:
    py = [sys.executable, "-m", "datamill"]
    subprocess.run(py + ["corpus", "build", "--shared", shared, "--output", f"{work}/warc", "--files", str(files)],
                   check=True, capture_output=True)
    for recipe, out in (("recipes/fineweb.yaml", "fw"), ("recipes/fineweb-multilingual.yaml", "fwm")):
        subprocess.run(py + ["run", recipe, "-i", f"{work}/warc", "-o", f"{work}/{out}", "-q", "-w", "2"], check=True)
    return f"{work}/fw", f"{work}/fwm"


def show(title: str, d: dict, emb: dict | None = None) -> list[str]:
    print(f"\n== {title}: {d['drifted_columns']} of {d['columns']} columns drifted; dataset drift "
          f"{'YES' if d['dataset_drift'] else 'no'}")
    flagged = []
    for name, r in {**d["numeric"], **d["categorical"]}.items():
        stat = (f"KS {r['ks']:.3f} p {r['ks_p']:.2g}  PSI {r['psi']:.3f}  W(normed) {r['wasserstein_normed']:.3f}"
                if "ks" in r else f"JS {r['js']:.3f}  chi2 p {r['chi2_p']:.2g}")
        print(f"  {name:<40} n {r['n_ref']:>6}/{r['n_cur']:<6} {stat:<58} {'DRIFT' if r['drift'] else 'ok'}")
        if r["drift"]:
            flagged.append(name)
    if emb:
        print(f"  {'embeddings (all-MiniLM-L6-v2)':<40} n {emb['n_ref']:>6}/{emb['n_cur']:<6} classifier AUC "
              f"{emb['classifier_auc']:.3f}  MMD2 p {emb['mmd2_p']:.3f}  {'DRIFT' if emb['drift'] else 'ok'}")
        if emb["drift"]:
            flagged.append("embeddings")
    return flagged


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("DATAMILL_SHARED_DATA", "../shared/data"))
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--a", default=None)
    ap.add_argument("--b", default=None)
    ap.add_argument("--halvings", type=int, default=5)
    ap.add_argument("--embeddings", action="store_true", help="also the embedding test (all-MiniLM-L6-v2; slow on CPU)")
    args = ap.parse_args()
    from datamill.report.build import EMBED_SAMPLE, _default_embed, _embed_sample
    from datamill.report.drift import compare_profiles, embedding_drift
    from datamill.report.profile import compute_profile
    from datamill.report.source import load_source

    print(f"load average: {os.getloadavg()}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        a, b = (args.a, args.b) if args.a else build(args.shared, args.files, work)
        sa, sb = load_source(a), load_source(b)
        pa_, pb = compute_profile(sa.table), compute_profile(sb.table)
        embed = _default_embed() if args.embeddings else None
        ta = sa.table.column("text").to_pylist()
        tb = sb.table.column("text").to_pylist()
        emb = embedding_drift(_embed_sample(ta, embed, EMBED_SAMPLE, 0), _embed_sample(tb, embed, EMBED_SAMPLE, 1)) \
            if embed else None
        flagged = show(f"fineweb ({sa.total_records} records) vs fineweb-multilingual ({sb.total_records})",
                       compare_profiles(pa_, pb), emb)
        false_alarms = 0
        trials = 0
        rng = np.random.default_rng(0)
        for src in (sa, sb):
            for h in range(args.halvings):
                mask = rng.random(src.table.num_rows) < 0.5
                import pyarrow as pa

                left, right = src.table.filter(pa.array(mask)), src.table.filter(pa.array(~mask))
                d = compare_profiles(compute_profile(left), compute_profile(right))
                e = None
                if embed and h == 0:
                    tl, tr = left.column("text").to_pylist(), right.column("text").to_pylist()
                    e = embedding_drift(_embed_sample(tl, embed, EMBED_SAMPLE, 2), _embed_sample(tr, embed, EMBED_SAMPLE, 3))
                fl = show(f"random halves #{h + 1} of {src.title}", d, e)
                trials += 1
                false_alarms += bool(fl)
    print(f"\nrecipe pair: flagged {', '.join(flagged) or 'nothing'}")
    print(f"random halves: {false_alarms} of {trials} halvings flagged any column")
    print(f"{time.perf_counter() - t0:.0f}s; load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
