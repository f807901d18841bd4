"""Accuracy and cost of ``html_language_prefilter`` on the real pages of the shared data.

    PYTHONPATH=src python benchmarks/eval_prefilter.py --shared ../shared/data

The 1,255 real pages of the benchmark corpus (``datamill.corpus``: scrapinghub AEB, trafilatura
eval, the real crawl WARC records), read as the pipeline reads them. "Kept" = kept by
``extract_html`` (``--backend``) + ``language_id`` at ``--min-score`` (0.65) for the kept
language. For each ``read`` mode of the pre-filter and each kept language it prints the pages
the pre-filter drops (of those the full pipeline does not keep) and the **kept pages it loses**
(must be 0), then the CPU seconds of the cheap pass against parse + extraction + language ID.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from datamill.core.stats import ReadStats  # noqa: E402
from datamill.corpus import build_corpus  # noqa: E402
from datamill.io.formats import Shard  # noqa: E402
from datamill.io.readers import Quarantine, read_warc  # noqa: E402
from datamill.steps.extract import parsed  # noqa: E402
from datamill.steps.extract.html import ExtractHTML  # noqa: E402
from datamill.steps.extract.prefilter import HTMLLanguagePrefilter  # noqa: E402
from datamill.steps.langid.tagger import LanguageTagger  # noqa: E402

LANGUAGES = ["en", "de", "zh", "fr", "es", "ja"]


def read_pages(shared: str) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        build_corpus(shared, tmp, files=1, repeat=1, progress=False)
        stats = ReadStats()
        recs = []
        for f in sorted(Path(tmp).glob("*.warc.gz")):
            recs += list(read_warc(Shard(index=0, path=str(f), format="warc"), stats, Quarantine(stats)))
    return recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(HERE.parent.parent / "shared" / "data"))
    ap.add_argument("--backend", default="resiliparse", choices=["resiliparse", "datamill", "trafilatura"])
    ap.add_argument("--min-score", type=float, default=0.65)
    ap.add_argument("--languages", default=",".join(LANGUAGES))
    ap.add_argument("--modes", default="slices,page")
    args = ap.parse_args()

    recs = read_pages(args.shared)
    print(f"{len(recs)} real pages; full pipeline: extract_html ({args.backend}) + language_id "
          f">= {args.min_score}", flush=True)
    ex, lt = ExtractHTML(backend=args.backend), LanguageTagger()
    ex.ensure_setup()
    lt.ensure_setup()
    c0 = time.process_time()
    texts = [ex.extract(r["text"])[0].strip() for r in recs]
    t_extract = time.process_time() - c0
    c0 = time.process_time()
    ids = lt.identify(texts)
    t_lid = time.process_time() - c0

    rows, costs = [], {}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        for lang in [l.strip() for l in args.languages.split(",") if l.strip()]:
            kept = [bool(t) and l == lang and s >= args.min_score for t, (l, s) in zip(texts, ids)]
            step = HTMLLanguagePrefilter([lang], read=mode)
            step.ensure_setup()
            c0 = time.process_time()
            out = []
            for i in range(0, len(recs), 256):
                out += step.drop_reason_batch([dict(r) for r in recs[i:i + 256]])
            costs.setdefault(mode, time.process_time() - c0)
            parsed.clear()
            dropped = [v is not None for v in out]
            lost = [recs[i]["metadata"].get("url") for i, (d, k) in enumerate(zip(dropped, kept)) if d and k]
            rows.append((mode, lang, sum(kept), sum(dropped), len(recs) - sum(kept), lost))

    print("\n| read | kept language | pages kept by the full pipeline | pre-filter drops "
          "(of the pages not kept) | kept pages lost |\n|---|---|---:|---:|---:|")
    for mode, lang, k, d, notk, lost in rows:
        print(f"| {mode} | {lang} | {k} | {d} of {notk} ({d / max(1, notk):.0%}) | {len(lost)} |")
    for mode, lang, k, d, notk, lost in rows:
        for url in lost:
            print(f"  lost ({mode}, {lang}): {url}")
    n = len(recs)
    print(f"\nCPU per page: extraction ({args.backend}, parse included) {1000 * t_extract / n:.2f} ms, "
          f"language ID {1000 * t_lid / n:.2f} ms; pre-filter "
          + ", ".join(f"{m} {1000 * c / n:.2f} ms" for m, c in costs.items()))


if __name__ == "__main__":
    main()
