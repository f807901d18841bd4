"""Recall and false-positive rate of ``decontaminate`` on real training-like text with planted
benchmark leaks.

Clean text (all real, from ``../shared/data``): Alpaca en/zh demo, LIMA, OpenAssistant zh,
FastChat ShareGPT conversations (instruction + answer), LLaMA-Factory's C4 demo, and the
scrapinghub article bodies: 4,698 documents.

Leaks: test items of GSM8K (question + answer), HumanEval (prompt + canonical solution) and
BIG-Bench-Hard (input + target), drawn at random (seeded), each pasted into a random clean host
document at a paragraph boundary. Six leak types:

* ``verbatim``       the item exactly as in the benchmark;
* ``question only``  only the question / prompt / input (the answer never leaked);
* ``reformatted``    upper/lower case changed, line breaks turned into spaces or doubled,
                     ``Question:``/``Answer:`` labels added, punctuation changed;
* ``numbers``        every number changed (a different problem instance with the same wording);
* ``1 word in 10``   about one word in ten replaced by another word (a light rewrite);
* ``1 word in 5``    one word in five replaced (a heavier rewrite; expected to be missed).

A leak is *found* when the host document is flagged **with the planted item**. The
false-positive rate is the share of clean documents (no leak planted) that are flagged at all;
each such document is printed with the item it matched so a person can see whether it is a
real overlap. Items too short to hold one n-gram cannot be found by any n-gram method and are
not planted; how many there are is printed.

The grid runs the index's Python API directly; the default configuration is also run through
``datamill.Pipeline`` (two shards, two workers) to check the step and its report give the same
figures.

Run: ``PYTHONPATH=src python benchmarks/eval_decontam.py [--per-benchmark 120]``
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time

SHARED = os.environ.get("DATAMILL_SHARED_DATA") or os.path.join(os.getcwd(), "..", "shared", "data")
BENCH = os.path.join(SHARED, "benchmarks")

from datamill import Pipeline  # noqa: E402
from datamill.steps.decontam.index import LoadStats, build_index, load_builtin, tokenize  # noqa: E402
from datamill.steps.decontam.step import Decontaminate  # noqa: E402


def clean_docs() -> list[str]:
    sft = os.path.join(SHARED, "instruction_sft")
    docs: list[str] = []
    for rel in ("llamafactory/alpaca_en_demo.json", "llamafactory/alpaca_zh_demo.json",
                "llamafactory_2023-08/lima.json", "llamafactory_2023-08/oaast_sft_zh.json"):
        with open(os.path.join(sft, rel), encoding="utf-8") as fh:
            for r in json.load(fh):
                docs.append("\n\n".join(x for x in (r.get("instruction"), r.get("input"), r.get("output")) if x))
    with open(os.path.join(sft, "fastchat", "dummy_conversation.json"), encoding="utf-8") as fh:
        for r in json.load(fh):
            docs.append("\n\n".join(t["value"] for t in r["conversations"]))
    with open(os.path.join(sft, "llamafactory", "c4_demo.jsonl"), encoding="utf-8") as fh:
        docs += [json.loads(line)["text"] for line in fh if line.strip()]
    with open(os.path.join(SHARED, "html_extraction", "scrapinghub_aeb", "ground-truth.json"), encoding="utf-8") as fh:
        docs += [v["articleBody"] for v in json.load(fh).values() if v.get("articleBody")]
    return [d for d in docs if d.strip()]


def items_with_parts() -> dict[str, list[tuple[str, str, str]]]:
    """benchmark -> [(item id, question part, answer part)], ids as the index names them."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    stats = LoadStats()
    for name in ("gsm8k", "humaneval", "bbh"):
        rows = []
        for it in load_builtin(name, BENCH, stats):
            if name == "humaneval":
                # the index joins prompt + solution with ""; recover them from the file
                rows.append(it)
            else:
                q, _, a = it.text.rpartition("\n") if name == "bbh" else it.text.partition("\n")
                rows.append((it.item, q, a))
        if name == "humaneval":
            with gzip.open(glob.glob(os.path.join(BENCH, "humaneval", "HumanEval.jsonl*"))[0], "rt") as fh:
                src = {r["task_id"]: r for r in map(json.loads, fh)}
            rows = [(it.item, src[it.item]["prompt"], src[it.item]["canonical_solution"]) for it in rows]
        out[name] = rows
    return out


