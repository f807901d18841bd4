"""LLM client overhead: datamill's client vs a bare loop of raw HTTP calls vs distilabel's
OpenAILLM, against the same local llama.cpp server, the same N prompts, one run.

    PYTHONPATH=src python benchmarks/bench_llm_client.py --n 32 --max-tokens 16 \
        [--anchor-python .venv-anchors-llm/bin/python] [--base-url URL]

Without --base-url the script starts `datamill.llm.serve.LocalServer` (SmolLM2-135M-Instruct).
Every side sends the same chat requests (temperature 0, same seed, same max_tokens) at
concurrency 1, 4 and 16; datamill's reply cache is off so every request reaches the server.
Printed per concurrency: requests/s, completion tokens/s, and datamill / raw (target >= 0.95),
and the client-side CPU time per request of each side (``time.process_time`` of this process:
the overhead itself, independent of how fast the loaded server answers).
The bare loop is ``http.client`` on a thread pool: JSON body in, JSON out, nothing else.
distilabel (installed in its own venv, ``--anchor-python``) runs ``OpenAILLM.generate`` on the
same N prompts (its own async client); its time ratio and output count are printed.
The llama.cpp server computes one request at a time, so higher concurrency mostly measures the
clients' queueing; the point is the overhead ratio, not absolute speed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from datamill.llm.client import LLMClient, reply_text  # noqa: E402
from datamill.llm.config import LLMConfig  # noqa: E402
from datamill.llm.serve import DEFAULT_ALIAS, LocalServer  # noqa: E402

ANCHOR = r'''
import json, sys, time
from distilabel.models.llms import OpenAILLM
base_url, model, n_conc, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prompts = json.load(sys.stdin)
llm = OpenAILLM(model=model, base_url=base_url, api_key="none", max_retries=0)
llm.load()
t0 = time.perf_counter()
out = []
for i in range(0, len(prompts), n_conc):   # distilabel sends one batch concurrently
    chunk = [[{"role": "user", "content": p}] for p in prompts[i:i + n_conc]]
    res = llm.generate(inputs=chunk, num_generations=1, max_new_tokens=max_tokens, temperature=0.0)
    out += [r["generations"][0] for r in res]
print(json.dumps({"seconds": time.perf_counter() - t0, "outputs": sum(1 for o in out if o)}))
'''


CPU = {"raw": 0.0, "datamill": 0.0}


def prompts(n: int) -> list[str]:
    topics = ["rivers", "bread", "stars", "chess", "tea", "bridges", "music", "bees"]
    return [f"In one sentence, tell me a fact about {topics[i % len(topics)]} (#{i})." for i in range(n)]


def body(prompt: str, max_tokens: int) -> dict:
    return {"model": DEFAULT_ALIAS, "messages": [{"role": "user", "content": prompt}], "temperature": 0.0,
            "max_tokens": max_tokens, "seed": 0}


def run_raw(base_url: str, ps: list[str], conc: int, max_tokens: int) -> tuple[float, int]:
    u = urlparse(base_url)
    import threading

    local = threading.local()

    def one(p):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        conn.request("POST", u.path + "/chat/completions", json.dumps(body(p, max_tokens)),
                     {"Content-Type": "application/json"})
        reply = json.loads(conn.getresponse().read())
        return reply["usage"]["completion_tokens"]

    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(conc) as pool:
        toks = sum(pool.map(one, ps))
    CPU["raw"] += time.process_time() - c0
    return time.perf_counter() - t0, toks


def run_datamill(base_url: str, ps: list[str], conc: int, max_tokens: int) -> tuple[float, int]:
    cfg = LLMConfig.from_dict({"base_url": base_url, "model": DEFAULT_ALIAS, "max_concurrency": conc,
                               "cache": False, "temperature": 0.0, "max_tokens": max_tokens})
    with LLMClient(cfg) as c:
        t0, c0 = time.perf_counter(), time.process_time()
        out = c.map(lambda p: c.chat([{"role": "user", "content": p}]), ps)
        dt = time.perf_counter() - t0
        CPU["datamill"] += time.process_time() - c0
        assert all(isinstance(o, dict) and reply_text(o) is not None for o in out), out[:1]
        return dt, c.usage["completion_tokens"]


def run_anchor(python: str, base_url: str, ps: list[str], conc: int, max_tokens: int) -> dict | None:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(ANCHOR)
    r = subprocess.run([python, fh.name, base_url, DEFAULT_ALIAS, str(conc), str(max_tokens)],
                       input=json.dumps(ps), capture_output=True, text=True, timeout=1800)
    os.unlink(fh.name)
    if r.returncode != 0:
        print(f"  distilabel failed: {r.stderr.strip().splitlines()[-1:] }")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--anchor-python", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    server = None
    base = args.base_url
    if base is None:
        server = LocalServer(threads=args.threads)
        base = server.start()
    ps = prompts(args.n)
    try:
        run_raw(base, ps[:2], 1, args.max_tokens)  # warm-up
        print(f"load average before: {os.getloadavg()[0]:.2f}; N={args.n}, max_tokens={args.max_tokens}, server {base}")
        print(f"{'conc':>4} {'raw req/s':>9} {'dm req/s':>9} {'dm/raw':>7} {'raw tok/s':>9} {'dm tok/s':>9}"
              f" {'distilabel s':>12} {'dl/dm time':>10} {'dl outputs':>10} {'cpu ms/req raw':>14} {'dm':>6}")
        for conc in [int(c) for c in args.concurrency.split(",")]:
            CPU.update(raw=0.0, datamill=0.0)
            # alternate to spread the machine's noise over both sides
            raw_t, raw_tok = run_raw(base, ps, conc, args.max_tokens)
            dm_t, dm_tok = run_datamill(base, ps, conc, args.max_tokens)
            raw_t2, _ = run_raw(base, ps, conc, args.max_tokens)
            dm_t2, _ = run_datamill(base, ps, conc, args.max_tokens)
            raw_t, dm_t = min(raw_t, raw_t2), min(dm_t, dm_t2)
            anchor = run_anchor(args.anchor_python, base, ps, conc, args.max_tokens) if args.anchor_python else None
            a_s = f"{anchor['seconds']:.2f}" if anchor else "-"
            a_r = f"{anchor['seconds'] / dm_t:.2f}" if anchor else "-"
            a_n = f"{anchor['outputs']}/{args.n}" if anchor else "-"
            print(f"{conc:>4} {args.n / raw_t:>9.2f} {args.n / dm_t:>9.2f} {raw_t / dm_t:>7.3f} "
                  f"{raw_tok / raw_t:>9.1f} {dm_tok / dm_t:>9.1f} {a_s:>12} {a_r:>10} {a_n:>10} "
                  f"{CPU['raw'] * 1000 / (2 * args.n):>14.2f} {CPU['datamill'] * 1000 / (2 * args.n):>6.2f}", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
