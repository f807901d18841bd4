"""Agreement of ``paragraph_dedup`` with Dolma's paragraph-dedup test data, and the Bloom
filter's measured false-positive rate.

1. **Dolma's expected spans** (``../shared/data/near_duplicates/dolma_dedupe``: 10 real Common
   Crawl documents and the ``bff_duplicate_paragraph_spans`` that ``dolma dedupe`` writes for
   them). Dolma's "paragraph" is a line (split on ``"\\n"``), hashed raw, first occurrence kept,
   and its span includes the newline. We run ``paragraph_dedup(unit="line", normalize=False,
   action="tag")`` through ``datamill.Pipeline`` (one shard, then the documents cut into three
   shards with two workers) and compare spans: exact span agreement and character-level
   precision / recall. Dolma's last span can end one past the text (its end check compares a
   character offset with a byte length); spans are clipped to the text first.
   The ``dedupe-paragraph-ngrams`` expectation (6-gram overlap >= 0.5, a fuzzy variant we do
   not implement) is compared too, to show what exact line matching misses.
2. **Bloom vs exact** on real text: the scrapinghub article bodies and the LIMA / Alpaca SFT
   answers, every document twice (with a per-copy header line), in 4 shards. Units that the
   Bloom variant removes and the exact variant keeps are false positives; their rate over
   the units that were new is printed next to the configured rate.

3. **Re-wrapped copies** (issue #9): every scrapinghub article body (English) and every Alpaca
   zh answer of 200+ characters (Chinese) appears twice: as it is, and re-wrapped as mail or
   terminal text would be -- each line hard-wrapped at 60 columns (English, ``textwrap``) or
   every 30 characters (Chinese), paragraphs separated by blank lines. The share of the
   re-wrapped copies' characters removed is the recall (ideal: all of them but the few
   sentences too short to matter); characters removed from the first copies are mistakes
   (duplicates inside the corpus aside). ``unit: line`` as Dolma/CCNet, ``unit: paragraph``,
   and ``unit: line, rewrap: true``.

Run: ``PYTHONPATH=src python benchmarks/eval_paragraph_dedup.py``
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time

from datamill import Pipeline
from datamill.steps.dedup.paragraph import ParagraphDedup

SHARED = os.environ.get("DATAMILL_SHARED_DATA") or os.path.join(os.getcwd(), "..", "shared", "data")
DOLMA = os.path.join(SHARED, "near_duplicates", "dolma_dedupe")


def _write_jsonl(path: str, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def _read_out(out: str) -> dict[str, dict]:
    rows = {}
    for path in sorted(glob.glob(os.path.join(out, "part-*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                o = json.loads(line)
                rows[o["id"]] = o
    return rows


def _chars(spans) -> set[int]:
    return {i for s, e in spans for i in range(s, e)}


def dolma_agreement(work: str) -> None:
    with gzip.open(os.path.join(DOLMA, "documents-000.json.gz"), "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    texts = {d["id"]: d["text"] for d in docs}
    expected = {}
    for name in ("dedupe-paragraphs", "dedupe-paragraph-ngrams"):
        with gzip.open(os.path.join(DOLMA, f"expected-{name}.json.gz"), "rt", encoding="utf-8") as fh:
            expected[name] = {o["id"]: [(s, min(e, len(texts[o["id"]])))
                                        for s, e, *_ in o["attributes"]["bff_duplicate_paragraph_spans"]]
                              for o in map(json.loads, fh)}
    rows = [{"id": d["id"], "text": d["text"]} for d in docs]
    one = os.path.join(work, "dolma1")
    three = os.path.join(work, "dolma3")
    os.makedirs(one)
    os.makedirs(three)
    _write_jsonl(os.path.join(one, "docs.jsonl"), rows)
    for i, cut in enumerate([(0, 2), (2, 6), (6, 10)]):  # the 2 related documents in different shards
        _write_jsonl(os.path.join(three, f"docs-{i}.jsonl"), rows[cut[0]:cut[1]])
    print("1. Dolma paragraph-dedup test data (10 documents, "
          f"{sum(t.count(chr(10)) + 1 for t in texts.values())} lines)")
    print(f"   {'variant':44s} {'expected':>9s} {'spans=':>7s} {'span P':>7s} {'span R':>7s} "
          f"{'char P':>7s} {'char R':>7s}")
    configs = [
        ("exact, raw lines, 1 shard", one, 1, dict(normalize=False)),
        ("exact, raw lines, 3 shards, 2 workers", three, 2, dict(normalize=False, partitions=4)),
        ("bloom (fp 1e-3), raw lines, 3 shards", three, 2, dict(normalize=False, method="bloom",
                                                                 bloom_fp_rate=1e-3)),
        ("exact, CCNet-normalised lines, 1 shard", one, 1, dict(normalize=True)),
    ]
    for label, inp, workers, params in configs:
        out = os.path.join(work, f"out-{abs(hash(label))}")
        Pipeline([ParagraphDedup(action="tag", min_chars=0, **params)]).run([inp], out, workers=workers)
        got = {k: [tuple(x) for x in v["signals"]["paragraph_dedup"]["dup_spans"]] for k, v in _read_out(out).items()}
        for name, exp in expected.items():
            if name == "dedupe-paragraph-ngrams" and "CCNet" not in label and "1 shard" not in label:
                continue
            e_sp = {(k, s) for k, v in exp.items() for s in v}
            g_sp = {(k, s) for k, v in got.items() for s in v}
            tp = len(e_sp & g_sp)
            e_ch = {(k, c) for k, v in exp.items() for c in _chars(v)}
            g_ch = {(k, c) for k, v in got.items() for c in _chars(v)}
            tpc = len(e_ch & g_ch)
            p = tp / len(g_sp) if g_sp else 1.0
            r = tp / len(e_sp) if e_sp else 1.0
            pc = tpc / len(g_ch) if g_ch else 1.0
            rc = tpc / len(e_ch) if e_ch else 1.0
            short = "paragraphs" if name == "dedupe-paragraphs" else "para-ngrams"
            print(f"   {label:44s} {short:>9s} {tp:>3d}/{len(e_sp):<3d} {p:7.3f} {r:7.3f} {pc:7.3f} {rc:7.3f}")


def _real_docs() -> list[str]:
    docs = []
    gt = os.path.join(SHARED, "html_extraction", "scrapinghub_aeb", "ground-truth.json")
    with open(gt, encoding="utf-8") as fh:
        docs += [v["articleBody"] for v in json.load(fh).values() if v.get("articleBody")]
    lima = os.path.join(SHARED, "instruction_sft", "llamafactory_2023-08", "lima.json")
    with open(lima, encoding="utf-8") as fh:
        docs += [r["output"] for r in json.load(fh) if r.get("output")]
    alpaca = os.path.join(SHARED, "instruction_sft", "llamafactory", "alpaca_en_demo.json")
    with open(alpaca, encoding="utf-8") as fh:
        docs += [r["output"] for r in json.load(fh) if r.get("output")]
    return docs


def bloom_vs_exact(work: str) -> None:
    docs = _real_docs()
    rows = []
    for copy in range(2):
        for i, text in enumerate(docs):
            rows.append({"id": f"{copy}-{i}", "text": f"copy {copy} of document {i}\n{text}"})
    inp = os.path.join(work, "real")
    os.makedirs(inp)
    for s in range(4):
        _write_jsonl(os.path.join(inp, f"part-{s}.jsonl"), rows[s::4])
    print(f"\n2. Bloom vs exact on real text ({len(rows):,} documents = {len(docs):,} x 2, 4 shards, 2 workers)")
    results = {}
    for label, params in [("exact", dict(method="exact")),
                          ("bloom 1e-4", dict(method="bloom", bloom_fp_rate=1e-4)),
                          ("bloom 1e-2", dict(method="bloom", bloom_fp_rate=1e-2)),
                          ("bloom 0.2", dict(method="bloom", bloom_fp_rate=0.2)),
                          # sized for the number of distinct units, so the filter fills up to
                          # the stated rate by the end (sized for all units it stays emptier)
                          ("bloom 0.05/n", dict(method="bloom", bloom_fp_rate=0.05,
                                                bloom_expected_units=20_790))]:
        out = os.path.join(work, "real-" + label.replace(" ", "_"))
        t0 = time.perf_counter()
        stats = Pipeline([ParagraphDedup(action="tag", min_chars=0, **params)]).run([inp], out, workers=2)
        secs = time.perf_counter() - t0
        got = {k: {tuple(x) for x in v["signals"]["paragraph_dedup"]["dup_spans"]} for k, v in _read_out(out).items()}
        results[label] = (got, stats["globals"]["paragraph_dedup"], secs)
    exact, g, _ = results["exact"]
    new_units = g["units"] - g["duplicate_units"]
    print(f"   units {g['units']:,}, duplicates (exact) {g['duplicate_units']:,}, "
          f"chars in duplicates {g['duplicate_chars']:,}")
    print(f"   {'variant':12s} {'removed':>8s} {'missed':>7s} {'false pos':>9s} {'FP rate':>9s} {'stated':>8s} "
          f"{'filter bits':>11s} {'time':>6s}")
    for label, (got, glob_stats, secs) in results.items():
        fp = sum(len(got[k] - exact[k]) for k in exact)
        missed = sum(len(exact[k] - got[k]) for k in exact)
        removed = sum(len(v) for v in got.values())
        stated = glob_stats.get("bloom_fp_rate", 0.0)
        bits = glob_stats.get("bloom_bits", 0)
        print(f"   {label:12s} {removed:8,d} {missed:7,d} {fp:9,d} {fp / max(new_units, 1):9.2e} "
              f"{stated:8.0e} {bits:11,d} {secs:5.1f}s")


def _wrap(text: str, zh: bool) -> str:
    paras = [p for p in text.split("\n") if p.strip()]
    if zh:
        return "\n\n".join("\n".join(p[i:i + 30] for i in range(0, len(p), 30)) for p in paras)
    return "\n\n".join(textwrap.fill(p, 60) for p in paras)


def rewrapped(work: str) -> None:
    gt = os.path.join(SHARED, "html_extraction", "scrapinghub_aeb", "ground-truth.json")
    with open(gt, encoding="utf-8") as fh:
        en = [v["articleBody"] for v in json.load(fh).values() if v.get("articleBody")]
    with open(os.path.join(SHARED, "instruction_sft", "llamafactory", "alpaca_zh_demo.json"), encoding="utf-8") as fh:
        zh = [r["output"] for r in json.load(fh) if len(r.get("output") or "") >= 200]
    print(f"\n3. Re-wrapped copies: {len(en)} English articles, {len(zh)} Chinese answers, each twice "
          "(as is, then hard-wrapped)")
    print(f"   {'configuration':28s} {'en copy removed':>16s} {'en first lost':>14s} {'zh copy removed':>16s} "
          f"{'zh first lost':>14s}")
    for label, params in [("line (Dolma/CCNet)", dict(unit="line")),
                          ("paragraph", dict(unit="paragraph")),
                          ("line, rewrap: true", dict(unit="line", rewrap=True))]:
        cells = []
        for lang, docs in (("en", en), ("zh", zh)):
            rows = [{"id": f"a{i}", "text": t} for i, t in enumerate(docs)]
            rows += [{"id": f"b{i}", "text": _wrap(t, lang == "zh")} for i, t in enumerate(docs)]
            inp = os.path.join(work, f"wrap-{lang}-{params['unit']}-{params.get('rewrap', False)}")
            os.makedirs(inp)
            _write_jsonl(os.path.join(inp, "part-0.jsonl"), rows[: len(docs)])
            _write_jsonl(os.path.join(inp, "part-1.jsonl"), rows[len(docs):])
            out = inp + "-out"
            Pipeline([ParagraphDedup(action="tag", min_chars=0, **params)]).run([inp], out)
            got = _read_out(out)
            by = {"a": [0, 0], "b": [0, 0]}
            for rid, r in got.items():
                removed = sum(e - s for s, e in r["signals"]["paragraph_dedup"]["dup_spans"])
                by[rid[0]][0] += removed
                by[rid[0]][1] += len(r["text"])
            cells += [by["b"][0] / by["b"][1], by["a"][0] / by["a"][1]]
        print(f"   {label:28s} {cells[0]:>16.1%} {cells[1]:>14.2%} {cells[2]:>16.1%} {cells[3]:>14.2%}")


def main() -> int:
    if not os.path.isdir(DOLMA):
        print(f"shared data not found at {SHARED} (set DATAMILL_SHARED_DATA)", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="eval-paragraph-")
    try:
        dolma_agreement(work)
        bloom_vs_exact(work)
        rewrapped(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
