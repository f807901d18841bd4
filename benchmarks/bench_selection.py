"""Selection benchmark: does K-Center-Greedy cover the prompt space better than random sampling
at the same budget, and how long does it take on 100,000 prompts?

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/bench_selection.py \
        [--budgets 50,100,250,500,1000] [--seeds 5] [--big 100000] [--big-budget 1000] [--json out.json]

1. **Prompts.** The English SFT sets in the shared data (LLaMA-Factory alpaca_en_demo,
   identity, glaive_toolcall_en_demo, v1_sft_demo, reason_tool_use_demo_50; LIMA; FastChat's
   dummy conversations; the self-instruct seed tasks), read with ``datamill.post.formats``; the
   prompt is each record's last user turn (``prompt_text``), exact duplicates removed.
2. **Embeddings.** all-MiniLM-L6-v2 (the packaged model, offline) on CPU; cached in
   ``--cache`` (keyed by the prompts) so a rerun skips it. The embedding time is printed.
3. **Coverage.** For each budget: mean / p90 / max cosine distance from every prompt to its
   nearest selected prompt, for K-Center-Greedy, random (mean ± sd over ``--seeds`` seeds) and
   cluster-balanced sampling. Lower is better; the ratio is random ÷ k-center.
4. **100,000 prompts.** Embedding 100k prompts on two CPU cores would take most of an hour, so
   the timing set is made from the real embeddings: each real vector repeated and perturbed with
   Gaussian noise (σ chosen so a copy stays closer to its source than to other prompts), then
   renormalised, up to ``--big`` rows. K-Center-Greedy at ``--big-budget`` is timed on it
   (numpy, float32), and the coverage search (faiss) too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from datamill.post import select as S  # noqa: E402
from datamill.post.schema import prompt_text  # noqa: E402

ENGLISH_SETS = [
    "instruction_sft/llamafactory/alpaca_en_demo.json",
    "instruction_sft/llamafactory/identity.json",
    "instruction_sft/llamafactory/glaive_toolcall_en_demo.json",
    "instruction_sft/llamafactory/v1_sft_demo.jsonl",
    "instruction_sft/llamafactory/reason_tool_use_demo_50.jsonl",
    "instruction_sft/llamafactory_2023-08/lima.json",
    "instruction_sft/fastchat/dummy_conversation.json",
    "instruction_sft/alpaca/seed_tasks.jsonl",
]


CHINESE_SETS = [
    "instruction_sft/llamafactory/alpaca_zh_demo.json",
    "instruction_sft/llamafactory/glaive_toolcall_zh_demo.json",
    "instruction_sft/llamafactory_2023-08/oaast_sft_zh.json",
    "preference/llamafactory/dpo_zh_demo.json",
]


def shared_dir() -> Path:
    env = os.environ.get("DATAMILL_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def load_prompts(sets: list[str] | None = None) -> tuple[list[str], dict[str, int]]:
    from datamill.post.formats import read_records

    seen: dict[str, None] = {}
    per: dict[str, int] = {}
    for rel in sets or ENGLISH_SETS:
        path = shared_dir() / rel
        if not path.exists():
            print(f"  (missing {path})")
            continue
        bad: list = []
        n = 0
        for r in read_records(str(path), errors=bad):
            t = prompt_text(r).strip()
            if t and t not in seen:
                seen[t] = None
                n += 1
        per[rel.split("/")[-1]] = n
    return list(seen), per


def embeddings(prompts: list[str], cache: Path, model: str = "minilm") -> tuple[np.ndarray, float | None]:
    key = hashlib.sha256(("\x00".join(prompts) + "|" + model).encode()).hexdigest()[:16]
    f = cache / f"selection-prompts-{key}.npy"
    if f.exists():
        return np.load(f), None
    from datamill.embed import get_embedder, load_embedder

    emb = load_embedder(device="cpu") if model == "minilm" else get_embedder(model)
    t0 = time.perf_counter()
    X = emb.embed(prompts, batch_size=64)
    dt = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    np.save(f, X)
    return X, dt


def coverage_table(X: np.ndarray, budgets: list[int], seeds: int) -> list[dict]:
    rows = []
    for b in budgets:
        if b >= len(X):
            continue
        t0 = time.perf_counter()
        kc, _ = S.k_center_greedy(X, b, seed=0)
        t_kc = time.perf_counter() - t0
        c_kc = S.coverage(X, kc)
        rnd = [S.coverage(X, S.random_select(len(X), b, seed=s)) for s in range(seeds)]
        labels, _ = S.kmeans(X, max(2, int(round(np.sqrt(b)))), seed=0)
        c_cl = S.coverage(X, S.cluster_balanced(labels, b, seed=0))
        row = {"budget": b, "kcenter": c_kc, "kcenter_seconds": round(t_kc, 3),
               "random_mean": float(np.mean([r["mean"] for r in rnd])),
               "random_mean_sd": float(np.std([r["mean"] for r in rnd])),
               "random_p90": float(np.mean([r["p90"] for r in rnd])),
               "random_max": float(np.mean([r["max"] for r in rnd])),
               "cluster": c_cl}
        rows.append(row)
    return rows


def big_set(X: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """``n`` rows made from ``X``: repeats with Gaussian noise, renormalised. σ is a third of the
    median nearest-neighbour distance (in Euclidean units) divided by √d, so a copy's noise has
    norm ≈ a third of the gap to the source's nearest other prompt."""
    rng = np.random.default_rng(seed)
    d, _ = S.nearest(X, X, 2)
    nn_cos = np.median(d[:, 1])
    nn_euc = float(np.sqrt(2 * max(nn_cos, 1e-6)))
    sigma = nn_euc / 3 / np.sqrt(X.shape[1])
    idx = np.resize(np.arange(len(X)), n)
    big = X[idx] + rng.normal(0, sigma, size=(n, X.shape[1])).astype(np.float32)
    big[: len(X)] = X[: min(len(X), n)]
    return S.normalize(big), sigma


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budgets", default="50,100,250,500,1000")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--big-budget", type=int, default=1000)
    ap.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                    os.path.expanduser("~/.cache"), "datamill", "bench"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--lang", choices=["en", "zh"], default="en",
                    help="en: the English SFT prompts; zh: Chinese (alpaca_zh, glaive zh, OASST-zh, DPO zh)")
    ap.add_argument("--embed-model", default="minilm",
                    help="minilm (all-MiniLM-L6-v2), multilingual-e5-small or ngram-hash")
    ap.add_argument("--no-center", action="store_true", help="measure on raw embeddings (no mean removal)")
    ap.add_argument("--limit", type=int, default=0, help="a seeded sample of this many prompts (0: all)")
    args = ap.parse_args()

    import faiss
    print(f"threads: faiss/OpenMP {faiss.omp_get_max_threads()}, CPU cores {os.cpu_count()}")
    prompts, per = load_prompts(CHINESE_SETS if args.lang == "zh" else ENGLISH_SETS)
    if args.limit and len(prompts) > args.limit:
        import random

        prompts = random.Random(0).sample(prompts, args.limit)
    print(f"prompts: {len(prompts):,} distinct {'Chinese' if args.lang == 'zh' else 'English'} prompts "
          f"from the shared data (load average {os.getloadavg()[0]:.1f})")
    for k, v in per.items():
        print(f"  {k:<36} {v:>6,}")
    X, t_emb = embeddings(prompts, Path(args.cache), args.embed_model)
    if t_emb is None:
        print(f"embeddings: {args.embed_model}, from the cache")
    else:
        print(f"embeddings: {args.embed_model} on CPU: {t_emb:.1f} s ({len(prompts) / t_emb:,.1f} prompts/s)")
    X = S.normalize(X)
    raw, centred = S.spread(X), S.spread(S.center(X))
    print(f"pairwise cosine distances, raw:     mean {raw['mean']:.3f}  p5 {raw['p5']:.3f}  p95 {raw['p95']:.3f}  "
          f"max {raw['max']:.3f}")
    print(f"pairwise cosine distances, centred: mean {centred['mean']:.3f}  p5 {centred['p5']:.3f}  "
          f"p95 {centred['p95']:.3f}  max {centred['max']:.3f}")
    if not args.no_center:
        X = S.center(X)

    budgets = [int(b) for b in args.budgets.split(",")]
    rows = coverage_table(X, budgets, args.seeds)
    print("\ncoverage: cosine distance from every prompt to its nearest selected prompt (lower is better)")
    print(f"  {'budget':>6}  {'method':<8} {'mean':>7} {'p90':>7} {'max':>7}   random÷kcenter (mean, max)")
    for r in rows:
        kc, cl = r["kcenter"], r["cluster"]
        print(f"  {r['budget']:>6}  {'kcenter':<8} {kc['mean']:>7.4f} {kc['p90']:>7.4f} {kc['max']:>7.4f}"
              f"   {r['random_mean'] / kc['mean']:.2f}×, {r['random_max'] / kc['max']:.2f}×")
        print(f"  {'':>6}  {'random':<8} {r['random_mean']:>7.4f} {r['random_p90']:>7.4f} {r['random_max']:>7.4f}"
              f"   (mean ± {r['random_mean_sd']:.4f} over {args.seeds} seeds)")
        print(f"  {'':>6}  {'cluster':<8} {cl['mean']:>7.4f} {cl['p90']:>7.4f} {cl['max']:>7.4f}")

    print(f"\n{args.big:,} prompts (the {len(X):,} real embeddings repeated with Gaussian noise, see the doc)")
    big, sigma = big_set(X, args.big)
    t0 = time.perf_counter()
    kc, radii = S.k_center_greedy(big, args.big_budget, seed=0)
    t_kc = time.perf_counter() - t0
    t0 = time.perf_counter()
    cov = S.coverage(big, kc)
    t_cov = time.perf_counter() - t0
    rnd = S.coverage(big, S.random_select(len(big), args.big_budget, seed=0))
    t0 = time.perf_counter()
    S.kmeans(big, int(round(np.sqrt(args.big_budget))), seed=0)
    t_km = time.perf_counter() - t0
    print(f"  noise σ = {sigma:.4f} per dimension")
    print(f"  K-Center-Greedy, budget {args.big_budget:,}: {t_kc:.1f} s "
          f"({1000 * t_kc / args.big_budget:.1f} ms per kept prompt)")
    print(f"  coverage search (faiss, exact): {t_cov:.1f} s;  k-means ({int(round(np.sqrt(args.big_budget)))} "
          f"clusters): {t_km:.1f} s")
    print(f"  coverage: kcenter mean {cov['mean']:.4f} max {cov['max']:.4f}; "
          f"random mean {rnd['mean']:.4f} max {rnd['max']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "prompts": len(prompts), "lang": args.lang, "embed_model": args.embed_model,
            "spread_raw": raw, "spread_centred": centred, "per_file": per, "embed_seconds": t_emb, "coverage": rows,
            "big": {"n": args.big, "budget": args.big_budget, "sigma": sigma, "kcenter_seconds": t_kc,
                    "coverage_seconds": t_cov, "kmeans_seconds": t_km, "kcenter": cov, "random": rnd}}, indent=2))


if __name__ == "__main__":
    main()
