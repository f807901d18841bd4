"""Speed of the model-based taggers, side by side in one run, on the demo corpus's text.

    PYTHONPATH=src python benchmarks/bench_quality_speed.py --shared ../shared/data \
        --model build/models/web-quality.ftz --lm build/eval-quality/lm-en.bin

Prints each tagger's docs/s on one core (quality_classifier, perplexity, toxicity with word
lists + alt-profanity-check), then the FineWeb filters (recipes/fineweb-filters.yaml) with and
without quality_classifier + perplexity, and the extra time the two taggers cost (target:
under 30%). Every figure is the median of ``--rounds`` runs, with the load average beside it
(the machine is shared). datatrove's FastTextClassifierFilter is run on the same model and input
when datatrove is importable under ``--anchor-python``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def timed(steps, inputs: str, out: Path) -> tuple[float, int, float]:
    """Wall seconds of the run, records in, and the seconds inside the steps themselves."""
    from datamill import Pipeline

    t0 = time.perf_counter()
    stats = Pipeline(steps).run([inputs], str(out), overwrite=True, workers=1)
    return time.perf_counter() - t0, stats["steps"][0]["in"], sum(s["seconds"] for s in stats["steps"])


def main() -> None:
    from datamill.core.recipe import load_recipe
    from datamill.steps.quality.classifier import QualityClassifier
    from datamill.steps.quality.perplexity import Perplexity
    from datamill.steps.quality.toxicity import Toxicity

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", required=True, type=Path)
    ap.add_argument("--model", default="build/models/web-quality.ftz")
    ap.add_argument("--lm", default="build/eval-quality/lm-en.bin")
    ap.add_argument("--work", default="build/eval-quality", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--anchor-python", default=".venv-anchors/bin/python")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from eval_quality_models import demo_texts

    texts = str(demo_texts(args.shared, args.work))
    print("load average %.1f %.1f %.1f" % os.getloadavg())
    cases = {
        "quality_classifier": lambda: [QualityClassifier(model=args.model)],
        "perplexity": lambda: [Perplexity(model=args.lm)],
        "toxicity": lambda: [Toxicity(badwords_dir=str(args.shared / "badwords/ldnoobw"))],
        "fineweb filters": lambda: load_recipe(str(HERE.parent / "recipes/fineweb-filters.yaml")).steps,
        "fineweb filters + classifier + perplexity": lambda: load_recipe(
            str(HERE.parent / "recipes/fineweb-filters.yaml")).steps + [QualityClassifier(model=args.model),
                                                                         Perplexity(model=args.lm)],
    }
    results: dict[str, list[float]] = {k: [] for k in cases}
    inside: dict[str, list[float]] = {k: [] for k in cases}  # --rounds 0: only the datatrove comparison
    n_in = 0
    for _ in range(args.rounds):
        for name, make in cases.items():
            seconds, n, in_steps = timed(make(), texts, args.work / "speed-out")
            n_in = max(n_in, n)
            results[name].append(seconds)
            inside[name].append(in_steps)
    if args.rounds == 0:
        results = {}
    print(f"{n_in} documents, one worker, median of {args.rounds} rounds; wall = the whole run (read, "
          f"write, model load), steps = time inside the steps")
    med = {k: statistics.median(v) for k, v in results.items()}
    med_in = {k: statistics.median(v) for k, v in inside.items() if v}
    for name, s in med.items():
        print(f"  {name:<44} wall {s:7.2f} s ({n_in / s:7.1f} docs/s)   steps {med_in[name]:7.2f} s "
              f"({n_in / max(med_in[name], 1e-9):8.1f} docs/s/core)")
    if med:
        base, both = med["fineweb filters"], med["fineweb filters + classifier + perplexity"]
        bi, ai = med_in["fineweb filters"], med_in["fineweb filters + classifier + perplexity"]
        print(f"  the two taggers add {100 * (both - base) / base:.1f}% wall, {100 * (ai - bi) / bi:.1f}% step time "
              f"to the FineWeb filters (target < 30%; here they score every document the filters keep)")
    # quality_classifier vs datatrove's FastTextClassifierFilter: same model, same texts, time
    # inside the step only (model load excluded on both sides)
    if Path(args.anchor_python).exists():
        files = sorted(str(p) for p in Path(texts).glob("part-*.jsonl.gz"))
        res = subprocess.run([args.anchor_python, str(HERE / "anchor_datatrove_fasttext.py"), args.model, *files],
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(f"  datatrove failed: {res.stderr.strip()[-300:]}")
        else:
            anchor = json.loads(res.stdout.strip().splitlines()[-1])
            from datamill.core.stats import StepStats
            from datamill.core.step import StepContext

            step = QualityClassifier(model=args.model)
            step.ensure_setup()
            records = []
            for p in files:
                with gzip.open(p, "rt", encoding="utf-8") as fh:
                    records += [json.loads(x) for x in fh]
            t0 = time.perf_counter()
            for i in range(0, len(records), 256):
                step.run_batch(records[i:i + 256], StepStats("q", "tagger"), StepContext())
            ours = len(records) / (time.perf_counter() - t0)
            print(f"  quality_classifier {ours:.1f} docs/s vs datatrove FastTextClassifierFilter "
                  f"{anchor['docs_per_s']:.1f} docs/s on the same model and {anchor['documents']} texts: "
                  f"ratio {ours / anchor['docs_per_s']:.2f} (datamill segments words, CJK with jieba; "
                  f"datatrove only replaces newlines)")
    else:
        print(f"  datatrove's FastTextClassifierFilter not measured: no anchor environment at {args.anchor_python} "
              f"(make anchors)")
    print("load average %.1f %.1f %.1f" % os.getloadavg())
    json.dump({k: v for k, v in med.items()}, open(args.work / "speed.json", "w"))


if __name__ == "__main__":
    main()
