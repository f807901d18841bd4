"""Relevance filter accuracy and speed: does the prompt/answer similarity catch mismatched pairs,
in Chinese and in English, and what does it cost?

    PYTHONPATH=src python benchmarks/eval_relevance.py [--models multilingual-e5-small,ngram-hash,minilm]
        [--pairs 300] [--threshold 0.1]

Real (prompt, answer) pairs are sampled (seeded) from the shared data: Chinese from
LLaMA-Factory alpaca_zh_demo, OASST-zh and dpo_zh_demo (chosen); English from alpaca_en_demo,
LIMA and dpo_en_demo. Mismatched pairs are the same prompts with another record's answer (a
derangement). For each embedder and language it prints: the share of real pairs under the
threshold (wrongly dropped) and of mismatched pairs under it (caught), the same at the
threshold that drops 2% of real pairs (threshold-free comparison), and the time to embed
1,000 records (prompt + answer), with the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from datamill.embed import get_embedder  # noqa: E402
from datamill.post.formats import read_records  # noqa: E402
from datamill.post.schema import prompt_text  # noqa: E402
from datamill.post.walk import taught_answers  # noqa: E402

SETS = {
    "zh": ["instruction_sft/llamafactory/alpaca_zh_demo.json", "instruction_sft/llamafactory_2023-08/oaast_sft_zh.json",
           "preference/llamafactory/dpo_zh_demo.json"],
    "en": ["instruction_sft/llamafactory/alpaca_en_demo.json", "instruction_sft/llamafactory_2023-08/lima.json",
           "preference/llamafactory/dpo_en_demo.json"],
}
MODELS = {"minilm": None}


def shared_dir() -> Path:
    env = os.environ.get("DATAMILL_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def load_pairs(lang: str, n: int, min_chars: int = 20) -> list[tuple[str, str]]:
    out = []
    for rel in SETS[lang]:
        for r in read_records(str(shared_dir() / rel)):
            answers = taught_answers(r)
            p = prompt_text(r).strip()
            a = answers[-1][1].strip() if answers else ""
            if len(p) >= min_chars and len(a) >= min_chars:  # relevance_filter's min_chars
                out.append((p, a))
    random.Random(0).shuffle(out)
    return out[:n]


def derangement(n: int, seed: int = 0) -> np.ndarray:
    perm = np.random.default_rng(seed).permutation(n)
    return np.where(perm == np.arange(n), (perm + 1) % n, perm)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="multilingual-e5-small,ngram-hash,minilm")
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--threshold", type=float, action="append")
    args = ap.parse_args()
    data = {lang: load_pairs(lang, args.pairs) for lang in SETS}
    print(f"{'model':<22} {'lang':<4} {'pairs':>5} {'thr':>6} {'real<thr':>9} {'caught':>7} "
          f"{'thr@2%':>7} {'caught@2%':>9} {'s/1000 rec':>10}  load")
    for name in args.models.split(","):
        emb = get_embedder(MODELS.get(name, name), device="cpu")
        default_thr = {"multilingual-e5-small": 0.8, "ngram-hash": 0.05}.get(name, 0.1)
        for lang, pairs in data.items():
            n = len(pairs)
            t = time.perf_counter()
            P = emb.embed([p for p, _ in pairs])
            A = emb.embed([a for _, a in pairs])
            secs = (time.perf_counter() - t) / n * 1000
            real = np.einsum("ij,ij->i", P, A)
            mism = np.einsum("ij,ij->i", P, A[derangement(n)])
            thr2 = float(np.quantile(real, 0.02))
            for thr in args.threshold or [default_thr]:
                print(f"{name:<22} {lang:<4} {n:>5} {thr:>6.2f} {np.mean(real < thr):>9.1%} {np.mean(mism < thr):>7.1%} "
                      f"{thr2:>7.3f} {np.mean(mism < thr2):>9.1%} {secs:>10.1f}  {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
