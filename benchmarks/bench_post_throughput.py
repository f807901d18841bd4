"""Post-training throughput in records/s on the shared files repeated to N records (default 1M).

    PYTHONPATH=src python benchmarks/bench_post_throughput.py --records 1000000 --to sharegpt,openai,trl,alpaca

The corpus: every post-training file of ``../shared/data/instruction_sft`` and
``../shared/data/preference`` in its own format (alpaca, sharegpt, openai-style KTO,
llamafactory_v1, self_instruct, hh_rlhf), its rows repeated in proportion until there are N rows,
written once as JSONL files (not timed; a 1M-row JSON array would have to be loaded whole).

Phases, one function each (``PHASES``), chosen with ``--phases``; each returns a dict with at least
``records`` and ``seconds`` and is timed on one core:

* ``read``: detect each file's format and convert every row to the internal schema.
* ``convert``: read and write to each ``--to`` format (JSONL, atomic), i.e. datamill convert;
  rows a format cannot hold are counted as ``skipped``.
* ``validate``: ``datamill validate`` on every file (read + convert + every rule, no token
  limit), i.e. :func:`datamill.post.validate.validate_file`; issues counted by code.
* ``validate_tokens``: the same with ``--max-tokens 4096``, counting tokens with datamill's
  default BPE (``tokenizers``, batches of 1,024 records; Rust threads, so not one core).

Prints a table and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))

from datamill.post.formats import ReadReport, convert, iter_rows, read_records  # noqa: E402

SKIP = ("dataset_info.json", "c4_demo.jsonl", "wiki_demo.txt", "README.md", "SOURCES.txt")


def source_files(shared: str) -> list[str]:
    out = []
    for sub in ("instruction_sft", "preference"):
        for root, _, files in os.walk(os.path.join(shared, sub)):
            for f in sorted(files):
                if f.endswith((".json", ".jsonl", ".jsonl.gz")) and f not in SKIP:
                    out.append(os.path.join(root, f))
    return sorted(out)


def build_corpus(shared: str, n_records: int, folder: str) -> list[str]:
    """The shared rows repeated to ``n_records`` rows, one JSONL file per source file."""
    sources = {path: [row for _, row in iter_rows(path)] for path in source_files(shared)}
    total = sum(len(rows) for rows in sources.values())
    files, written = [], 0
    for i, (path, rows) in enumerate(sources.items()):
        share = n_records - written if i == len(sources) - 1 else round(n_records * len(rows) / total)
        name = os.path.basename(path).split(".")[0]
        out = os.path.join(folder, f"{i:02d}-{name}.jsonl")
        encoded = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows]
        with open(out, "wb") as fh:
            for k in range(share):
                fh.write(encoded[k % len(encoded)])
        written += share
        files.append(out)
    return files


def phase_read(files: list[str], **_: Any) -> dict[str, Any]:
    report = ReadReport()
    errors: list = []
    t0 = time.perf_counter()
    n = 0
    for path in files:
        for _rec in read_records(path, errors=errors, report=report):
            n += 1
    dt = time.perf_counter() - t0
    return {"records": n, "seconds": round(dt, 2), "records_per_s": round(n / dt), "quarantined": len(errors),
            "formats": sorted(set(report.formats.values()))}


def phase_convert(files: list[str], *, targets: list[str], workdir: str, **_: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for to in targets:
        n_in = n_out = 0
        t0 = time.perf_counter()
        for i, path in enumerate(files):
            res = convert(path, os.path.join(workdir, f"out-{to}-{i:02d}.jsonl"), to=to)
            n_in += res["read"]
            n_out += res["written"]
        dt = time.perf_counter() - t0
        out[to] = {"records": n_in, "written": n_out, "skipped": n_in - n_out, "seconds": round(dt, 2),
                   "records_per_s": round(n_in / dt)}
        for f in os.listdir(workdir):
            if f.startswith(f"out-{to}-"):
                os.remove(os.path.join(workdir, f))
    return out


def phase_validate(files: list[str], *, max_tokens: int | None = None, **_: Any) -> dict[str, Any]:
    from datamill.post.validate import resolve_counter, validate_file

    counter = resolve_counter(None) if max_tokens else None  # loaded (or trained) before the clock
    n = errors = warnings = 0
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    for path in files:
        report = validate_file(path, max_tokens=max_tokens, tokenizer=counter, max_issues=0)
        n += report.records
        errors += report.errors
        warnings += report.warnings
        for code, k in report.counts.items():
            counts[code] = counts.get(code, 0) + k
    dt = time.perf_counter() - t0
    return {"records": n, "seconds": round(dt, 2), "records_per_s": round(n / dt), "errors": errors,
            "warnings": warnings, "counts": counts, "max_tokens": max_tokens}


def phase_validate_tokens(files: list[str], **kw: Any) -> dict[str, Any]:
    return phase_validate(files, max_tokens=4096)


PHASES: dict[str, Callable[..., dict[str, Any]]] = {"read": phase_read, "convert": phase_convert,
                                                    "validate": phase_validate,
                                                    "validate_tokens": phase_validate_tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.environ.get("DATAMILL_SHARED_DATA", os.path.join(REPO, "..", "shared", "data")))
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--phases", default="read,convert")
    ap.add_argument("--to", default="sharegpt,openai,trl,alpaca")
    ap.add_argument("--workdir", default=None, help="Where the corpus goes (default: a temporary folder).")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        t0 = time.perf_counter()
        files = build_corpus(args.shared, args.records, tmp)
        build_s = time.perf_counter() - t0
        results: dict[str, Any] = {"records": args.records, "files": len(files), "build_seconds": round(build_s, 1)}
        for name in args.phases.split(","):
            results[name] = PHASES[name](files, targets=args.to.split(","), workdir=tmp)
    print(f"{args.records:,} records in {len(files)} files (corpus built in {build_s:.1f}s)")
    if "read" in results:
        r = results["read"]
        print(f"  read → internal        {r['records_per_s']:>10,} records/s  ({r['records']:,} in {r['seconds']}s)")
    for to, r in (results.get("convert") or {}).items():
        print(f"  convert → {to:<14} {r['records_per_s']:>10,} records/s  ({r['written']:,} written, "
              f"{r['skipped']:,} not holdable, {r['seconds']}s)")
    for name, label in (("validate", "validate"), ("validate_tokens", "validate + tokens")):
        if name in results:
            r = results[name]
            print(f"  {label:<22} {r['records_per_s']:>10,} records/s  ({r['records']:,} in {r['seconds']}s; "
                  f"{r['errors']:,} errors, {r['warnings']:,} warnings)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
