"""Quality figures of the LLM steps, honestly, with the 135M local model (or any endpoint).

    PYTHONPATH=src python benchmarks/bench_llm_quality.py --shared ../shared/data \
        [--base-url URL] [--self-instruct 40] [--judge-pairs 60] [--ifd 200]

1. Self-instruct yield and diversity: ``--self-instruct N`` new instructions from Alpaca's 175
   seed tasks; requests sent, kept, drops per reason, and diversity of the kept ones (mean
   ROUGE-L to the nearest seed, mean pairwise ROUGE-L among them, distinct bigrams).
2. Judge agreement with human preferences: ``--judge-pairs N`` pairs each from hh-rlhf
   harmless-base (test) and LLaMA-Factory's DPO en demo, judged pairwise in both orders.
   Positive class = "the human-chosen answer wins": precision = right among decided (non-tie)
   verdicts, recall = right among all pairs, F1; plus the tie rate (orders disagreed).
3. IFD selection vs random: ``--ifd N`` SFT records of LLaMA-Factory's alpaca_en_demo get IFD
   from the model; the top quarter by IFD and a random quarter are scored by datamill's quality
   model (trained here on the DPO en demo) and their mean scores compared.

Without --base-url the local llama.cpp server is started. The reply cache is kept under
--cache (default build/bench-llm-cache) so a second run of the same figures costs nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from datamill.core.stats import StepStats  # noqa: E402
from datamill.core.step import StepContext  # noqa: E402
from datamill.llm.rouge import RougePool, rouge_l  # noqa: E402
from datamill.llm.serve import LocalServer  # noqa: E402
from datamill.post.formats import read_records  # noqa: E402


def run_step(step, records):
    step.ensure_setup()
    stats, ctx = StepStats(step.label, step.kind), StepContext(keep_dropped=True)
    out = []
    for i in range(0, len(records), 32):
        out += step.run_batch(records[i:i + 32], stats, ctx)
    return out, stats


def bench_self_instruct(shared: Path, llm: dict, n: int, examples: int = 8) -> None:
    from datamill.steps.llm.self_instruct import SelfInstruct, seed_task

    seeds = list(read_records(str(shared / "instruction_sft/alpaca/seed_tasks.jsonl")))
    step = SelfInstruct(num_instructions=n, num_examples=examples, machine_examples=min(2, examples - 1), llm=llm)
    seed_rows = [{"instruction": t.instruction, "input": t.input, "output": t.output, "id": r["id"]}
                 for r in seeds if (t := seed_task(r))]
    t0 = time.perf_counter()
    kept, reasons, usage = step.generate(seed_rows)
    dt = time.perf_counter() - t0
    sent = usage.get("calls", 0) + usage.get("cache_hits", 0)
    ins = [r["messages"][0]["content"] for r in kept]
    to_seed = [r["signals"]["self_instruct"]["rouge_l_max"] for r in kept]
    pair = [rouge_l(a, b) for a, b in itertools.combinations(ins, 2)]
    bigrams = [tuple(w) for s in ins for w in zip(s.lower().split(), s.lower().split()[1:])]
    print(f"\n[self-instruct] {sent} requests -> {len(kept)} kept ({len(kept) / max(sent, 1):.0%} yield) in {dt:.0f}s")
    print(f"  dropped: {dict(Counter(reasons).most_common())}")
    if kept:
        print(f"  ROUGE-L to nearest pool instruction: mean {sum(to_seed) / len(to_seed):.3f}; "
              f"pairwise among kept: mean {sum(pair) / max(len(pair), 1):.3f}; "
              f"distinct bigrams {len(set(bigrams)) / max(len(bigrams), 1):.2f}")
        for s in ins[:3]:
            print(f"  e.g. {s[:110]!r}")


def bench_judge(shared: Path, llm: dict, n: int) -> None:
    from datamill.steps.llm.judge import LLMJudge

    sets = {"hh-rlhf harmless": shared / "preference/hh-rlhf/harmless-base/test.jsonl.gz",
            "dpo en demo": shared / "preference/llamafactory/dpo_en_demo.json"}
    for name, path in sets.items():
        recs = [r for r in read_records(str(path)) if r.get("kind") == "preference"]
        recs = random.Random(0).sample(recs, min(n, len(recs)))
        t0 = time.perf_counter()
        out, stats = run_step(LLMJudge(mode="pairwise", llm=llm), recs)
        verdicts = Counter(r["signals"]["llm_judge"]["verdict"] for r in out)
        unparsed = stats.dropped.get("llm_parse_error", 0)
        right, decided = verdicts["chosen"], verdicts["chosen"] + verdicts["rejected"]
        p = right / decided if decided else 0.0
        rc = right / len(recs)
        f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
        print(f"\n[judge agreement] {name}: {len(recs)} pairs, {time.perf_counter() - t0:.0f}s; "
              f"chosen wins {verdicts['chosen']}, rejected wins {verdicts['rejected']}, ties {verdicts['tie']}, "
              f"unparseable {unparsed}")
        print(f"  P={p:.3f} R={rc:.3f} F1={f1:.3f} (random judge: P=0.5; ties = the two orders disagreed)")


def bench_ifd(shared: Path, llm: dict, n: int) -> None:
    import numpy as np

    from datamill.post.quality_model import train_quality_model
    from datamill.post.select import select
    from datamill.steps.llm.ifd import IFDScore

    sft = list(read_records(str(shared / "instruction_sft/llamafactory/alpaca_en_demo.json")))
    sft = random.Random(0).sample(sft, min(n, len(sft)))
    t0 = time.perf_counter()
    scored, stats = run_step(IFDScore(backend="local"), sft)  # see datamill.llm.local_logprobs
    print(f"\n[IFD] scored {len(scored)} of {len(sft)} records in {time.perf_counter() - t0:.0f}s "
          f"(dropped {dict(stats.dropped)})")
    pref = [r for r in read_records(str(shared / "preference/llamafactory/dpo_en_demo.json"))][:300]
    model = train_quality_model(pref, head="linear")
    q = np.asarray(model.predict(scored))
    k = max(1, len(scored) // 4)
    top = select(scored, k, method="ifd").indices
    rnd = random.Random(1).sample(range(len(scored)), k)
    ifds = np.array([r["signals"]["ifd_score"]["ifd"] for r in scored])
    print(f"  IFD: median {np.median(ifds):.3f}, share >= 1: {(ifds >= 1).mean():.2f}")
    print(f"  quality model (trained on DPO en demo) mean score: IFD top {k}: {q[top].mean():.3f}; "
          f"random {k}: {q[rnd].mean():.3f}; all: {q.mean():.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.environ.get("DATAMILL_SHARED_DATA", "../shared/data"))
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--cache", default="build/bench-llm-cache")
    ap.add_argument("--self-instruct", type=int, default=40)
    ap.add_argument("--examples", type=int, default=8, help="seed tasks shown per self-instruct prompt")
    ap.add_argument("--judge-pairs", type=int, default=60)
    ap.add_argument("--ifd", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=200)
    args = ap.parse_args()
    shared = Path(args.shared)
    server = None
    base = args.base_url
    if base is None:
        server = LocalServer(threads=args.threads, n_ctx=4096)
        base = server.start()
    llm = {"base_url": base, "cache_dir": args.cache, "max_tokens": args.max_tokens, "max_concurrency": 4}
    if args.model:
        llm["model"] = args.model
    print(f"endpoint {base}; load average {os.getloadavg()[0]:.2f}")
    try:
        if args.self_instruct:
            bench_self_instruct(shared, llm, args.self_instruct, args.examples)
        if args.judge_pairs:
            bench_judge(shared, llm, args.judge_pairs)
        if args.ifd:
            bench_ifd(shared, llm, args.ifd)
    finally:
        if server:
            server.stop()
    print(f"\nload average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
