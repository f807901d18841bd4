"""MinHash dedup: accuracy against exact Jaccard, speed and memory, datamill vs the anchors.

    PYTHONPATH=src python benchmarks/bench_minhash.py [--docs 100000] [--shards 8] [--workers 2]
        [--threshold 0.8] [--anchor-python .venv-anchors/bin/python] [--skip datatrove,datasketch]
        [--workdir /tmp/datamill-bench-minhash] [--json results.json]

In one run:

1. Corpus. ``--docs`` documents of real text, deterministic (seed 1): a pool of sentences from
   the shared data (scrapinghub article bodies, CCNet documents, the C4 and Wikipedia samples,
   LIMA and Alpaca responses) is recombined into distinct base documents (a few paragraphs of
   random sentences, lengths drawn like web pages), and about a fifth of the documents are
   planted near duplicates of a base: word substitutions (0-6 %), paragraph shuffles,
   boilerplate added before or after, truncation, an inserted paragraph, exact copies, and
   variants of variants. Written as ``--shards`` JSONL files.
2. Truth. The exact Jaccard similarity of word 5-gram sets (lower-cased ``\\w+`` words, NFKC)
   of every pair inside a family (a base and its variants), and of every pair that any tool
   put in one cluster. A pair is a duplicate when its similarity is at least ``--threshold``.
3. Tools, each in its own process tree, timed from start to exit, peak memory sampled over the
   whole tree (sum of RSS):

   - datamill: ``Pipeline([MinHashDedup(threshold)])`` on the JSONL shards, ``--workers``
     processes, written out (kept records + dropped side output);
   - datatrove (anchor venv): MinhashDedupSignature → Buckets → Cluster → Filter with
     LocalPipelineExecutor, ``--workers`` processes, 14 buckets × 8 hashes, 5-grams,
     cluster ids saved, kept and removed documents written;
   - datasketch: MinHash (112 permutations, same shingles as datamill) + MinHashLSH with the
     same 14 × 8 bands, union-find over query results; one process (it has no executor).

4. Figures per tool: wall seconds, docs/s, peak MB, pair precision / recall / F1 (pairs in
   one cluster against pairs with exact J >= threshold), document precision / recall / F1 (a
   document is a duplicate when it has a partner at J >= threshold; predicted when it is in a
   cluster of two or more), removals against the ideal count; and datamill's ratios.

A tool's run is also available alone: ``--run datamill|datatrove|datasketch INPUT OUT``.
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
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
SHARED = Path(os.environ.get("DATAMILL_SHARED_DATA", REPO.parent / "shared" / "data"))

from anchor_datatrove import ProcTreeSampler  # noqa: E402  (stdlib only)

BANDS, ROWS, NGRAM = 14, 8, 5


# --- corpus --------------------------------------------------------------------------------

def _source_texts() -> list[str]:
    texts = []
    truth = json.loads((SHARED / "html_extraction" / "scrapinghub_aeb" / "ground-truth.json").read_text())
    texts += [v["articleBody"] for _, v in sorted(truth.items()) if v.get("articleBody")]
    for path in sorted((SHARED / "warc" / "dolma_ccnet_text").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            texts += [json.loads(line)["text"] for line in fh]
    sft = SHARED / "instruction_sft"
    with open(sft / "llamafactory" / "c4_demo.jsonl") as fh:
        texts += [json.loads(line)["text"] for line in fh]
    texts += (sft / "llamafactory" / "wiki_demo.txt").read_text().split("\n")
    for name in ("llamafactory_2023-08/lima.json", "llamafactory/alpaca_en_demo.json"):
        texts += [d["output"] for d in json.loads((sft / name).read_text()) if isinstance(d.get("output"), str)]
    return texts


def sentence_pool() -> list[str]:
    seen, pool = set(), []
    for text in _source_texts():
        for sent in re.split(r"(?<=[.!?])\s+|\n+", text):
            sent = sent.strip()
            n = len(sent.split())
            if 5 <= n <= 60 and sent not in seen:
                seen.add(sent)
                pool.append(sent)
    return pool


_FILLERS = ["the", "a", "of", "and", "to", "in", "is", "for", "on", "with", "new", "data", "time",
            "people", "year", "work", "home", "city", "world", "best"]


def build_corpus(n_docs: int, seed: int = 1) -> tuple[list[dict], list[list[str]]]:
    """(records, families): families list the ids of a base and its planted variants."""
    rng = random.Random(seed)
    pool = sentence_pool()
    boiler = [" ".join(rng.choice(pool) for _ in range(rng.randint(1, 6))) for _ in range(40)]

    def base_doc() -> list[str]:
        n_sent = max(2, min(80, int(rng.lognormvariate(2.6, 0.7))))
        sents = [rng.choice(pool) for _ in range(n_sent)]
        paras, i = [], 0
        while i < len(sents):
            k = rng.randint(1, 6)
            paras.append(" ".join(sents[i:i + k]))
            i += k
        return paras

    def variant(paras: list[str]) -> tuple[list[str], str]:
        kind = rng.choice(["edit", "edit", "edit", "shuffle", "boiler", "truncate", "insert", "copy",
                           "mixed"])
        out = list(paras)
        if kind in ("edit", "mixed"):
            rate = rng.uniform(0.0, 0.06)
            new = []
            for p in out:
                words = p.split(" ")
                for j in range(len(words)):
                    if rng.random() < rate:
                        words[j] = rng.choice(_FILLERS)
                new.append(" ".join(words))
            out = new
        if kind in ("shuffle", "mixed") and len(out) > 1:
            rng.shuffle(out)
        if kind in ("boiler", "mixed"):
            b = rng.choice(boiler)
            out = [b] + out if rng.random() < 0.5 else out + [b]
        if kind == "truncate" and len(out) > 1:
            out = out[:max(1, int(len(out) * rng.uniform(0.6, 1.0)))]
        if kind == "insert":
            out.insert(rng.randint(0, len(out)), " ".join(rng.choice(pool) for _ in range(rng.randint(1, 4))))
        return out, kind

    records, families = [], []
    n_base = int(n_docs * 0.8)
    bases = [base_doc() for _ in range(n_base)]
    for i, paras in enumerate(bases):
        records.append({"id": f"b{i}", "text": "\n\n".join(paras), "kind": "base"})
    fam_of = {}
    v = 0
    while len(records) < n_docs:
        i = rng.randrange(n_base)
        parent = bases[i]
        if f"b{i}" in fam_of and rng.random() < 0.3:  # a variant of a variant
            last = families[fam_of[f"b{i}"]][-1]
            parent = next(r for r in reversed(records) if r["id"] == last)["text"].split("\n\n")
        paras, kind = variant(parent)
        rid = f"v{v}"
        v += 1
        records.append({"id": rid, "text": "\n\n".join(paras), "kind": kind})
        if f"b{i}" not in fam_of:
            fam_of[f"b{i}"] = len(families)
            families.append([f"b{i}"])
        families[fam_of[f"b{i}"]].append(rid)
    order = list(range(len(records)))
    rng.shuffle(order)
    return [records[j] for j in order], families


def write_shards(records: list[dict], folder: Path, n_shards: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        with open(folder / f"shard-{s:03d}.jsonl", "w") as fh:
            for r in records[s::n_shards]:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")


# --- the tools (each runs in its own process) -----------------------------------------------

def run_datamill(inp: str, out: str, workers: int, threshold: float) -> dict:
    from datamill import Pipeline
    from datamill.steps.dedup.minhash import MinHashDedup

    step = MinHashDedup(threshold=threshold, num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS, ngram=NGRAM)
    stats = Pipeline([step], output_format="jsonl", compression="none").run(
        [inp], os.path.join(out, "run"), workers=workers, keep_dropped=True, overwrite=True)
    clusters, removed = {}, []
    for path in sorted(glob.glob(os.path.join(out, "run", "part-*.jsonl"))):
        with open(path) as fh:
            for line in fh:
                r = json.loads(line)
                c = ((r.get("signals") or {}).get("minhash_dedup") or {}).get("cluster")
                if c is not None:
                    clusters[r["id"]] = c
    for path in sorted(glob.glob(os.path.join(out, "run", ".datamill", "dropped", "*.jsonl.gz"))):
        with gzip.open(path, "rt") as fh:
            for line in fh:
                r = json.loads(line)
                clusters[r["id"]] = r["signals"]["minhash_dedup"]["cluster"]
                removed.append(r["id"])
    return {"clusters": clusters, "removed": removed, "counters": stats["globals"].get("minhash_dedup")}


def run_datatrove(inp: str, out: str, workers: int, threshold: float) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                          MinhashDedupSignature)
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    n_files = len(glob.glob(os.path.join(inp, "*.jsonl")))
    cfg = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    base = Path(out)

    def reader():
        return JsonlReader(inp, glob_pattern="*.jsonl", text_key="text", id_key="id")

    stages = [
        ([reader(), MinhashDedupSignature(output_folder=str(base / "sigs"), config=cfg)], n_files),
        ([MinhashDedupBuckets(input_folder=str(base / "sigs"), output_folder=str(base / "buckets"),
                              config=cfg)], BANDS),
        ([MinhashDedupCluster(input_folder=str(base / "buckets"), output_folder=str(base / "remove"),
                              config=cfg, save_cluster_id=True)], 1),
        ([reader(), MinhashDedupFilter(input_folder=str(base / "remove"), load_cluster_ids=True,
                                       exclusion_writer=JsonlWriter(str(base / "removed"), compression=None)),
          JsonlWriter(str(base / "kept"), compression=None)], n_files),
    ]
    for i, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(workers, tasks),
                              logging_dir=str(base / "logs" / f"stage{i}")).run()
    clusters, removed = {}, []
    for kind in ("kept", "removed"):
        for path in sorted(glob.glob(str(base / kind / "*.jsonl"))):
            with open(path) as fh:
                for line in fh:
                    r = json.loads(line)
                    c = r.get("metadata", {}).get("minhash_cluster_id", -1)
                    if c != -1:
                        clusters[r["id"]] = c
                    if kind == "removed":
                        removed.append(r["id"])
    return {"clusters": clusters, "removed": removed}


def run_datasketch(inp: str, out: str, workers: int, threshold: float) -> dict:
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    from datamill.steps.dedup.lsh import tokens

    ids, sets = [], []
    for path in sorted(glob.glob(os.path.join(inp, "*.jsonl"))):
        with open(path) as fh:
            for line in fh:
                r = json.loads(line)
                toks = tokens(r["text"], chars=False)
                sh = {" ".join(toks[i:i + NGRAM]).encode() for i in range(max(1, len(toks) - NGRAM + 1))}
                ids.append(r["id"])
                sets.append(sh)
    lsh = MinHashLSH(threshold=threshold, num_perm=BANDS * ROWS, params=(BANDS, ROWS))
    mhs = MinHash.bulk(sets, num_perm=BANDS * ROWS, seed=1)
    del sets
    with lsh.insertion_session() as session:
        for i, m in enumerate(mhs):
            session.insert(i, m)
    parent = np.arange(len(ids))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(mhs):
        for j in lsh.query(m):
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    roots = [find(i) for i in range(len(ids))]
    size = Counter(roots)
    clusters = {ids[i]: int(r) for i, r in enumerate(roots) if size[r] > 1}
    removed = [ids[i] for i, r in enumerate(roots) if size[r] > 1 and r != i]
    return {"clusters": clusters, "removed": removed}


TOOLS = {"datamill": run_datamill, "datatrove": run_datatrove, "datasketch": run_datasketch}


# --- truth and scores -----------------------------------------------------------------------

class Shingler:
    def __init__(self, texts: dict[str, str]):
        from datamill.steps.dedup.lsh import tokens

        self.texts, self.tokens, self.cache = texts, tokens, {}

    def __call__(self, rid: str) -> set:
        s = self.cache.get(rid)
        if s is None:
            toks = self.tokens(self.texts[rid], chars=False)
            s = {hash(tuple(toks[i:i + NGRAM])) for i in range(max(1, len(toks) - NGRAM + 1))} if toks else set()
            self.cache[rid] = s
        return s

    def jaccard(self, a: str, b: str) -> float:
        x, y = self(a), self(b)
        return len(x & y) / len(x | y) if (x or y) else 1.0


def _pairs_of(clusters: dict[str, object], cap: int = 2_000_000) -> set:
    members = defaultdict(list)
    for rid, c in clusters.items():
        members[c].append(rid)
    out = set()
    for ids in members.values():
        ids.sort()
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                out.add((ids[i], ids[j]))
                if len(out) > cap:
                    raise RuntimeError("a tool's clusters hold more pairs than the evaluation can check")
    return out


def score(results: dict[str, dict], records: list[dict], families: list[list[str]], threshold: float) -> dict:
    texts = {r["id"]: r["text"] for r in records}
    shingles = Shingler(texts)
    sim: dict[tuple, float] = {}
    for fam in families:
        fam = sorted(fam)
        for i in range(len(fam)):
            for j in range(i + 1, len(fam)):
                sim[(fam[i], fam[j])] = shingles.jaccard(fam[i], fam[j])
    predicted = {}
    for tool, res in results.items():
        predicted[tool] = _pairs_of(res["clusters"])
        for p in predicted[tool]:
            if p not in sim:
                sim[p] = shingles.jaccard(*p)
    truth = {p for p, j in sim.items() if j >= threshold}
    dup_docs = {d for p in truth for d in p}
    # the fewest removals that leave no pair at J >= threshold within a true component
    parent: dict[str, str] = {}

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in truth:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    comp = Counter(find(d) for d in dup_docs)
    ideal_removals = sum(n - 1 for n in comp.values())
    out = {"truth_pairs": len(truth), "duplicate_docs": len(dup_docs), "ideal_removals": ideal_removals,
           "similarity_histogram": _histogram([sim[p] for p in sim]), "tools": {}}
    for tool, res in results.items():
        pred = predicted[tool]
        tp = len(pred & truth)
        pdocs = set(res["clusters"])
        dtp = len(pdocs & dup_docs)
        out["tools"][tool] = {
            "pair_precision": _ratio(tp, len(pred)), "pair_recall": _ratio(tp, len(truth)),
            "pair_f1": _f1(tp, len(pred), len(truth)), "predicted_pairs": len(pred),
            "doc_precision": _ratio(dtp, len(pdocs)), "doc_recall": _ratio(dtp, len(dup_docs)),
            "doc_f1": _f1(dtp, len(pdocs), len(dup_docs)), "removed": len(res["removed"]),
            "missed_pairs_by_similarity": _histogram([sim[p] for p in truth - pred]),
            "false_pairs_by_similarity": _histogram([sim[p] for p in pred - truth]),
        }
    return out


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 1.0


def _f1(tp: int, n_pred: int, n_true: int) -> float:
    p, r = (tp / n_pred if n_pred else 1.0), (tp / n_true if n_true else 1.0)
    return round(2 * p * r / (p + r), 4) if p + r else 0.0


def _histogram(values: list[float]) -> dict[str, int]:
    edges = [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0001]
    out = {}
    for lo, hi in zip(edges, edges[1:]):
        n = sum(1 for v in values if lo <= v < hi)
        if n:
            out[f"{lo:.2f}-{min(hi, 1.0):.2f}"] = n
    return out


# --- driver ---------------------------------------------------------------------------------

def timed_subprocess(cmd: list[str], env: dict) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds of the whole (reaped) tree, peak memory."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = ProcTreeSampler(proc.pid, interval=0.1).start()
    stdout, stderr = proc.communicate()
    mem = sampler.stop()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # RUSAGE_CHILDREN misses pool processes their parent never waited for (datatrove's pool):
    # the /proc samples of every process in the tree see them; take the larger of the two
    cpu = max(reaped, mem.pop("tree_cpu_s", 0.0))
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), **mem}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.8)
    anchors = Path(__file__).resolve().parents[1] / ".venv-anchors" / "bin" / "python"
    ap.add_argument("--anchor-python", default=str(anchors) if anchors.exists() else "/tmp/anchorvenv/bin/python",
                    help="the anchors' interpreter (default: .venv-anchors made by `make anchors`)")
    ap.add_argument("--skip", default="", help="comma-separated tools not to run")
    ap.add_argument("--workdir", default="/tmp/datamill-bench-minhash")
    ap.add_argument("--json", default=None)
    ap.add_argument("--run", nargs=3, metavar=("TOOL", "INPUT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.run:
        tool, inp, out = args.run
        res = TOOLS[tool](inp, out, args.workers, args.threshold)
        with open(os.path.join(out, "result.json"), "w") as fh:
            json.dump(res, fh)
        return

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    records, families = build_corpus(args.docs)
    write_shards(records, work / "input", args.shards)
    size_mb = sum(f.stat().st_size for f in (work / "input").glob("*.jsonl")) / 1e6
    kinds = Counter(r["kind"] for r in records)
    print(f"corpus: {len(records):,} docs, {size_mb:.0f} MB in {args.shards} shards, "
          f"{len(families):,} families of near duplicates ({dict(kinds)}), built in "
          f"{time.perf_counter() - t0:.0f}s", flush=True)

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    skip = {s for s in args.skip.split(",") if s}
    results, timings = {}, {}
    for tool in ("datamill", "datatrove", "datasketch"):
        if tool in skip:
            continue
        python = args.anchor_python if tool == "datatrove" else sys.executable
        out = work / tool
        out.mkdir(parents=True)
        cmd = [python, str(Path(__file__).resolve()), "--run", tool, str(work / "input"), str(out),
               "--workers", str(args.workers), "--threshold", str(args.threshold)]
        timings[tool] = timed_subprocess(cmd, env)
        with open(out / "result.json") as fh:
            results[tool] = json.load(fh)
        print(f"{tool:>10}: {timings[tool]['seconds']:7.1f} s ({timings[tool]['cpu_seconds']:.1f} CPU s), peak {timings[tool]['peak_total_mb']:7.0f} MB "
              f"(largest process {timings[tool]['peak_process_mb']:.0f} MB)", flush=True)

    t0 = time.perf_counter()
    scores = score(results, records, families, args.threshold)
    print(f"truth: {scores['truth_pairs']:,} pairs at exact Jaccard >= {args.threshold} "
          f"({scores['duplicate_docs']:,} documents, ideal removals {scores['ideal_removals']:,}); "
          f"family pairs by similarity {scores['similarity_histogram']} "
          f"(scored in {time.perf_counter() - t0:.0f}s)")
    header = (f"{'tool':>10} {'seconds':>8} {'docs/s':>8} {'peak MB':>8} {'pair P':>7} {'pair R':>7} "
              f"{'pair F1':>7} {'doc P':>7} {'doc R':>7} {'doc F1':>7} {'removed':>8}")
    print(header)
    for tool, s in scores["tools"].items():
        t = timings[tool]
        print(f"{tool:>10} {t['seconds']:8.1f} {len(records) / t['seconds']:8.0f} {t['peak_total_mb']:8.0f} "
              f"{s['pair_precision']:7.3f} {s['pair_recall']:7.3f} {s['pair_f1']:7.3f} {s['doc_precision']:7.3f} "
              f"{s['doc_recall']:7.3f} {s['doc_f1']:7.3f} {s['removed']:8,}")
    for tool, s in scores["tools"].items():
        print(f"{tool:>10}: missed pairs by similarity {s['missed_pairs_by_similarity']}; "
              f"false pairs by similarity {s['false_pairs_by_similarity']}")
    if "datamill" in timings:
        for other in timings:
            if other != "datamill":
                print(f"datamill vs {other}: {timings[other]['seconds'] / timings['datamill']['seconds']:.1f}x "
                      f"faster (CPU time {timings[other]['cpu_seconds'] / timings['datamill']['cpu_seconds']:.1f}x less), peak memory {timings['datamill']['peak_total_mb'] / timings[other]['peak_total_mb']:.2f}x, "
                      f"pair F1 {scores['tools']['datamill']['pair_f1'] - scores['tools'][other]['pair_f1']:+.3f}")
        if results["datamill"].get("counters"):
            print("datamill counters:", results["datamill"]["counters"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"docs": len(records), "timings": timings, "scores": scores}, fh, indent=2)


if __name__ == "__main__":
    main()
