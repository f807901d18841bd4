"""What computing and keeping every signal costs, end to end, against an older commit.

    git worktree add --detach ../signals-base <old commit>
    PYTHONPATH=src python benchmarks/bench_signals_cost.py --base ../signals-base --rounds 3

Runs ``datamill run`` with FineWeb's filter steps (``recipes/fineweb-filters.yaml``'s list:
language_id, gopher_repetition, gopher_quality, c4_quality, fineweb_quality, pii_redact) over
the same texts, one worker, alternating the variants round by round:

* ``base``: the old commit's code (its rule sets stop at the first failing rule and keep
  nothing);
* ``base+store``: the old commit with ``store_signals: true`` on each rule set (its opt-in);
* ``signals``: this checkout, defaults (every statistic computed and kept);
* ``signals-off``: this checkout with ``keep_signals: false`` (computed, then removed).

The input is the benchmark corpus of bench_fineweb_speed.py (1,255 real pages of the shared
data) extracted once with resiliparse into JSONL. ``--mode end_to_end`` reads the WARC files
instead and adds ``extract_html`` (resiliparse backend) in front. docs/s = records in / wall
seconds of the whole command; CPU s = user + system time of the command (steadier than wall
time on a busy machine); the per-step seconds come from each run's stats.json. The median of
the rounds is printed with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

STEPS = ["language_id: {languages: [en], min_score: 0.65}", "gopher_repetition: {%s}",
         "gopher_quality: {%s}", "c4_quality: {filter_no_terminal_punct: false%s}",
         "fineweb_quality: {%s}", "pii_redact: {}"]


def recipe(path: Path, flag: str, end_to_end: bool) -> Path:
    lines = ["name: bench-signals", "steps:"]
    if end_to_end:
        lines.append("  - extract_html: {backend: resiliparse}")
    for step in STEPS:
        if "%s" in step:
            sep = ", " if "false%s" in step else ""
            step = step % ((sep + flag) if flag else "")
        lines.append(f"  - {step}")
    lines.append("output: {format: jsonl, compression: none}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(src: Path, rec: Path, inp: Path, out: Path) -> dict:
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, "-m", "datamill", "run", str(rec), "--input", str(inp), "--output", str(out),
           "--workers", "1"]
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - t0
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    steps = {s["step"]: s["seconds"] for s in stats["steps"]}
    size = sum(f.stat().st_size for f in out.glob("part-*"))
    return {"wall": wall, "cpu": cpu, "steps": steps, "out": stats["output"]["records"], "bytes": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="checkout of the older commit (a git worktree)")
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--workdir", default="/tmp/datamill-bench-signals")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mode", choices=["filters_only", "end_to_end"], default="filters_only")
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    corpus, texts = work / "corpus", work / "texts"
    if not corpus.exists():
        from datamill.corpus import build_corpus

        build_corpus(args.shared, corpus, files=2, repeat=1)
    if not texts.exists():
        from bench_fineweb_speed import extract_texts

        extract_texts(corpus, texts, 2)
    e2e = args.mode == "end_to_end"
    inp = corpus if e2e else texts
    if e2e:
        n_in = 1255
    else:
        n_in = sum(1 for f in texts.glob("*.jsonl") for _ in open(f, encoding="utf-8"))
    base_src, new_src = Path(args.base).resolve() / "src", REPO / "src"
    variants = {
        "base": (base_src, recipe(work / "base.yaml", "", e2e)),
        "base+store": (base_src, recipe(work / "base_store.yaml", "store_signals: true", e2e)),
        "signals": (new_src, recipe(work / "signals.yaml", "", e2e)),
        "signals-off": (new_src, recipe(work / "signals_off.yaml", "keep_signals: false", e2e)),
    }
    results: dict[str, list[dict]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name, (src, rec) in variants.items():
            results[name].append(run(src, rec, inp, work / f"out-{name}"))
            print(f"round {r + 1} {name}: {results[name][-1]['wall']:.2f} s", flush=True)
    load = os.getloadavg()
    print(f"\n{args.mode}: {n_in} records, 1 worker, {args.rounds} rounds (median); "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")
    base_wall = statistics.median(x["wall"] for x in results["base"])
    rule_steps = ["gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality", "pii_redact"]
    base_rules = statistics.median(sum(x["steps"].get(s, 0) for s in rule_steps) for x in results["base"])
    base_cpu = statistics.median(x["cpu"] for x in results["base"])
    print(f"{'variant':<13}{'wall s':>8}{'docs/s':>8}{'x base':>9}{'CPU s':>8}{'x base':>9}"
          f"{'rule steps s':>14}{'x base':>9}{'out':>6}{'output MB':>11}")
    print("(x base: seconds relative to base; below 1 is faster)")
    for name, runs in results.items():
        wall = statistics.median(x["wall"] for x in runs)
        cpu = statistics.median(x["cpu"] for x in runs)
        rules = statistics.median(sum(x["steps"].get(s, 0) for s in rule_steps) for x in runs)
        print(f"{name:<13}{wall:>8.2f}{n_in / wall:>8.1f}{wall / base_wall:>8.2f}x{cpu:>8.2f}"
              f"{cpu / base_cpu:>8.2f}x{rules:>14.2f}{rules / base_rules:>8.2f}x{runs[0]['out']:>6}"
              f"{runs[0]['bytes'] / 1e6:>11.2f}")
    print("per step (median s):")
    for step in ["language_id"] + rule_steps:
        row = "  ".join(f"{name} {statistics.median(x['steps'].get(step, 0) for x in runs):.2f}"
                        for name, runs in results.items())
        print(f"  {step:<18}{row}")


if __name__ == "__main__":
    main()
