#!/usr/bin/env python
"""Accuracy and speed of the ``extract_html`` backends.

    python benchmarks/eval_extraction.py [--shared PATH] [--limit N] [--json OUT]

Data (``PATH`` defaults to ``$DATAMILL_SHARED_DATA`` or ``../shared/data`` next to the repo):

* ``html_extraction/scrapinghub_aeb`` — 181 news/blog pages with hand-made gold article bodies
  (Scrapinghub's article-extraction benchmark). Scored two ways against ``articleBody``:
  the benchmark's own metric (bag of word 4-gram shingles, per-page TP/FP/FN normalised, P and
  R averaged over pages, F1 from the averages — as in its ``evaluate.py``) and the same with
  single tokens (bag-of-tokens overlap). ``± x`` is a 95% bootstrap interval (300 resamples).
  The published outputs of trafilatura and readability in ``baseline_output/`` are scored too.
* ``html_extraction/trafilatura_eval`` — 990 pages with strings the main text must contain
  (``with``) and must not contain (``without``), from trafilatura's test suite. Reported:
  share of must-contain strings found, share of must-not-contain strings avoided, and
  trafilatura's own precision/recall/F1 over those counts.
* Speed: pages per second of each backend on one core, over all 1,171 pages (wall and
  process-CPU time; CPU time is steadier on a shared machine), and the default's speed ratio
  to trafilatura.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from datamill.steps.extract.html import ExtractHTML, decode_html  # noqa: E402

BACKENDS = {
    # label: step parameters (titles off: we time the extraction itself)
    "resiliparse": dict(backend="resiliparse"),
    "trafilatura": dict(backend="trafilatura", favour_precision=False),
    "trafilatura precision": dict(backend="trafilatura", favour_precision=True),
    "datamill recall": dict(backend="datamill", favour_precision=False),
    "datamill (default)": dict(backend="datamill"),
}
DEFAULT = "datamill (default)"

# --- Scrapinghub AEB metric (re-implemented from its evaluate.py) ----------------------------
_TOKEN_RE = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)


def _shingles(text: str, n: int) -> Counter:
    tokens = _TOKEN_RE.findall(text or "")
    if n == 1:
        return Counter(tokens)
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))
                   if tokens[i:i + n])


def tp_fp_fn(true: str, pred: str, n: int) -> tuple[float, float, float]:
    t, p = _shingles(true, n), _shingles(pred, n)
    tp = sum((t & p).values())
    fp = sum(p.values()) - tp
    fn = sum(t.values()) - tp
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s else (0.0, 0.0, 0.0)


def prf(triples: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    precisions, recalls = [], []
    for tp, fp, fn in triples:
        if tp + fp > 0:
            precisions.append(1.0 if fp == fn == 0 else tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(1.0 if fp == fn == 0 else tp / (tp + fn))
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def bootstrap_f1(triples, n_boot: int = 300, seed: int = 0) -> float:
    rng = random.Random(seed)
    n = len(triples)
    f1s = [prf([triples[rng.randrange(n)] for _ in range(n)])[2] for _ in range(n_boot)]
    mean = sum(f1s) / n_boot
    sd = (sum((x - mean) ** 2 for x in f1s) / (n_boot - 1)) ** 0.5
    return 1.96 * sd


def score_aeb(gold: dict, pred: dict) -> dict:
    out = {}
    for name, n in (("shingle4", 4), ("token", 1)):
        triples = [tp_fp_fn(gold[k]["articleBody"], pred.get(k) or "", n) for k in gold]
        p, r, f = prf(triples)
        out[name] = {"precision": p, "recall": r, "f1": f, "f1_ci": bootstrap_f1(triples)}
    return out


# --- trafilatura's must-contain / must-not-contain evaluation --------------------------------
def score_contains(items: list[dict], pred: dict) -> dict:
    tp = fn = fp = tn = 0
    for item in items:
        text = pred.get(item["key"]) or ""
        for s in item["with"]:
            if s in text:
                tp += 1
            else:
                fn += 1
        for s in item["without"]:
            if s in text:
                fp += 1
            else:
                tn += 1
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"with_found": r, "without_avoided": tn / (tn + fp) if tn + fp else 1.0,
            "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "accuracy": (tp + tn) / max(1, tp + tn + fp + fn)}


# --- data ------------------------------------------------------------------------------------
def load_aeb(root: Path, limit: int | None):
    base = root / "html_extraction" / "scrapinghub_aeb"
    gold = json.loads((base / "ground-truth.json").read_text(encoding="utf8"))
    keys = sorted(gold)[:limit] if limit else sorted(gold)
    gold = {k: gold[k] for k in keys}
    pages = {k: gzip.decompress((base / "html" / f"{k}.html.gz").read_bytes()).decode("utf8", "replace")
             for k in keys}
    baselines = {}
    for path in sorted((base / "baseline_output").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf8"))
        data = data.get("output", data)
        baselines[path.stem] = {k: (data.get(k) or {}).get("articleBody", "") for k in keys}
    return gold, pages, baselines


def load_trafilatura_eval(root: Path, limit: int | None):
    base = root / "html_extraction" / "trafilatura_eval"
    spec = json.loads((base / "evaldata.json").read_text(encoding="utf8"))
    items, pages = [], {}
    for url, item in sorted(spec.items())[:limit] if limit else sorted(spec.items()):
        for sub in ("eval", "cache"):
            path = base / "html" / sub / (item["file"] + ".gz")
            if path.exists():
                break
        else:
            continue
        pages[url] = decode_html(gzip.decompress(path.read_bytes()))
        items.append({"key": url, "with": item.get("with", []), "without": item.get("without", [])})
    return items, pages


def run_backend(step: ExtractHTML, pages: dict[str, str]) -> tuple[dict[str, str], float, float]:
    step.ensure_setup()
    out = {}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for key, html in pages.items():
        text, _ = step.extract(html)
        out[key] = text
    return out, time.perf_counter() - wall0, time.process_time() - cpu0


def main(argv=None) -> dict:
    default_shared = os.environ.get("DATAMILL_SHARED_DATA") or str(REPO.parent / "shared" / "data")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=default_shared, help="shared data folder")
    ap.add_argument("--limit", type=int, default=None, help="pages per dataset (quick runs)")
    ap.add_argument("--backends", default=",".join(BACKENDS),
                    help="comma-separated labels among: " + ", ".join(BACKENDS))
    ap.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = ap.parse_args(argv)

    root = Path(args.shared)
    gold, aeb_pages, baselines = load_aeb(root, args.limit)
    items, te_pages = load_trafilatura_eval(root, args.limit)
    n_pages = len(aeb_pages) + len(te_pages)
    print(f"pages: {len(aeb_pages)} scrapinghub_aeb + {len(te_pages)} trafilatura_eval\n")

    results: dict[str, dict] = {}
    for label in [b.strip() for b in args.backends.split(",") if b.strip()]:
        step = ExtractHTML(keep_title=False, **BACKENDS[label])
        aeb_out, w1, c1 = run_backend(step, aeb_pages)
        te_out, w2, c2 = run_backend(step, te_pages)
        results[label] = {
            "params": BACKENDS[label],
            "aeb": score_aeb(gold, aeb_out),
            "contains": score_contains(items, te_out),
            "pages_per_s_wall": n_pages / (w1 + w2),
            "pages_per_s_cpu": n_pages / max(1e-9, c1 + c2),
        }
        print(f"  ran {label:<24} {n_pages / (w1 + w2):8.1f} pages/s", flush=True)
    for name, pred in baselines.items():
        results[f"{name} (published output)"] = {"aeb": score_aeb(gold, pred)}

    # --- table -------------------------------------------------------------------------------
    print("\nScrapinghub AEB (181 pages): official 4-gram-shingle metric | bag-of-tokens")
    print(f"{'backend':<34}{'P':>7}{'R':>7}{'F1':>7}{'±':>6} |{'P':>7}{'R':>7}{'F1':>7}")
    for label, r in results.items():
        s, t = r["aeb"]["shingle4"], r["aeb"]["token"]
        print(f"{label:<34}{s['precision']:7.3f}{s['recall']:7.3f}{s['f1']:7.3f}{s['f1_ci']:6.3f} |"
              f"{t['precision']:7.3f}{t['recall']:7.3f}{t['f1']:7.3f}")

    print("\ntrafilatura_eval (990 pages): must-contain / must-not-contain strings")
    print(f"{'backend':<34}{'found':>7}{'avoid':>7}{'P':>7}{'R':>7}{'F1':>7}{'acc':>7}")
    for label, r in results.items():
        if "contains" not in r:
            continue
        c = r["contains"]
        print(f"{label:<34}{c['with_found']:7.3f}{c['without_avoided']:7.3f}{c['precision']:7.3f}"
              f"{c['recall']:7.3f}{c['f1']:7.3f}{c['accuracy']:7.3f}")

    print(f"\nspeed ({n_pages} pages, one process)")
    print(f"{'backend':<34}{'pages/s wall':>14}{'pages/s cpu':>13}")
    for label, r in results.items():
        if "pages_per_s_cpu" in r:
            print(f"{label:<34}{r['pages_per_s_wall']:14.1f}{r['pages_per_s_cpu']:13.1f}")

    summary = {}
    ran = {k: v for k, v in results.items() if "pages_per_s_cpu" in v}
    if DEFAULT in ran:
        best_label = max(ran, key=lambda k: ran[k]["aeb"]["shingle4"]["f1"])
        gap = ran[best_label]["aeb"]["shingle4"]["f1"] - ran[DEFAULT]["aeb"]["shingle4"]["f1"]
        gap_tok = (max(v["aeb"]["token"]["f1"] for v in ran.values())
                   - ran[DEFAULT]["aeb"]["token"]["f1"])
        summary = {"best_backend": best_label, "f1_gap_to_best": gap, "f1_gap_to_best_token": gap_tok}
        print(f"\ndefault vs best backend on AEB ({best_label}): F1 gap {gap:+.3f} "
              f"(bag-of-tokens {gap_tok:+.3f}) -> {'OK' if gap <= 0.02 else 'MISSED'} (goal <= 0.02)")
        for traf in ("trafilatura precision", "trafilatura"):
            if traf in ran:
                ratio = ran[DEFAULT]["pages_per_s_cpu"] / ran[traf]["pages_per_s_cpu"]
                ratio_wall = ran[DEFAULT]["pages_per_s_wall"] / ran[traf]["pages_per_s_wall"]
                summary[f"speed_ratio_vs_{traf.replace(' ', '_')}"] = ratio
                print(f"default speed vs {traf}: {ratio:.1f}x (cpu), {ratio_wall:.1f}x (wall) -> "
                      f"{'OK' if ratio >= 5 else 'MISSED'} (goal >= 5x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "summary": summary}, indent=2))
    return {"results": results, "summary": summary}


if __name__ == "__main__":
    main()
