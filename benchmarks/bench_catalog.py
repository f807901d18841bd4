"""Catalog speed and memory on N records (default 1,000,000):

* commit of a version vs writing the same Arrow table as zstd Parquet directly (target <= 1.3x);
* read of the latest version vs reading that Parquet; time-travel read of the older version;
* ``catalog diff`` of the two versions: seconds and peak memory (target < 1 min, < 2 GB),
  run in a child process so its peak RSS is its own (VmHWM: ru_maxrss of a child counts
  the parent's memory at fork time).

Records: ids, English and Chinese texts (~300 characters), a metadata struct and a signals
struct, as a pipeline writes them. Version 1 removes 5%, changes 5% and adds 5%.

    PYTHONPATH=src python benchmarks/bench_catalog.py [--records 1000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EN = ["The council met on Tuesday to discuss the budget for the library and the parks. ",
      "Scientists found that the river water is cleaner now than it was ten years ago. ",
      "Most students finished the project before the end of the term. "]
ZH = ["市议会周二开会讨论了公共图书馆和公园的新预算。", "科学家发现这条河的水比十年前干净多了。",
      "班上大多数学生在学期结束前完成了这个项目。"]


def make_table(n: int, seed: int = 0, id_offset: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, 3, n)
    zh = rng.random(n) < 0.3
    texts = [(ZH[p] * 6 if z else EN[p] * 4) + f" #{i + id_offset}" for i, (p, z) in enumerate(zip(pick, zh))]
    ids = [f"doc-{i + id_offset}" for i in range(n)]
    meta = pa.StructArray.from_arrays([pa.array([f"https://site{i % 997}.example/{i}" for i in range(n)]),
                                       pa.array(["crawl-0001.warc.gz"] * n)], names=["url", "source"])
    signals = pa.StructArray.from_arrays(
        [pa.array(np.where(zh, "zh", "en")), pa.array(rng.uniform(0.6, 1.0, n)),
         pa.StructArray.from_arrays([pa.array(rng.integers(20, 400, n)), pa.array(rng.uniform(0, 0.3, n))],
                                    names=["word_count", "symbol_ratio"])],
        names=["language", "language_score", "gopher_quality"])
    return pa.table({"id": ids, "text": texts, "metadata": meta, "signals": signals})


def edit(table: pa.Table, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = table.num_rows
    keep = rng.random(n) >= 0.05
    t = table.filter(pa.array(keep))
    texts = t.column("text").to_pylist()
    for i in rng.choice(len(texts), size=int(0.05 * n), replace=False):
        texts[i] = texts[i] + " (edited)"
    t = t.set_column(1, "text", pa.array(texts))
    return pa.concat_tables([t, make_table(int(0.05 * n), seed=7, id_offset=10 * n)])


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=2, help="best of N for commit/write/read")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from datamill.catalog import Catalog

    print(f"load average before: {os.getloadavg()}")
    t0 = time.perf_counter()
    v0 = make_table(args.records)
    v1 = edit(v0)
    print(f"made {v0.num_rows:,} + {v1.num_rows:,} records in {time.perf_counter() - t0:.1f}s "
          f"({v0.nbytes / 1e6:.0f} MB in Arrow)")
    res: dict = {"records": args.records}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        parquet_w, commit_w = [], []
        for r in range(args.rounds):
            _, s = timed(lambda: pq.write_table(v0, os.path.join(tmp, f"direct{r}.parquet"), compression="zstd"))
            parquet_w.append(s)
            cat = Catalog(os.path.join(tmp, f"cat{r}"))
            _, s = timed(lambda: cat.commit_table("bench", v0, {"records": v0.num_rows, "bench": True}))
            commit_w.append(s)
        res["parquet_write_s"], res["commit_s"] = min(parquet_w), min(commit_w)
        cat = Catalog(os.path.join(tmp, "cat0"))
        cat.commit_table("bench", v1, {"records": v1.num_rows, "bench": True})
        reads, creads, tt = [], [], []
        for _ in range(args.rounds):
            reads.append(timed(lambda: pq.read_table(os.path.join(tmp, "direct0.parquet")))[1])
            creads.append(timed(lambda: cat.dataset("bench@1").to_table())[1])
            tt.append(timed(lambda: cat.dataset("bench@0").to_table())[1])
        res["parquet_read_s"], res["read_latest_s"], res["read_time_travel_s"] = min(reads), min(creads), min(tt)
        code = ("import sys, time, resource; sys.path.insert(0, 'src')\n"
                "from datamill.catalog import Catalog\nfrom datamill.catalog.diff import diff\n"
                f"t=time.perf_counter(); d=diff(Catalog({os.path.join(tmp, 'cat0')!r}), 'bench@0', 'bench@1')\n"
                "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
                "print(time.perf_counter()-t, hwm, d['records']['added'],"
                " d['records']['removed'], d['records']['changed'])\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1].split()
        res["diff_s"], res["diff_peak_mb"] = float(out[0]), int(out[1]) / 1024
        res["diff_added_removed_changed"] = [int(x) for x in out[2:5]]
    res["commit_vs_parquet"] = res["commit_s"] / res["parquet_write_s"]
    res["read_vs_parquet"] = res["read_latest_s"] / res["parquet_read_s"]
    res["load_average_after"] = os.getloadavg()
    print(f"write zstd Parquet directly   {res['parquet_write_s']:7.2f} s")
    print(f"catalog commit (Delta)        {res['commit_s']:7.2f} s   ratio {res['commit_vs_parquet']:.2f}x (target <= 1.3x)")
    print(f"read Parquet directly         {res['parquet_read_s']:7.2f} s")
    print(f"read latest version           {res['read_latest_s']:7.2f} s   ratio {res['read_vs_parquet']:.2f}x")
    print(f"time-travel read of version 0 {res['read_time_travel_s']:7.2f} s")
    print(f"diff v0 -> v1                 {res['diff_s']:7.2f} s, peak {res['diff_peak_mb']:.0f} MB "
          f"(added/removed/changed {res['diff_added_removed_changed']}; expected "
          f"{int(0.05 * args.records)} / ~{int(0.05 * args.records)} / ~{int(0.0475 * args.records)})")
    print(f"load average after: {res['load_average_after']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
