"""Compare datamill's rule-based quality filters with datatrove's (the reference implementation).

For each filter pair (gopher_quality/GopherQualityFilter, gopher_repetition/
GopherRepetitionFilter, c4_quality/C4QualityFilter, c4_badwords/C4BadWordsFilter,
fineweb_quality/FineWebQualityFilter) it runs both on the same real texts and prints:
agreement of keep/drop decisions, precision and recall of datamill's drops against datatrove's,
the most frequent disagreements by (datatrove reason, datamill reason), for c4_quality how often
the rewritten text is identical, and documents per second of each filter alone (text in,
decision out; no reading or writing) with the speed ratio.

Texts: trafilatura extractions (favour precision) of the 1,171 real pages under
``html_extraction/``, the CCNet documents under ``warc/dolma_ccnet_text``, LLaMA-Factory's C4
demo documents, and LIMA / Alpaca answers (instruction data), all run as English like
datatrove's defaults; with ``--cjk``, Chinese (OpenAssistant zh answers, Leipzig sentences) and
Japanese (Leipzig sentences) documents run with ``language`` zh / ja on both sides.

datatrove runs in its own virtual environment, called through ``--anchor-python``::

    python -m venv .venv-anchors
    .venv-anchors/bin/pip install 'datatrove[processing,io]' spacy lxml_html_clean aiohttp \\
        jieba sudachipy sudachidict_core     # the last three only for --cjk
    python benchmarks/eval_quality_rules.py --anchor-python .venv-anchors/bin/python --cjk

It runs offline: datatrove's bad-words lists are placed in its asset cache from the LDNOOBW
files datamill ships (the same commit for every language but English, where datatrove pins an
older commit).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

FILTERS = ["gopher_quality", "gopher_repetition", "c4_quality", "c4_badwords", "fineweb_quality"]

# ---------------------------------------------------------------------------------------------
# the anchor side: this source is written to a file and run by --anchor-python

ANCHOR_WORKER = r'''
import json, os, sys, time, shutil
corpus_path, out_path, badwords_dir = sys.argv[1:4]
from huggingface_hub import cached_assets_path
from fsspec.core import strip_protocol
from datatrove.data import Document
from datatrove.pipeline.filters import (GopherQualityFilter, GopherRepetitionFilter,
                                        C4QualityFilter, C4BadWordsFilter, FineWebQualityFilter)
import datatrove.pipeline.filters.c4_filters as c4f

# offline: put the LDNOOBW lists where datatrove's downloader looks for them
cache = cached_assets_path(library_name="datatrove", namespace="filters", subfolder="c4_badwords")
for lang in c4f._BADWORDS_LANGS:
    url = c4f._BADWORDS_URL + lang if lang != "en" else c4f._EN_BADWORDS_URL
    dst = os.path.join(cache, strip_protocol(url).replace("/", "_"))
    src = os.path.join(badwords_dir, lang)
    if os.path.exists(src) and not os.path.exists(dst + ".completed"):
        shutil.copy(src, dst)
        open(dst + ".completed", "w").close()

docs = [json.loads(l) for l in open(corpus_path, encoding="utf-8")]
langs = sorted({d["lang"] for d in docs})

def make(name, lang):
    if name == "gopher_quality":
        return GopherQualityFilter(language=lang)
    if name == "gopher_repetition":
        return GopherRepetitionFilter(language=lang)
    if name == "c4_quality":
        return C4QualityFilter(language=lang)
    if name == "c4_badwords":
        return C4BadWordsFilter(default_language=lang, fail_on_missing_language=False)
    if name == "fineweb_quality":
        return FineWebQualityFilter(language=lang)

out = {}
for name in json.loads(sys.argv[4]):
    filters = {lang: make(name, lang) for lang in langs}
    for lang, f in filters.items():  # warm up tokenizers and lists outside the timing
        f.filter(Document(text="Warm up. " * 60, id="w", metadata={"language": lang}))
    decisions, texts, times = [], [], []
    t0 = time.perf_counter()
    for d in docs:
        doc = Document(text=d["text"], id=d["id"], metadata={"language": d["lang"]})
        t1 = time.perf_counter()
        r = filters[d["lang"]].filter(doc)
        times.append(time.perf_counter() - t1)
        if isinstance(r, tuple):
            decisions.append(r[1] if not r[0] else None)
        else:
            decisions.append(None if r else name)
        texts.append(doc.text if name == "c4_quality" else None)
    out[name] = {"seconds": time.perf_counter() - t0, "decisions": decisions, "texts": texts,
                 "times": times}
json.dump(out, open(out_path, "w", encoding="utf-8"))
'''


# ---------------------------------------------------------------------------------------------
# corpus

def _trafilatura_texts(shared: Path, cache: Path) -> list[dict]:
    if cache.exists():
        return [json.loads(l) for l in cache.open(encoding="utf-8")]
    import trafilatura

    paths = sorted(glob.glob(str(shared / "html_extraction/scrapinghub_aeb/html/*.html.gz")))
    paths += sorted(glob.glob(str(shared / "html_extraction/trafilatura_eval/html/**/*.html.gz"),
                              recursive=True))
    out = []
    for p in paths:
        with gzip.open(p, "rb") as f:
            html = f.read()
        text = trafilatura.extract(html, favor_precision=True)
        if text and text.strip():
            out.append({"id": "html:" + Path(p).name, "text": text, "set": "html", "lang": "en"})
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("w", encoding="utf-8") as f:
        for d in out:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return out


def build_corpus(shared: Path, cache: Path, cjk: bool, max_docs: int | None) -> list[dict]:
    docs = _trafilatura_texts(shared, cache)
    for p in sorted(glob.glob(str(shared / "warc/dolma_ccnet_text/*.jsonl.gz"))):
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                docs.append({"id": f"ccnet:{Path(p).name}:{i}", "text": json.loads(line)["text"],
                             "set": "ccnet", "lang": "en"})
    c4 = shared / "instruction_sft/llamafactory/c4_demo.jsonl"
    if c4.exists():
        for i, line in enumerate(c4.open(encoding="utf-8")):
            docs.append({"id": f"c4demo:{i}", "text": json.loads(line)["text"], "set": "c4_demo",
                         "lang": "en"})
    for name, rel in (("lima", "instruction_sft/llamafactory_2023-08/lima.json"),
                      ("alpaca", "instruction_sft/llamafactory/alpaca_en_demo.json")):
        p = shared / rel
        if p.exists():
            for i, row in enumerate(json.load(p.open(encoding="utf-8"))):
                if row.get("output"):
                    docs.append({"id": f"{name}:{i}", "text": row["output"], "set": "instruct",
                                 "lang": "en"})
    if cjk:
        p = shared / "instruction_sft/llamafactory_2023-08/oaast_sft_zh.json"
        for i, row in enumerate(json.load(p.open(encoding="utf-8"))):
            if row.get("output"):
                docs.append({"id": f"oaast_zh:{i}", "text": row["output"], "set": "zh",
                             "lang": "zh"})
        for lang in ("zh", "ja"):
            sents = (shared / f"langid/lingua/sentences/{lang}.txt").read_text("utf-8").splitlines()
            rnd = random.Random(0)
            for i in range(100):
                k = rnd.randint(3, 25)
                docs.append({"id": f"leipzig_{lang}:{i}", "text": "\n".join(rnd.sample(sents, k)),
                             "set": lang, "lang": lang})
    docs = [d for d in docs if d["text"] and d["text"].strip()]
    if max_docs:
        docs = docs[:max_docs]
    return docs


# ---------------------------------------------------------------------------------------------
# datamill side

def run_datamill(docs: list[dict], names: list[str]) -> dict:
    from datamill.core.step import REGISTRY
    import datamill.steps.quality.c4  # noqa: F401 - registers the steps
    import datamill.steps.quality.fineweb  # noqa: F401
    import datamill.steps.quality.gopher  # noqa: F401
    from datamill.text import words as words_mod

    out = {}
    for name in names:
        step = REGISTRY[name]()
        step.ensure_setup()
        for lang in {d["lang"] for d in docs}:  # warm up segmenters, as on the other side
            words_mod.warm_up(lang)
            step.keep({"id": "w", "text": "Warm up. " * 60, "signals": {"language": lang}})
        words_mod._cached_words.cache_clear()
        records = [{"id": d["id"], "text": d["text"], "signals": {"language": d["lang"]}}
                   for d in docs]
        decisions, times = [], []
        t0 = time.perf_counter()
        for r in records:
            t1 = time.perf_counter()
            decisions.append(step.keep(r))
            times.append(time.perf_counter() - t1)
        seconds = time.perf_counter() - t0
        out[name] = {"seconds": seconds, "decisions": decisions, "times": times,
                     "texts": [r["text"] for r in records] if name == "c4_quality" else None}
    return out


# ---------------------------------------------------------------------------------------------
# report

def _prf(dm: list, dt: list) -> dict:
    tp = sum(1 for a, b in zip(dm, dt) if a and b)
    fp = sum(1 for a, b in zip(dm, dt) if a and not b)
    fn = sum(1 for a, b in zip(dm, dt) if not a and b)
    n = len(dm)
    agree = sum(1 for a, b in zip(dm, dt) if bool(a) == bool(b)) / n if n else 0.0
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    return {"n": n, "agreement": agree, "precision": prec, "recall": rec,
            "dm_drops": tp + fp, "dt_drops": tp + fn}


def report(docs, dm, dt, names, show: int) -> dict:
    summary = {}
    groups = {"en": [i for i, d in enumerate(docs) if d["lang"] == "en"],
              "zh": [i for i, d in enumerate(docs) if d["lang"] == "zh"],
              "ja": [i for i, d in enumerate(docs) if d["lang"] == "ja"]}
    print(f"\n{'filter':18} {'lang':4} {'n':>5} {'agree':>7} {'prec':>6} {'recall':>6} "
          f"{'dm drop':>7} {'dt drop':>7} {'dm doc/s':>9} {'dt doc/s':>9} {'speed×':>6}")
    for name in names:
        a, b = dm[name], dt[name]
        for lang, idx in groups.items():
            if not idx:
                continue
            m = _prf([a["decisions"][i] for i in idx], [b["decisions"][i] for i in idx])
            # documents per second of the filter call alone, over this language's documents
            dm_rate = len(idx) / max(sum(a["times"][i] for i in idx), 1e-9)
            dt_rate = len(idx) / max(sum(b["times"][i] for i in idx), 1e-9)
            speed = f"{dm_rate:9.0f} {dt_rate:9.0f} {dm_rate / dt_rate:6.2f}"
            print(f"{name:18} {lang:4} {m['n']:5d} {m['agreement']:7.3f} {m['precision']:6.3f} "
                  f"{m['recall']:6.3f} {m['dm_drops']:7d} {m['dt_drops']:7d} {speed}")
            summary[f"{name}/{lang}"] = {**m, "dm_docs_per_s": dm_rate, "dt_docs_per_s": dt_rate}
    for name in names:
        a, b = dm[name], dt[name]
        pairs = Counter((b["decisions"][i], a["decisions"][i]) for i in range(len(docs))
                        if bool(a["decisions"][i]) != bool(b["decisions"][i]))
        if pairs:
            print(f"\n{name}: disagreements (datatrove reason -> datamill reason): "
                  + ", ".join(f"{k[0]}->{k[1]}: {v}" for k, v in pairs.most_common(8)))
        if name == "c4_quality":
            both = [i for i in range(len(docs)) if not a["decisions"][i] and not b["decisions"][i]]
            same = sum(1 for i in both if a["texts"][i] == b["texts"][i])
            print(f"c4_quality: rewritten text identical for {same}/{len(both)} documents both keep")
            summary["c4_quality/text_identical"] = same / len(both) if both else 1.0
        shown = 0
        for i in range(len(docs)):
            if shown >= show:
                break
            if bool(a["decisions"][i]) != bool(b["decisions"][i]):
                shown += 1
                snippet = docs[i]["text"][:160].replace("\n", " | ")
                print(f"  {docs[i]['id'][:40]:40} dt={b['decisions'][i]} dm={a['decisions'][i]}: "
                      f"{snippet}")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--anchor-python", default=os.environ.get("DATAMILL_ANCHOR_PYTHON",
                                                              str(REPO / ".venv-anchors/bin/python")))
    ap.add_argument("--shared-data", default=os.environ.get("DATAMILL_SHARED_DATA",
                                                            str(REPO.parent / "shared/data")))
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "datamill-eval-quality-texts.jsonl"),
                    help="where the trafilatura extractions are cached")
    ap.add_argument("--filters", default=",".join(FILTERS))
    ap.add_argument("--cjk", action="store_true", help="add Chinese and Japanese documents "
                    "(the anchor venv needs jieba, sudachipy, sudachidict_core)")
    ap.add_argument("--max-docs", type=int, default=None)
    ap.add_argument("--show", type=int, default=3, help="disagreeing documents to print per filter")
    ap.add_argument("--json", default=None, help="also write the summary here")
    args = ap.parse_args(argv)

    names = [n for n in args.filters.split(",") if n]
    shared = Path(args.shared_data)
    docs = build_corpus(shared, Path(args.cache), args.cjk, args.max_docs)
    by_set = Counter(d["set"] for d in docs)
    print(f"{len(docs)} documents: " + ", ".join(f"{k} {v}" for k, v in by_set.items()))

    badwords = shared / "badwords" / "ldnoobw"
    os.environ["DATAMILL_BADWORDS_DIR"] = str(badwords)  # both sides read the same lists
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        with corpus.open("w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        worker = Path(tmp) / "anchor_worker.py"
        worker.write_text(ANCHOR_WORKER, encoding="utf-8")
        out = Path(tmp) / "anchor.json"
        t0 = time.perf_counter()
        proc = subprocess.run([args.anchor_python, str(worker), str(corpus), str(out),
                               str(badwords), json.dumps(names)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            return 1
        dt = json.loads(out.read_text(encoding="utf-8"))
        print(f"datatrove ran in {time.perf_counter() - t0:.1f} s (with imports)")
    dm = run_datamill(docs, names)
    summary = report(docs, dm, dt, names, args.show)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
