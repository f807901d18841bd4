"""Two Ray nodes on one machine give the same output as the local executor; shuffle volume per stage.

    PYTHONPATH=src python benchmarks/bench_ray_nodes.py --docs 20000 --shards 16

Starts a Ray cluster of two nodes on 127.0.0.1 with Ray's own ``ray.cluster_utils.Cluster``
(a head and a second node: two raylets, each with its own object store and ``--cpus``
CPUs), runs exact + MinHash + paragraph dedup over a synthetic corpus with planted duplicates
on it and on the local executor, checks that both keep the same records, and prints, per stage,
the bytes that stage wrote for the next one to read (intermediate records between segments,
each global step's state files by kind): what crosses the network on a real cluster.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_corpus(folder: Path, docs: int, shards: int, seed: int = 0) -> Path:
    """English and Chinese documents; 10% exact copies and 10% near copies (a few words changed)."""
    sys.path.insert(0, str(REPO / "tests"))
    from synthetic import documents

    rng = random.Random(seed)
    base = documents(docs, seed=seed)
    rows = []
    for d in base:
        rows.append({"id": d["id"], "text": d["text"]})
        r = rng.random()
        if r < 0.1:
            rows.append({"id": d["id"] + "-copy", "text": d["text"]})
        elif r < 0.2:
            words = d["text"].split(" ")
            for _ in range(max(1, len(words) // 50)):
                words[rng.randrange(len(words))] = "changed"
            rows.append({"id": d["id"] + "-near", "text": " ".join(words)})
    rng.shuffle(rows)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with gzip.open(folder / f"shard-{s:03d}.jsonl.gz", "wt", encoding="utf-8") as fh:
            for row in rows[s::shards]:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def pipeline():
    from datamill import Pipeline
    from datamill.steps.dedup.exact import ExactDedup
    from datamill.steps.dedup.minhash import MinHashDedup
    from datamill.steps.dedup.paragraph import ParagraphDedup

    return Pipeline([ExactDedup(), MinHashDedup(), ParagraphDedup()], output_format="jsonl", compression="gz")


def kept(out: Path) -> list:
    rows = []
    for path in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    return sorted((r["id"], r["text"]) for r in rows)


_KIND = re.compile(r"-?\d{5}(-p\d+)?")


def shuffle_volume(out: Path) -> dict[str, dict[str, int]]:
    """Bytes written per stage for later stages to read: ``work/segN`` (records passed between
    segments) and ``state/globalK-step`` grouped by file kind (signatures, bands, pairs...)."""
    base = out / ".datamill"
    volume: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for folder in ("work", "state"):
        for path in (base / folder).rglob("*"):
            if path.is_file():
                stage = path.relative_to(base / folder).parts[0]
                kind = _KIND.sub("", path.name.split(".")[0]) or path.name
                volume[stage][kind] += path.stat().st_size
    return {k: dict(v) for k, v in sorted(volume.items())}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def use_private_token(folder: Path) -> None:
    """Ray >= 2.5x authenticates nodes with a token: one private token for this cluster, for both
    nodes and the driver, through the environment. Ray reads it when it is first imported, so
    this runs before anything imports ray."""
    folder.mkdir(parents=True, exist_ok=True)
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)


def start_two_nodes(cpus: int, logdir: Path) -> tuple[str, list[subprocess.Popen]]:
    """``ray start --head`` and a second ``ray start --address`` on 127.0.0.1: two raylets, each
    with ``cpus`` CPUs and its own object store. Returns the address and both processes."""
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    port = _free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    common = ["--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", "--disable-usage-stats",
              f"--object-store-memory={150 * 2**20}"]
    logdir.mkdir(parents=True, exist_ok=True)
    procs = []
    for i, args in enumerate(([f"--head", f"--port={port}", "--include-dashboard=false"],
                              [f"--address=127.0.0.1:{port}"])):
        log = logdir / f"node{i}.log"
        with open(log, "w") as fh:
            procs.append(subprocess.Popen([ray_bin, "start", *args, *common, f"--node-manager-port={_free_port()}",
                                           f"--object-manager-port={_free_port()}"],
                                          env=env, start_new_session=True, stdout=fh, stderr=subprocess.STDOUT))
        deadline = time.time() + 120
        while "Ray runtime started" not in log.read_text():
            if procs[-1].poll() is not None or time.time() > deadline:
                stop_nodes(procs)
                raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
    return f"127.0.0.1:{port}", procs


def stop_nodes(procs: list[subprocess.Popen]) -> None:
    """End every process of the sessions these nodes started (never `ray stop`, which would stop
    other Ray instances on the machine)."""
    import psutil

    sids = {p.pid for p in procs}
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 10
    while time.time() < deadline:
        alive = [q for q in psutil.process_iter() if _sid(q.pid) in sids]
        if not alive:
            break
        time.sleep(0.3)
    for q in psutil.process_iter():
        if _sid(q.pid) in sids:
            try:
                q.kill()
            except psutil.Error:
                pass


def _sid(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def run_two_nodes(inputs: Path, out: Path, cpus: int) -> tuple[dict, float, int]:
    import ray

    address, procs = start_two_nodes(cpus, out.parent / "ray-logs")
    try:
        t0 = time.perf_counter()
        stats = pipeline().run([str(inputs)], str(out), executor="ray", address=address,
                               workers=2 * cpus, overwrite=True, progress=False)
        seconds = time.perf_counter() - t0
        ray.init(address=address, _node_ip_address="127.0.0.1", logging_level="ERROR")
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        ray.shutdown()
        return stats, seconds, nodes
    finally:
        stop_nodes(procs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--cpus", type=int, default=1, help="CPUs per node")
    ap.add_argument("--workdir", default="/tmp/datamill-bench-ray-nodes")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    work = Path(args.workdir)
    use_private_token(work / "ray-logs")
    inputs = make_corpus(work / "in", args.docs, args.shards)
    t0 = time.perf_counter()
    local = pipeline().run([str(inputs)], str(work / "local"), workers=2, overwrite=True, progress=False)
    local_s = time.perf_counter() - t0
    on_ray, ray_s, nodes = run_two_nodes(inputs, work / "ray", args.cpus)
    same = kept(work / "local") == kept(work / "ray")
    print(f"records read {local['reader']['read']:,}; kept: local {local['output']['records']:,}, "
          f"two Ray nodes {on_ray['output']['records']:,}; same records: {same}")
    print(f"wall: local (2 workers) {local_s:.1f} s, Ray ({nodes} nodes alive x {args.cpus} CPU) {ray_s:.1f} s; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("\nshuffle volume per stage (bytes written for later stages to read):")
    total = 0
    for stage, kinds in shuffle_volume(work / "ray").items():
        n = sum(kinds.values())
        total += n
        detail = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
        print(f"  {stage:<28}{n / 1e6:>9.2f} MB   {detail}")
    print(f"  {'total':<28}{total / 1e6:>9.2f} MB")
    if not same:
        sys.exit("the two executors kept different records")


if __name__ == "__main__":
    main()
