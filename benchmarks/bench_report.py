"""Report time and peak memory: on a run's output (e.g. `make demo`'s build/demo/out), and on a
synthetic 1M-record output (English and Chinese text, metadata and signals structs, as in
bench_catalog.py). Each report runs in a child process; peak memory is its VmHWM.

    PYTHONPATH=src python benchmarks/bench_report.py [--output build/demo/out] [--records 1000000] [--embeddings]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = """
import sys, time; sys.path.insert(0, 'src')
from datamill.report.build import build_report
t = time.perf_counter()
r = build_report({src!r}, {html!r}, embeddings={emb}, compare={cmp!r})
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(time.perf_counter() - t, int(hwm) // 1024, r['records'], r['figures'], r['sampled'])
"""


def run(src: str, html: str, emb: bool, cmp: str | None = None) -> tuple[float, int, int, int, str]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(src=src, html=html, emb=emb, cmp=cmp)],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1].split()
    return float(out[0]), int(out[1]), int(out[2]), int(out[3]), out[4]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default=None, help="a run's output folder")
    ap.add_argument("--compare", default=None, help="another output, for the drift section")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--embeddings", action="store_true")
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.output:
            s, mb, n, figs, _ = run(args.output, f"{tmp}/demo.html", args.embeddings, args.compare)
            print(f"report on {args.output}: {n:,} records, {figs} figures: {s:.1f} s, peak {mb} MB "
                  f"(embeddings {'on' if args.embeddings else 'off'}{', with --compare' if args.compare else ''})")
        if args.records:
            sys.path.insert(0, os.path.dirname(__file__))
            import pyarrow.parquet as pq
            from bench_catalog import make_table

            os.makedirs(f"{tmp}/big", exist_ok=True)
            pq.write_table(make_table(args.records), f"{tmp}/big/part-00000.parquet", compression="zstd",
                           row_group_size=100_000)
            s, mb, n, figs, sampled = run(f"{tmp}/big", f"{tmp}/big.html", args.embeddings)
            print(f"report on {n:,} records ({'sampled 200,000' if sampled == 'True' else 'all'} for record "
                  f"sections), {figs} figures: {s:.1f} s, peak {mb} MB")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
