"""Local executor vs Ray executor: the same pipeline, the same input, the same number of workers.

    PYTHONPATH=src python benchmarks/bench_executors.py --workers 2 [--files 8 --repeat 2] [--rounds 1]

Two pipelines run on the benchmark corpus (``datamill.corpus.build_corpus``: the 1,255 real
pages of the shared data, ``--repeat`` times, as ``--files`` WARC.gz files):

* ``fineweb``: ``recipes/fineweb.yaml`` (URL filter, HTML extraction, language ID, Gopher/C4/
  FineWeb rules, exact dedup, PII): few stages, CPU-bound tasks.
* ``dedup``: ``extract_html`` followed by every dedup/decontamination global step in the
  registry (exact, MinHash, paragraph, decontaminate when present): many short stages, so the
  per-task scheduling cost shows.

For each, it prints the wall time of the local executor, and of the Ray executor split into
Ray's start-up (``ray.init`` of a private instance with ``--workers`` CPUs), the run on the
started instance, and the shutdown. Outputs of both executors are compared record for record.
Each measurement runs into a fresh output folder; ``--rounds R`` reports medians.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
if (REPO.parent / "shared" / "data" / "benchmarks").is_dir():  # decontaminate's default, from any folder
    os.environ.setdefault("DATAMILL_BENCHMARKS_DIR", str(REPO.parent / "shared" / "data" / "benchmarks"))


def pipelines():
    from datamill import Pipeline
    from datamill.core.recipe import load_steps_registry
    from datamill.core.step import REGISTRY

    load_steps_registry()
    fineweb = Pipeline.from_recipe(str(REPO / "recipes" / "fineweb.yaml"))
    dedup_steps = [REGISTRY["extract_html"]()]
    for name in ("exact_dedup", "minhash_dedup", "paragraph_dedup", "decontaminate"):
        if name in REGISTRY:
            dedup_steps.append(REGISTRY[name]())
    dedup = Pipeline(dedup_steps, name="dedup", output_format="jsonl", compression="gz")
    return {"fineweb": fineweb, "dedup": dedup}


def read_records(out: Path) -> list[str]:
    lines = []
    for path in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            lines.extend(fh.read().splitlines())
    return lines


def run_local(pipe, corpus: str, out: Path, workers: int) -> float:
    t0 = time.perf_counter()
    pipe.run([corpus], str(out), workers=workers, executor="local", overwrite=True)
    return time.perf_counter() - t0


def run_ray(pipe, corpus: str, out: Path, workers: int) -> dict:
    import ray

    from datamill.exec.ray_executor import RayExecutor

    ex = RayExecutor(workers=workers, progress=False)
    t0 = time.perf_counter()
    ex.connect()  # starts the private instance exactly as `--executor ray` does
    t1 = time.perf_counter()
    # Pipeline.run finds Ray initialised and reuses it (and leaves it running)
    stats = pipe.run([corpus], str(out), workers=workers, executor="ray", overwrite=True)
    t2 = time.perf_counter()
    ray.shutdown()
    t3 = time.perf_counter()
    return {"startup": t1 - t0, "run": t2 - t1, "shutdown": t3 - t2, "total": t3 - t0,
            "records": stats["output"]["records"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", type=int, default=8, help="WARC files (= shards = tasks per stage)")
    ap.add_argument("--repeat", type=int, default=2, help="write the 1,255 pages this many times")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", choices=["fineweb", "dedup"], default=None)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    from datamill.corpus import build_corpus, default_shared_dir
    import ray

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-exec-"))
    corpus = work / "corpus"
    if not corpus.exists():
        build_corpus(default_shared_dir(), str(corpus), files=args.files, repeat=args.repeat, progress=False)
    print(f"datamill executors: {args.files} WARC files, {1255 * args.repeat:,} pages, {args.workers} workers, "
          f"ray {ray.__version__}, {os.cpu_count()} CPUs, {args.rounds} round(s)")
    results = {}
    for name, pipe in pipelines().items():
        if args.only and name != args.only:
            continue
        n_stages = len(pipe.plan([str(corpus)], str(work / "plan")).stages())
        local_t, ray_t = [], []
        for _ in range(args.rounds):
            local_t.append(run_local(pipe, str(corpus), work / f"{name}-local", args.workers))
            ray_t.append(run_ray(pipe, str(corpus), work / f"{name}-ray", args.workers))
        same = read_records(work / f"{name}-local") == read_records(work / f"{name}-ray")
        med = {k: statistics.median(r[k] for r in ray_t) for k in ("startup", "run", "shutdown", "total")}
        local = statistics.median(local_t)
        results[name] = {"stages": n_stages, "local_s": round(local, 2),
                         **{f"ray_{k}_s": round(v, 2) for k, v in med.items()},
                         "ray_run_over_local": round(med["run"] / local, 2),
                         "records": ray_t[-1]["records"], "same_output": same}
        print(f"\n{name}: {n_stages} stages x {args.files} shards, {ray_t[-1]['records']:,} records kept, "
              f"same output: {'yes' if same else 'NO'}")
        print(f"  local executor            {local:7.2f} s")
        print(f"  ray executor  start-up    {med['startup']:7.2f} s")
        print(f"                run         {med['run']:7.2f} s   ({med['run'] / local:.2f}x local)")
        print(f"                shutdown    {med['shutdown']:7.2f} s")
        print(f"                total       {med['total']:7.2f} s   ({med['total'] / local:.2f}x local)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
