"""Resume figure: kill a recipe that makes ~500 LLM calls at about half way, run it again, and
count the calls the second run makes (target: only the missing ones).

    PYTHONPATH=src python benchmarks/bench_llm_resume.py --prompts 250 --n 2

Starts the local llama.cpp server (SmolLM2-135M-Instruct) and a counting HTTP proxy in front of
it (tests/llm_server.py), writes ``--prompts`` prompts and a one-step recipe (``generate`` with
``n`` answers of ``--max-tokens`` tokens each: prompts x n calls), runs ``datamill run`` as a
subprocess, kills its process group with SIGKILL once half the calls went through, then runs the
same command again to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from datamill.llm.serve import LocalServer  # noqa: E402
from llm_server import CountingProxy  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=250)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=8)
    args = ap.parse_args()
    total = args.prompts * args.n
    work = Path(tempfile.mkdtemp(prefix="bench-llm-resume-"))
    (work / "prompts.jsonl").write_text("".join(
        json.dumps({"instruction": f"Give one word that rhymes with item number {i}.", "output": "x"}) + "\n"
        for i in range(args.prompts)))
    (work / "recipe.yaml").write_text(
        "name: resume-bench\ninput: {records: auto}\n"
        f"llm: {{max_tokens: {args.max_tokens}, max_concurrency: 4, temperature: 0.7}}\n"
        f"steps:\n  - generate: {{n: {args.n}}}\noutput: {{format: jsonl, compression: none}}\n")
    with LocalServer(threads=2) as server:
        proxy = CountingProxy(server.base_url)
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DATAMILL_LLM_BASE_URL": proxy.base_url,
               "DATAMILL_LLM_CACHE": str(work / "cache")}
        cmd = [sys.executable, "-m", "datamill", "run", str(work / "recipe.yaml"), "-i", str(work / "prompts.jsonl"),
               "-o", str(work / "out"), "-q"]
        print(f"load average: {os.getloadavg()[0]:.2f}; {total} calls planned")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        while proxy.calls() < total // 2 and proc.poll() is None:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        first = proxy.calls()
        t1 = time.perf_counter()
        print(f"first run killed after {first} calls ({t1 - t0:.1f}s)")
        rc = subprocess.run(cmd, env=env).returncode
        second = proxy.calls() - first
        t2 = time.perf_counter()
        stats = json.loads((work / "out" / "stats.json").read_text())
        gen = stats["steps"][0]["counters"]["llm"]
        print(f"second run: rc={rc}, {second} calls ({t2 - t1:.1f}s); cache hits {gen.get('cache_hits', 0)}")
        print(f"calls in total: {first + second} for {total} distinct requests "
              f"(repeated: {first + second - total}); records out: {stats['output']['records']}")
        print(f"load average: {os.getloadavg()[0]:.2f}")
        proxy.close()


if __name__ == "__main__":
    main()
