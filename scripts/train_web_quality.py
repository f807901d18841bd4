"""Train the default web-quality classifier the GPT-3 way, from the shared data.

    python scripts/train_web_quality.py --shared ../shared/data --output build/models/web-quality.ftz

Positives (curated text): the gold article bodies of ``html_extraction/scrapinghub_aeb``, the
LIMA answers and the OpenAssistant Chinese answers. Negatives (raw Common Crawl): the text that
``extract_html`` (resiliparse, no boilerplate cleaning) takes out of the Common Crawl WARC
excerpts of ``warc/`` and the WET excerpt, plus the raw visible text (boilerplate and all) of the
real pages of ``html_extraction/trafilatura_eval``. Everything is written under ``--work`` as JSONL
and output folders, then ``datamill classifier train`` runs on them (its held-out metrics are
printed, and the card beside the model names every source with its sha256).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def write_positives(shared: Path, path: Path) -> int:
    rows = []
    gold = json.load(open(shared / "html_extraction/scrapinghub_aeb/ground-truth.json", encoding="utf-8"))
    rows += [v.get("articleBody", "") for v in gold.values()]
    for name in ("lima.json", "oaast_sft_zh.json"):
        data = json.load(open(shared / "instruction_sft/llamafactory_2023-08" / name, encoding="utf-8"))
        rows += [r.get("output", "") for r in data]
    rows = [r.strip() for r in rows if r and len(r.strip()) >= 200]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(rows):
            fh.write(json.dumps({"id": f"pos-{i}", "text": text}, ensure_ascii=False) + "\n")
    return len(rows)


def extract_negatives(shared: Path, out: Path) -> None:
    """Raw Common Crawl text: resiliparse's text of every HTML page of the CC WARC excerpts."""
    from datamill import Pipeline
    from datamill.steps.extract.html import ExtractHTML

    warcs = [str(p) for p in sorted((shared / "warc").glob("*.warc.gz"))]
    warcs.append(str(shared / "warc/cc_whirlwind/whirlwind.warc.wet.gz"))
    Pipeline([ExtractHTML(backend="resiliparse", min_text_chars=200)]).run(warcs, str(out / "cc"), overwrite=True)


def raw_page_text(shared: Path, path: Path) -> int:
    """Raw web text, GPT-3's "unfiltered crawl" side: every visible line of the real pages of
    ``html_extraction/trafilatura_eval`` (menus, footers and all: resiliparse without main-content
    detection)."""
    import gzip

    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for page in sorted((shared / "html_extraction/trafilatura_eval/html").rglob("*.html.gz")):
            raw = gzip.open(page).read()
            text = extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=False)
            if len(text.strip()) >= 200:
                fh.write(json.dumps({"id": page.name, "text": text}, ensure_ascii=False) + "\n")
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", required=True, type=Path)
    ap.add_argument("--output", default="build/models/web-quality.ftz")
    ap.add_argument("--work", default="build/web-quality-data", type=Path)
    args = ap.parse_args()
    pos = args.work / "positives.jsonl"
    n = write_positives(args.shared, pos)
    print(f"positives: {n} curated texts -> {pos}")
    neg = args.work / "negatives"
    extract_negatives(args.shared, neg)
    m = raw_page_text(args.shared, neg / "raw-pages.jsonl")
    print(f"negatives: raw Common Crawl text -> {neg}/cc, {m} raw web pages -> {neg}/raw-pages.jsonl")
    cmd = [sys.executable, "-m", "datamill", "classifier", "train", "--positive", str(pos),
           "--negative", str(neg / "cc"), "--negative", str(neg / "raw-pages.jsonl"), "--output", args.output]
    print("$", " ".join(cmd), flush=True)
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
