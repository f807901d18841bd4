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

Items are planted when they hold at least 8 words (the step's ``min_ngram``), so the fixed
13-gram configuration ("before") and the adaptive one ("after": an item shorter than 13 words
is indexed whole) are scored on the same documents; a separate line scores the items of 8-12
words, which fixed 13-grams cannot find at all.

Chinese: the 729 lingua Chinese news sentences act as a benchmark (a user file), planted
verbatim and with punctuation changed into the Chinese clean documents (Alpaca zh, OpenAssistant
zh); the other Chinese documents measure false positives, with characters counted at fixed n
(8, 13) and with the CJK n (``cjk_ngram`` 25, ``cjk_min_ngram`` 12).

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
    fixed_index = build_index(benchmarks_dir=BENCH, n=13, min_ngram=13)
    default_index = build_index(benchmarks_dir=BENCH, n=13, min_ngram=8)
    build_s = time.perf_counter() - t0
    print(f"clean documents: {len(clean):,}   adaptive index: {len(default_index.keys):,} n-grams, "
          f"{len(default_index.items):,} items (both indexes built in {build_s:.1f}s)")
    for label, idx in (("fixed 13", fixed_index), ("adaptive 8-13", default_index)):
        for b, s in idx.stats["benchmarks"].items():
            print(f"   {label:14s} {b:10s} items {s.get('items', 0):5d}  too short {s.get('items_too_short', 0):4d}  "
                  f"indexed whole {s.get('items_short_whole', 0):4d}  template-only "
                  f"{s.get('items_only_template_ngrams', 0):3d}")
    indexed = {t["item"] for t in default_index.items if t["indexed_ngrams"]}
    short_items = {t["item"] for t in default_index.items if t["n"] < 13}

    # planted documents: host index, leak text, (benchmark, item), type
    order = list(range(len(clean)))
    rng.shuffle(order)
    hosts = iter(order)
    planted: list[tuple[int, str, str, str, str]] = []
    for name, rows in parts.items():
        pool = [r for r in rows if r[0] in indexed]
        for kind in LEAK_TYPES:
            for item, q, a in rng.sample(pool, min(args.per_benchmark, len(pool))):
                if kind == "question only" and len(tokenize(q)) < 8:
                    continue  # the question alone is too short to tell from a common phrase
                planted.append((next(hosts), make_leak(kind, q, a, rng, vocab, name == "humaneval"),
                                name, item, kind))
    hosts_used = {p[0] for p in planted}
    clean_ids = [i for i in range(len(clean)) if i not in hosts_used]
    docs = [(f"leak-{k}", plant(clean[h], leak, rng)) for k, (h, leak, *_rest) in enumerate(planted)]
    docs += [(f"clean-{i}", clean[i]) for i in clean_ids]
    print(f"planted documents: {len(planted):,} ({len(LEAK_TYPES)} types x 3 benchmarks x <= "
          f"{args.per_benchmark}); clean documents kept for the false-positive rate: {len(clean_ids):,}\n")

    # (n, min_ngram, min_overlap, min_fraction); (13, 13, ...) is the behaviour before adaptive n
    configs = [(13, 13, 1, 0.0), (13, 8, 1, 0.0), (13, 8, 3, 0.0), (13, 8, 1, 0.1), (8, 8, 1, 0.0)]
    header = f"{'n':>3s} {'min_n':>5s} {'min_ovl':>7s} {'min_frac':>8s} " + " ".join(f"{t:>13s}" for t in LEAK_TYPES) + \
        f" {'8-12 words':>10s} {'FP rate':>8s} {'docs/s':>7s}"
    print("recall (leak found with the right item) per leak type, all benchmarks; FP rate on clean docs")
    print(header)
    detail = {}
    for n, mn, mo, mf in configs:
        idx = {(13, 13): fixed_index, (13, 8): default_index}.get((n, mn)) or \
            build_index(benchmarks_dir=BENCH, n=n, min_ngram=mn)
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
        short = [any(m.item == item for m in flagged.get(f"leak-{k}", ()))
                 for k, (_h, _l, _n, item, kind) in enumerate(planted) if item in short_items and kind == "verbatim"]
        print(f"{n:3d} {mn:5d} {mo:7d} {mf:8.2f} " + " ".join(f"{rec[t]:13.3f}" for t in LEAK_TYPES) +
              f" {sum(short):>5d}/{len(short):<4d} {len(fp) / len(clean_ids):8.4f} {len(docs) / secs:7.0f}")
        detail[(n, mn, mo, mf)] = (found_by, fp, flagged)

    for key, title in (((13, 13, 1, 0.0), "before: fixed 13-grams"), ((13, 8, 1, 0.0), "after: adaptive n (default)")):
        found_by, _fp, _f = detail[key]
        print(f"\n{title}: recall per benchmark and leak type")
        print(f"{'benchmark':10s} " + " ".join(f"{t:>13s}" for t in LEAK_TYPES))
        for b in parts:
            print(f"{b:10s} " + " ".join(
                f"{sum(found_by.get((b, t), [])):>6d}/{len(found_by.get((b, t), [])):<6d}" for t in LEAK_TYPES))
    found_by, fp, flagged = detail[(13, 8, 1, 0.0)]
    print("\ndefault (adaptive n, any overlap): recall per benchmark and leak type")
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

    chinese(rng)

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


def chinese(rng: random.Random) -> None:
    """False positives and recall on Chinese, characters counted (see the module docstring)."""
    sft = os.path.join(SHARED, "instruction_sft")
    zh_docs = []
    for rel in ("llamafactory/alpaca_zh_demo.json", "llamafactory_2023-08/oaast_sft_zh.json"):
        with open(os.path.join(sft, rel), encoding="utf-8") as fh:
            zh_docs += ["\n\n".join(x for x in (r.get("instruction"), r.get("input"), r.get("output")) if x)
                        for r in json.load(fh)]
    zh_docs = [d for d in zh_docs if len(d) >= 50]
    sents_path = os.path.join(SHARED, "langid", "lingua", "sentences", "zh.txt")
    with open(sents_path, encoding="utf-8") as fh:
        sents = [l.strip() for l in fh if l.strip()]
    work = tempfile.mkdtemp(prefix="eval-decontam-zh-")
    try:
        bench = os.path.join(work, "zh_news.jsonl")
        with open(bench, "w", encoding="utf-8") as fh:
            for s in sents:
                fh.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
        order = list(range(len(zh_docs)))
        rng.shuffle(order)
        n_plant = min(200, len(zh_docs) // 3)
        picks = rng.sample(range(len(sents)), n_plant)
        planted = []
        for k, (h, si) in enumerate(zip(order[:n_plant], picks)):
            leak = sents[si] if k % 2 == 0 else sents[si].replace("，", " ").replace("。", "！")
            planted.append((plant(zh_docs[h], leak, rng), f"zh_news/{si + 1}", "verbatim" if k % 2 == 0 else "reformatted"))
        clean_zh = [zh_docs[i] for i in order[n_plant:]]
        print(f"\nChinese: {len(sents)} news sentences as a benchmark; {len(planted)} planted into Chinese "
              f"documents, {len(clean_zh)} clean Chinese documents for the false-positive rate")
        print(f"{'configuration':34s} {'indexed':>8s} {'verbatim':>9s} {'reformatted':>12s} {'FP':>10s}")
        for label, kw in (("chars, fixed n=8", dict(n=8, min_ngram=8, cjk_ngram=8, cjk_min_ngram=8)),
                          ("chars, fixed n=13 (before)", dict(n=13, min_ngram=13, cjk_ngram=13, cjk_min_ngram=13)),
                          ("CJK n 25, min 12 (default)", dict(n=13, min_ngram=8, cjk_ngram=25, cjk_min_ngram=12))):
            idx = build_index([], extra_files=[bench], **kw)
            got = {"verbatim": [0, 0], "reformatted": [0, 0]}
            for text, item, kind in planted:
                got[kind][1] += 1
                got[kind][0] += any(m.item == item for m in idx.matches(text))
            fp = sum(1 for d in clean_zh if idx.matches(d))
            n_idx = sum(1 for t in idx.items if t["indexed_ngrams"])
            print(f"{label:34s} {n_idx:>8d} " + " ".join(f"{got[k][0]:>5d}/{got[k][1]:<5d}" for k in got)
                  + f" {fp:>4d}/{len(clean_zh):<5d}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
