"""Partial copies: recall per copy type and false positives of ``minhash_dedup``, Jaccard
against containment, in English and Chinese.

    PYTHONPATH=src python benchmarks/eval_partial_copies.py [--sources 40]

The short-answer plagiarism corpus issue #9 was measured on (answers copied wholly or partly
from a source text: "cut", "light", "heavy", "non") is not in ``../shared/data``. This script
builds the same design from real text that is there: **sources** are real news articles (the
scrapinghub article bodies with 450+ words, English) and "articles" of 12 consecutive lingua
sentences (Chinese, ~500 characters). For each source, four "answers" of about 40 % of its
length, written the way the corpus's participants were asked to (seeded, reproducible):

* ``verbatim`` — a contiguous excerpt, with 30 words of the answerer's own before it;
* ``light``    — the excerpt with one word in ten replaced and one in twenty deleted, two
                 sentences swapped;
* ``heavy``    — one word in four replaced, sentences shuffled, and as much of the answerer's own
                 text as copied text;
* ``non``      — the answerer's own text only (another article), never a copy.

The answerers' own words come from articles that are not sources, a different article for each
answer, so a false positive is a real mistake. A copy is *found* when the
step puts it in one cluster with its source; *false positives* are ``non`` answers clustered
with anything and clusters joining two different sources. Every configuration runs through
``datamill.Pipeline`` (the real global step, two shards).

Configurations: Jaccard at FineWeb's 0.8 (the default), Jaccard 0.5, containment 0.8, 0.5 and
0.3 (``similarity: containment``, ``keep: longest``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import datamill  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "src"))

from datamill import Pipeline  # noqa: E402
from datamill.steps.dedup.minhash import MinHashDedup  # noqa: E402

TYPES = ("verbatim", "light", "heavy", "non")
_SENT = re.compile(r"(?<=[.!?。！？])\s*")


def shared_dir() -> Path:
    env = os.environ.get("DATAMILL_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def english_articles(shared: Path) -> list[str]:
    truth = json.loads((shared / "html_extraction" / "scrapinghub_aeb" / "ground-truth.json").read_text())
    return [v["articleBody"] for _, v in sorted(truth.items()) if len((v["articleBody"] or "").split()) >= 450]


def chinese_articles(shared: Path) -> list[str]:
    lines = [l.strip() for l in (shared / "langid" / "lingua" / "sentences" / "zh.txt").read_text("utf-8").splitlines()
             if l.strip()]
    return ["".join(lines[i:i + 12]) for i in range(0, len(lines) - 11, 12)]


def _units(text: str, zh: bool) -> list[str]:
    return list(text) if zh else text.split()


def _join(units: list[str], zh: bool) -> str:
    return "".join(units) if zh else " ".join(units)


def _sentences(text: str) -> list[str]:
    return [s for s in _SENT.split(text) if s.strip()]


def make_answers(source: str, owns: list[str], vocab: list[str], zh: bool, rng: random.Random) -> dict[str, str]:
    u = _units(source, zh)
    k = max(20, int(len(u) * 0.4))
    start = rng.randrange(0, max(1, len(u) - k))
    excerpt = _join(u[start:start + k], zh)
    own_v, own_h, own_n = (_units(o, zh) for o in owns)  # three different answerers

    def edit(text: str, replace: float, delete: float) -> str:
        out = []
        for w in _units(text, zh):
            r = rng.random()
            if r < delete:
                continue
            out.append(rng.choice(vocab) if r < delete + replace else w)
        return _join(out, zh)

    def swap(text: str, n_swaps: int) -> str:
        s = _sentences(text)
        for _ in range(n_swaps):
            if len(s) > 2:
                i, j = rng.sample(range(len(s)), 2)
                s[i], s[j] = s[j], s[i]
        return ("" if zh else " ").join(s)

    heavy_copy = edit(swap(excerpt, 6), 0.25, 0.05)
    return {
        "verbatim": _join(own_v[:30 if not zh else 40], zh) + ("" if zh else " ") + excerpt,
        "light": swap(edit(excerpt, 0.10, 0.05), 1),
        "heavy": _join(own_h[:len(_units(heavy_copy, zh))], zh) + ("" if zh else " ") + heavy_copy,
        "non": _join(own_n[:k + 30], zh),
    }


def build(articles: list[str], n_sources: int, zh: bool, seed: int) -> list[dict]:
    rng = random.Random(seed)
    sources, others = articles[:n_sources], articles[n_sources:]
    vocab = sorted({w for a in others for w in _units(a, zh) if (zh or w.isalpha())})
    rows = []
    for i, src in enumerate(sources):
        rows.append({"id": f"src{i}", "text": src, "kind": "source", "source": i})
        owns = [others[(3 * i + j) % len(others)] for j in range(3)]
        for kind, text in make_answers(src, owns, vocab, zh, rng).items():
            rows.append({"id": f"{kind}{i}", "text": text, "kind": kind, "source": i})
    for r in rows:
        r["metadata"] = {"language": "zh" if zh else "en"}
    return rows


def exact_sets(text: str, zh: bool, n: int = 5) -> set:
    u = _units(re.sub(r"\s+", " ", text.lower()), zh)
    return {tuple(u[i:i + n]) for i in range(max(1, len(u) - n + 1))}


def run(rows: list[dict], params: dict, work: Path) -> tuple[dict, float]:
    inp = work / "in"
    if not inp.exists():
        inp.mkdir(parents=True)
        for s in range(2):
            with open(inp / f"part-{s}.jsonl", "w", encoding="utf-8") as fh:
                for r in rows[s::2]:
                    fh.write(json.dumps({"id": r["id"], "text": r["text"], "metadata": r["metadata"]},
                                        ensure_ascii=False) + "\n")
    out = work / ("out-" + "-".join(f"{k}{v}" for k, v in params.items()))
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    Pipeline([MinHashDedup(**params)]).run(
        [str(inp)], str(out), keep_dropped=True)
    dt = time.perf_counter() - t0
    cluster = {}
    for path in list(out.glob("part-*.jsonl.gz")) + list((out / "dropped").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                c = ((r.get("signals") or {}).get("minhash_dedup") or {}).get("cluster")
                if c is not None:
                    cluster[r["id"]] = c
    return cluster, dt


def score(rows: list[dict], cluster: dict) -> dict:
    by_id = {r["id"]: r for r in rows}
    found = {t: 0 for t in TYPES[:3]}
    total = {t: 0 for t in TYPES[:3]}
    for r in rows:
        if r["kind"] in found:
            total[r["kind"]] += 1
            src = f"src{r['source']}"
            if r["id"] in cluster and cluster.get(src) == cluster[r["id"]]:
                found[r["kind"]] += 1
    non_fp = sum(1 for r in rows if r["kind"] == "non" and r["id"] in cluster)
    members: dict[int, set] = {}
    for rid, c in cluster.items():
        members.setdefault(c, set()).add(by_id[rid]["source"] if by_id[rid]["kind"] != "non" else ("non", rid))
    cross = sum(1 for m in members.values() if len(m) > 1)
    n_non = sum(1 for r in rows if r["kind"] == "non")
    return {"recall": {t: found[t] / total[t] for t in found}, "found": found, "total": total,
            "non_flagged": non_fp, "non_total": n_non, "clusters_mixing_sources": cross}


CONFIGS = [
    ("jaccard 0.8 (default)", {"threshold": 0.8}),
    ("jaccard 0.5", {"threshold": 0.5}),
    ("containment 0.8", {"threshold": 0.8, "similarity": "containment", "keep": "longest"}),
    ("containment 0.5", {"threshold": 0.5, "similarity": "containment", "keep": "longest"}),
    ("containment 0.3", {"threshold": 0.3, "similarity": "containment", "keep": "longest"}),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sources", type=int, default=40,
                    help="sources per language, at most a quarter of the articles (default 40)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    shared = shared_dir()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang, articles in (("en", english_articles(shared)), ("zh", chinese_articles(shared))):
            n = min(args.sources, len(articles) // 4)  # 3 answerers' own texts per source, none reused
            rows = build(articles, n, lang == "zh", seed=7)
            zh = lang == "zh"
            sims = {t: [] for t in TYPES}
            for r in rows:
                if r["kind"] in sims:
                    a, b = exact_sets(r["text"], zh), exact_sets(rows[5 * r["source"]]["text"], zh)
                    sims[r["kind"]].append((len(a & b) / len(a | b), len(a & b) / min(len(a), len(b))))
            print(f"=== {lang}: {n} sources, {len(rows) - n} answers "
                  f"({'character' if zh else 'word'} 5-gram shingles) ===")
            print("exact similarity to the source, mean (Jaccard / containment of the smaller): "
                  + "; ".join(f"{t} {sum(j for j, _ in v) / len(v):.2f} / {sum(c for _, c in v) / len(v):.2f}"
                              for t, v in sims.items()))
            print(f"{'configuration':<24}{'verbatim':>10}{'light':>8}{'heavy':>8}{'non flagged':>13}"
                  f"{'mixed clusters':>16}{'seconds':>9}")
            for name, params in CONFIGS:
                cluster, dt = run(rows, params, Path(tmp) / lang)
                s = score(rows, cluster)
                rec = s["recall"]
                print(f"{name:<24}{rec['verbatim']:>10.0%}{rec['light']:>8.0%}{rec['heavy']:>8.0%}"
                      f"{s['non_flagged']:>8}/{s['non_total']:<4}{s['clusters_mixing_sources']:>16}{dt:>9.1f}")
                results[f"{lang}/{name}"] = {**s, "seconds": dt}
            print()
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