_NUM = re.compile(r"\d+(?:\.\d+)?")


def reformat(text: str, rng: random.Random) -> str:
    q = text
    choice = rng.randrange(4)
    if choice == 0:
        q = q.upper()
    elif choice == 1:
        q = " ".join(q.split())  # everything on one line
    elif choice == 2:
        q = q.replace("\n", "\n\n").replace(", ", " , ").replace("? ", "?\n")
    else:
        q = q.lower().replace(".", ";").replace("?", " ??")
    return q


def change_numbers(text: str, rng: random.Random) -> str:
    return _NUM.sub(lambda m: str(int(float(m.group()) * rng.choice((2, 3, 5)) + rng.randint(1, 9))), text)


def substitute(text: str, rate: int, rng: random.Random, vocab: list[str]) -> str:
    out = []
    for tok in re.split(r"(\s+)", text):
        if tok and not tok.isspace() and rng.randrange(rate) == 0:
            out.append(rng.choice(vocab))
        else:
            out.append(tok)
    return "".join(out)


LEAK_TYPES = ("verbatim", "question only", "reformatted", "numbers", "1 word in 10", "1 word in 5")


def plant(host: str, leak: str, rng: random.Random) -> str:
    paras = host.split("\n\n")
    at = rng.randint(0, len(paras))
    return "\n\n".join(paras[:at] + [leak] + paras[at:])


