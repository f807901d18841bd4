"""Precision and recall of `semantic_dedup` on real instruction prompts and their paraphrases.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/eval_semantic_dedup.py \
        [--base 450] [--copies 200] [--thresholds 0.75,0.8,0.85,0.9,0.95] [--json out.json]

The labelled set is built deterministically from the shared instruction data
(``instruction_sft/alpaca/seed_tasks.jsonl`` and ``llamafactory/alpaca_en_demo.json``):

* ``--base`` distinct prompts (exact and case/space duplicates removed), kept in input order
  first: these are the records that must be kept;
* ``--copies`` near-duplicates of randomly chosen base prompts, appended after them: these
  must be dropped. Each copy gets 1 (light), 2 (medium) or 3 (heavy) edits from: a prefix phrase
  ("Please", "Can you", "Task:"…), synonyms from a small list, moving a trailing clause to the
  front, a polite suffix, punctuation and case changes.

Every record is embedded once with the step's embed stage; the cluster / dedup / collect stages
then run per threshold on the same vectors, with the default ``n_clusters`` (sqrt N) and with a
single cluster (every pair compared) to show what clustering costs in recall. A removed base
prompt counts as a false positive (the script prints the pairs, some are real near-duplicates in
the source data). For comparison, exact dedup on normalised text (lower case, no punctuation,
collapsed spaces) is scored on the same set. Embedding speed is measured on the whole set.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from datamill.steps.dedup.semantic import SemanticDedup  # noqa: E402

PREFIXES = ["Please", "Can you", "Could you please", "I need you to", "Task:", "Your job:"]
SUFFIXES = ["Thanks!", "Be concise.", "Please answer briefly.", "Keep it short."]
SYNONYMS = {
    "give": "provide", "write": "compose", "create": "generate", "generate": "produce",
    "describe": "explain", "explain": "describe", "make": "come up with",
    "find": "identify", "identify": "find", "short": "brief", "example": "instance",
    "sentence": "phrase", "story": "tale", "summarize": "sum up", "suggest": "propose",
    "names": "titles", "classify": "categorize", "following": "given", "given": "following",
    "tell": "say", "article": "piece", "answer": "respond to", "good": "great", "help": "assist",
}
_WORD = re.compile(r"[A-Za-z]+")


def load_prompts(data: Path) -> list[str]:
    prompts = []
    with open(data / "instruction_sft" / "alpaca" / "seed_tasks.jsonl") as fh:
        prompts += [json.loads(line)["instruction"] for line in fh]
    demo = json.load(open(data / "instruction_sft" / "llamafactory" / "alpaca_en_demo.json"))
    prompts += [row["instruction"] for row in demo]
    seen, out = set(), []
    for p in prompts:
        key = normalise(p)
        if p.strip() and key not in seen:
            seen.add(key)
            out.append(p.strip())
    return out


def normalise(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def edit_prefix(text: str, rng: random.Random) -> str:
    return f"{rng.choice(PREFIXES)} {lower_first(text)}"


def edit_suffix(text: str, rng: random.Random) -> str:
    return f"{text} {rng.choice(SUFFIXES)}"


def edit_synonyms(text: str, rng: random.Random) -> str:
    words = [m for m in _WORD.finditer(text) if m.group().lower() in SYNONYMS]
    if not words:
        return edit_suffix(text, rng)
    chosen = {id(m) for m in rng.sample(words, min(len(words), 2))}
    out, last = [], 0
    for m in words:
        if id(m) in chosen:
            new = SYNONYMS[m.group().lower()]
            if m.group()[0].isupper():
                new = new[0].upper() + new[1:]
            out += [text[last:m.start()], new]
            last = m.end()
    return "".join(out) + text[last:]


def edit_reorder(text: str, rng: random.Random) -> str:
    """Move a trailing clause ("…, X." / "… for X.") to the front."""
    body = text.rstrip(".?! ")
    end = text[len(body):].strip() or "."
    for sep in (", ", " for ", " about ", " in "):
        idx = body.rfind(sep)
        if idx > 10 and len(body) - idx > 6:
            head, tail = body[:idx], body[idx + len(sep):]
            lead = sep.strip(", ").capitalize()
            lead = f"{lead} {tail}" if lead else tail[:1].upper() + tail[1:]
            return f"{lead}, {lower_first(head)}{end}"
    return edit_prefix(text, rng)


def edit_surface(text: str, rng: random.Random) -> str:
    choice = rng.randrange(3)
    if choice == 0:
        return text.rstrip(".?!") if text[-1:] in ".?!" else text + "."
    if choice == 1:
        return text.lower()
    return "  " + text.replace(",", "") + " "


EDITS = [edit_prefix, edit_synonyms, edit_reorder, edit_suffix, edit_surface]
LEVELS = {1: "light", 2: "medium", 3: "heavy"}


def build_set(prompts: list[str], n_base: int, n_copies: int, seed: int = 0):
    rng = random.Random(seed)
    base = prompts[:n_base]
    records, labels, levels = [], [], []
    for i, text in enumerate(base):
        records.append({"id": f"b{i}", "text": text})
        labels.append(False)
        levels.append(0)
    for j in range(n_copies):
        src = rng.randrange(len(base))
        level = 1 + j % 3
        text = base[src]
        for edit in rng.sample(EDITS, level):
            text = edit(text, rng)
        records.append({"id": f"c{j}-of-b{src}", "text": text})
        labels.append(True)
        levels.append(level)
    return records, np.array(labels), np.array(levels)


def score(removed: np.ndarray, labels: np.ndarray, levels: np.ndarray) -> dict:
    tp = int((removed & labels).sum())
    fp = int((removed & ~labels).sum())
    fn = int((~removed & labels).sum())
    out = {"removed": int(removed.sum()), "tp": tp, "fp": fp, "fn": fn,
           "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0}
    for level, name in LEVELS.items():
        sel = levels == level
        out[f"recall_{name}"] = float(removed[sel].mean()) if sel.any() else float("nan")
    return out


def run_threshold(state: str, threshold: float, n_clusters: int | None, n: int) -> tuple[np.ndarray, dict, float]:
    step = SemanticDedup(threshold=threshold, n_clusters=n_clusters, partitions=2)
    t0 = time.perf_counter()
    info = step.run_stage("cluster", 0, state, 1)
    for p in range(step.partitions):
        step.run_stage("dedup", p, state, 1)
    step.run_stage("collect", 0, state, 1)
    seconds = time.perf_counter() - t0
    res = np.load(os.path.join(state, "result-00000.npz"))
    assert len(res["drop"]) == n
    return res["drop"], {**info, "dup_of": res["dup_of"]}, seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("DATAMILL_SHARED_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--base", type=int, default=450)
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--thresholds", default="0.75,0.8,0.85,0.9,0.95")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=5, help="false positives and misses to print")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    prompts = load_prompts(Path(args.data))
    records, labels, levels = build_set(prompts, min(args.base, len(prompts)), args.copies, args.seed)
    texts = {r["id"]: r["text"] for r in records}
    n = len(records)
    print(f"labelled set: {int((~labels).sum())} distinct prompts + {int(labels.sum())} near-duplicates "
          f"({', '.join(f'{(levels == k).sum()} {v}' for k, v in LEVELS.items())})")

    import torch

    step = SemanticDedup(batch_size=args.batch_size, device=args.device)
    t0 = time.perf_counter()
    model = step.embedder()
    load_s = time.perf_counter() - t0
    model.embed([r["text"] for r in records[:8]], batch_size=8)           # warm-up
    results: dict = {"n": n, "model": model.model_path, "device": model.device, "backend": model.backend,
                     "torch_threads": torch.get_num_threads(), "load_seconds": round(load_s, 2)}

    with tempfile.TemporaryDirectory() as state:
        t0 = time.perf_counter()
        counters = step.run_stage("embed", 0, state, 1, iter(records))
        embed_s = time.perf_counter() - t0
        results["embed_seconds"] = round(embed_s, 2)
        results["embeddings_per_second"] = round(counters["embedded"] / embed_s, 1)
        mean_chars = np.mean([len(r["text"]) for r in records])
        print(f"model {model.backend} on {model.device} ({torch.get_num_threads()} torch threads), "
              f"loaded in {load_s:.1f}s; embedded {n} prompts (mean {mean_chars:.0f} chars) in {embed_s:.1f}s "
              f"= {results['embeddings_per_second']:.1f} embeddings/s at batch size {args.batch_size}")

        rows = []
        header = (f"{'method':<26}{'thr':>6}{'removed':>9}{'prec':>7}{'recall':>8}"
                  f"{'light':>7}{'medium':>8}{'heavy':>7}{'FP':>5}{'secs':>7}")
        print("\n" + header)
        thresholds = [float(t) for t in args.thresholds.split(",")]
        examples: dict = {}
        for n_clusters, name in ((None, "semantic_dedup sqrt(N) cl."), (1, "semantic_dedup 1 cluster")):
            for thr in thresholds:
                removed, info, secs = run_threshold(state, thr, n_clusters, n)
                s = score(removed, labels, levels)
                s.update({"method": name, "threshold": thr, "clusters": info["clusters"], "seconds": round(secs, 3)})
                rows.append(s)
                print(f"{name:<26}{thr:>6.2f}{s['removed']:>9}{s['precision']:>7.3f}{s['recall']:>8.3f}"
                      f"{s['recall_light']:>7.3f}{s['recall_medium']:>8.3f}{s['recall_heavy']:>7.3f}"
                      f"{s['fp']:>5}{secs:>7.2f}")
                if n_clusters is None:
                    examples[thr] = {"removed": removed, "dup_of": info["dup_of"]}
        keys = [normalise(r["text"]) for r in records]
        seen, removed = set(), np.zeros(n, dtype=bool)
        for i, k in enumerate(keys):
            removed[i] = k in seen
            seen.add(k)
        s = score(removed, labels, levels)
        s.update({"method": "exact (normalised text)", "threshold": None})
        rows.append(s)
        print(f"{'exact (normalised text)':<26}{'-':>6}{s['removed']:>9}{s['precision']:>7.3f}{s['recall']:>8.3f}"
              f"{s['recall_light']:>7.3f}{s['recall_medium']:>8.3f}{s['recall_heavy']:>7.3f}{s['fp']:>5}{'':>7}")
        results["rows"] = rows

        if examples and args.show:
            with_fp = [t for t in thresholds if (examples[t]["removed"] & ~labels).any()]
            if with_fp:
                t = max(with_fp)
                removed, dup_of = examples[t]["removed"], examples[t]["dup_of"]
                print(f"\nremoved distinct prompts at {t:.2f} (false positives by the labels):")
                for i in [i for i in range(n) if removed[i] and not labels[i]][:args.show]:
                    print(f"  {records[i]['text'][:70]!r}\n    ~ {texts[str(dup_of[i])][:70]!r}")
            t = 0.9 if 0.9 in examples else thresholds[len(thresholds) // 2]
            removed = examples[t]["removed"]
            print(f"near-duplicates kept at {t:.2f} (misses):")
            for i in [i for i in range(n) if labels[i] and not removed[i]][:args.show]:
                src = records[i]["id"].split("-of-")[1]
                print(f"  {records[i]['text'][:70]!r}\n    of {texts[src][:70]!r}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
