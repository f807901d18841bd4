"""Per-language minimum scores for recipes/fineweb-multilingual.yaml, derived from data.

    python benchmarks/derive_lid_thresholds.py [--shared PATH] [--keep 0.95]

For each language lid.176 knows that has lingua test sentences, the ``language_id`` step scores
short "documents" of three consecutive sentences. The threshold is the score below which only
(1 - keep) of the *correctly* identified documents fall, clipped to [0.3, 0.65]: FineWeb's 0.65
for languages the model is sure of, lower where the model is right but less confident (so a
single global 0.65 would throw away good text). Prints a YAML mapping to paste into the recipe.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from eval_langid import load_sentences, shared_data_dir  # noqa: E402

from datamill.core.stats import StepStats  # noqa: E402
from datamill.core.step import StepContext  # noqa: E402
from datamill.steps.langid.fasttext_lid import LanguageID, normalize_code  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=None)
    ap.add_argument("--keep", type=float, default=0.95)
    args = ap.parse_args()
    data = load_sentences(Path(args.shared) if args.shared else shared_data_dir())
    step = LanguageID(min_score=0.0)
    step.ensure_setup()
    rows = []
    for lang, sentences in sorted(data.items()):
        gold = normalize_code(lang)
        docs = [{"id": str(i), "text": " ".join(sentences[i:i + 3]), "signals": {}}
                for i in range(0, len(sentences) - 2, 3)]
        out = step.run_batch(docs, StepStats("l", "filter"), StepContext())
        scores = sorted(r["metadata"]["language_score"] for r in out if r["metadata"]["language"] == gold)
        if not scores:
            continue
        acc = len(scores) / len(docs)
        q = scores[int((1 - args.keep) * len(scores))]
        rows.append((gold, acc, q, round(min(0.65, max(0.3, q)) - 0.005, 2)))
    print(f"{'lang':<6}{'doc acc':>8}{'q':>8}{'min':>7}")
    for gold, acc, q, thr in rows:
        print(f"{gold:<6}{acc:>8.3f}{q:>8.3f}{thr:>7.2f}")
    print("\nmin_scores:")
    print("  " + ", ".join(f"{g}: {t}" for g, _, _, t in rows if t < 0.645))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