def make_leak(kind: str, q: str, a: str, rng: random.Random, vocab: list[str], code: bool) -> str:
    full = q + a if code else q + "\n" + a
    if kind == "verbatim":
        return full
    if kind == "question only":
        return q
    if kind == "reformatted":
        if code:
            return reformat(full, rng) if rng.random() < 0.5 else full.replace("    ", "\t")
        return ("Question: " if rng.random() < 0.5 else "") + reformat(q, rng) + "\nAnswer: " + reformat(a, rng)
    if kind == "numbers":
        return change_numbers(full, rng)
    if kind == "1 word in 10":
        return substitute(full, 10, rng, vocab)
    if kind == "1 word in 5":
        return substitute(full, 5, rng, vocab)
    raise ValueError(kind)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-benchmark", type=int, default=120, help="items planted per benchmark and leak type")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not os.path.isdir(BENCH):
        print(f"shared data not found at {SHARED} (set DATAMILL_SHARED_DATA)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    clean = clean_docs()
    vocab = sorted({w for d in clean[:2000] for w in re.findall(r"[A-Za-z]{3,12}", d)})
    parts = items_with_parts()

    t0 = time.perf_counter()
    default_index = build_index(benchmarks_dir=BENCH)
    build_s = time.perf_counter() - t0
    print(f"clean documents: {len(clean):,}   index (13-grams): {len(default_index.keys):,} n-grams, "
          f"{len(default_index.items):,} items, built in {build_s:.1f}s")
    for b, s in default_index.stats["benchmarks"].items():
        print(f"   {b:10s} items {s.get('items', 0):5d}  too short for one 13-gram {s.get('items_too_short', 0):4d}  "
              f"template-only {s.get('items_only_template_ngrams', 0):3d}  template n-grams {s.get('template_ngrams', 0):5d}")
    indexed13 = {t["item"] for t in default_index.items if t["indexed_ngrams"]}

    # planted documents: host index, leak text, (benchmark, item), type
    order = list(range(len(clean)))
    rng.shuffle(order)
    hosts = iter(order)
    planted: list[tuple[int, str, str, str, str]] = []
    for name, rows in parts.items():
        pool = [r for r in rows if r[0] in indexed13]
        for kind in LEAK_TYPES:
            for item, q, a in rng.sample(pool, min(args.per_benchmark, len(pool))):
                if kind == "question only" and len(tokenize(q)) < 13:
                    continue  # the question alone holds no 13-gram: no n-gram method can find it
                planted.append((next(hosts), make_leak(kind, q, a, rng, vocab, name == "humaneval"),
                                name, item, kind))
    hosts_used = {p[0] for p in planted}
    clean_ids = [i for i in range(len(clean)) if i not in hosts_used]
    docs = [(f"leak-{k}", plant(clean[h], leak, rng)) for k, (h, leak, *_rest) in enumerate(planted)]
    docs += [(f"clean-{i}", clean[i]) for i in clean_ids]
    print(f"planted documents: {len(planted):,} ({len(LEAK_TYPES)} types x 3 benchmarks x <= "
          f"{args.per_benchmark}); clean documents kept for the false-positive rate: {len(clean_ids):,}\n")

    configs = [(13, 1, 0.0), (13, 3, 0.0), (13, 1, 0.1), (8, 1, 0.0), (8, 3, 0.0)]
    header = f"{'n':>3s} {'min_ovl':>7s} {'min_frac':>8s} " + " ".join(f"{t:>13s}" for t in LEAK_TYPES) + \
        f" {'FP rate':>8s} {'docs/s':>7s}"
    print("recall (leak found with the right item) per leak type, all benchmarks; FP rate on clean docs")
    print(header)
    detail = {}
    for n, mo, mf in configs:
        idx = default_index if n == 13 else build_index(benchmarks_dir=BENCH, n=n)
        t1 = time.perf_counter()
        flagged = {}
        for doc_id, text in docs:
            found = idx.matches(text, mo, mf)
            if found:
                flagged[doc_id] = found
        secs = time.perf_counter() - t1
        found_by: dict[tuple[str, str], list[int]] = {}
        for k, (_h, _leak, name, item, kind) in enumerate(planted):
            ok = any(m.item == item for m in flagged.get(f"leak-{k}", ()))
            found_by.setdefault((name, kind), []).append(int(ok))
        fp = [d for d in flagged if d.startswith("clean-")]
        rec = {kind: sum(sum(found_by.get((b, kind), [])) for b in parts) /
               max(1, sum(len(found_by.get((b, kind), [])) for b in parts)) for kind in LEAK_TYPES}
        print(f"{n:3d} {mo:7d} {mf:8.2f} " + " ".join(f"{rec[t]:13.3f}" for t in LEAK_TYPES) +
              f" {len(fp) / len(clean_ids):8.4f} {len(docs) / secs:7.0f}")
        detail[(n, mo, mf)] = (found_by, fp, flagged)

    found_by, fp, flagged = detail[(13, 1, 0.0)]
    print("\ndefault (13-grams, any overlap): recall per benchmark and leak type")
    print(f"{'benchmark':10s} " + " ".join(f"{t:>13s}" for t in LEAK_TYPES))
    for b in parts:
        print(f"{b:10s} " + " ".join(
            f"{sum(found_by.get((b, t), [])):>6d}/{len(found_by.get((b, t), [])):<6d}" for t in LEAK_TYPES))
    print(f"\nclean documents flagged at the default ({len(fp)} of {len(clean_ids)}):")
    for d in fp[:15]:
        text = clean[int(d.split('-')[1])]
        m = flagged[d][0]
        print(f"   {d}: {m.benchmark} {m.item} overlap {m.overlap} ({m.fraction:.2f})  "
              f"{' '.join(text.split())[:110]!r}")

    # the same default through the pipeline (two shards, two workers) with its report
    work = tempfile.mkdtemp(prefix="eval-decontam-")
    try:
        inp = os.path.join(work, "in")
        os.makedirs(inp)
        for s in range(2):
            with open(os.path.join(inp, f"part-{s}.jsonl"), "w", encoding="utf-8") as fh:
                for doc_id, text in docs[s::2]:
                    fh.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
        out = os.path.join(work, "out")
        t1 = time.perf_counter()
        stats = Pipeline([Decontaminate(benchmarks_dir=BENCH, action="tag")]).run([inp], out, workers=2)
        secs = time.perf_counter() - t1
        with open(os.path.join(out, ".datamill", "reports", "contamination_report.json"), encoding="utf-8") as fh:
            report = json.load(fh)
        same = report["records_contaminated"] == len(flagged)
        print(f"\npipeline run (2 shards, 2 workers, {secs:.1f}s): {report['records_contaminated']} records "
              f"contaminated ({'same as' if same else 'DIFFERENT FROM'} the API run); report items hit: "
              + ", ".join(f"{b} {v['items_hit']}/{v['items']}" for b, v in report["benchmarks"].items()))
        print(f"   globals: {stats['globals'].get('decontaminate', {}).get('records_contaminated_total')} flagged")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
