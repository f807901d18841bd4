"""Accuracy of the model-based quality signals, measured on the shared data (figures for
docs/quality-models.md).

    PYTHONPATH=src python benchmarks/eval_quality_models.py --shared ../shared/data \
        --model build/models/web-quality.ftz [--work build/eval-quality]

1. Default web-quality classifier: held-out AUC/F1 from its card (train it first with
   scripts/train_web_quality.py).
2. Its top 10% vs the FineWeb rules on the demo corpus (``datamill.corpus`` pages, extracted
   with extract_html): overlap, and 20 examples each side written to WORK/top10_vs_rules.md.
3. Perplexity: a 5-gram KenLM model per language (en, de, zh) trained on the Leipzig sentences
   of langid/lingua less 200 held out; on the held-out sentences, the fraction scoring lower than
   the same words shuffled (target >= 0.95); Spearman of perplexity vs the classifier score on the
   demo corpus.
4. Toxicity per source (Davidson en: 80/20 split; COLD zh: train -> dev): P/R/F1 of the word
   lists alone, alt-profanity-check (English), and a fastText classifier trained with
   ``datamill classifier train``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import time
from pathlib import Path

import numpy as np

from datamill.models.metrics import binary_metrics


def loadavg() -> str:
    return "load average %.1f %.1f %.1f" % os.getloadavg()


def prf(y, pred):
    m = binary_metrics(y, [float(p) for p in pred])
    return f"P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}  acc {m['accuracy']:.3f}" + \
        (f"  AUC {m['auc']:.3f}" if m["auc"] is not None else "")


def read_rows(out: Path) -> list[dict]:
    rows = []
    for p in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            rows += [json.loads(x) for x in fh]
    return rows


def demo_texts(shared: Path, work: Path) -> Path:
    """The demo corpus (the shared data's real pages as WARC) extracted to text, once."""
    from datamill import Pipeline
    from datamill.corpus import build_corpus
    from datamill.steps.extract.html import ExtractHTML
    from datamill.steps.langid.fasttext_lid import LanguageID

    out = work / "demo-text"
    if (out / "stats.json").exists():
        return out
    build_corpus(shared, work / "demo-warc", files=4, progress=False)
    Pipeline([ExtractHTML(), LanguageID()]).run([str(work / "demo-warc")], str(out), overwrite=True, workers=2)
    return out


def section_classifier(args, work: Path) -> dict:
    from datamill import Pipeline
    from datamill.core.recipe import load_recipe
    from datamill.steps.quality.classifier import QualityClassifier

    card = json.load(open(args.model + ".card.json"))
    held = card["metrics"]["heldout"]
    print(f"\n[1] default web-quality model ({card['training']['rows']} texts, classes "
          f"{card['training']['class_counts']}): held-out AUC {held['auc']:.3f}  F1 {held['f1']:.3f}  "
          f"P {held['precision']:.3f}  R {held['recall']:.3f}  (n={held['n']})")
    texts = demo_texts(args.shared, work)
    scored = work / "demo-scored"
    Pipeline([QualityClassifier(model=args.model)]).run([str(texts)], str(scored), overwrite=True, workers=2)
    rows = read_rows(scored)
    rules = work / "demo-rules"
    recipe = load_recipe(str(Path(__file__).resolve().parents[1] / "recipes/fineweb-filters.yaml"))
    Pipeline(recipe.steps).run([str(texts)], str(rules), overwrite=True, workers=2, keep_dropped=True)
    kept = {r["id"] for r in read_rows(rules)}
    reasons = {}
    for p in (rules / "dropped").glob("*.jsonl.gz"):
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            for x in map(json.loads, fh):
                reasons[x["id"]] = f"{x.get('dropped_by')}: {x.get('drop_reason')}"
    scores = {r["id"]: r["signals"]["quality_classifier"]["quality_score"] for r in rows
              if "quality_classifier" in r["signals"]}
    order = sorted(scores, key=lambda k: -scores[k])
    top = order[: max(1, len(order) // 10)]
    overlap = sum(1 for k in top if k in kept) / len(top)
    rule_rate = len(kept & set(scores)) / len(scores)
    print(f"[2] demo corpus: {len(scores)} documents; rules keep {rule_rate:.1%}; of the classifier's "
          f"top 10% ({len(top)}), the rules keep {overlap:.1%}")
    by_id = {r["id"]: r for r in rows}
    lines = ["# Classifier top 10% vs FineWeb rules (demo corpus)\n",
             f"Top 10% kept by the rules: {overlap:.1%} (rules keep {rule_rate:.1%} overall).\n",
             "## In the classifier's top 10%, dropped by the rules\n"]
    side_a = [k for k in top if k not in kept][:20]
    for k in side_a:
        lines.append(f"### {k} score {scores[k]:.3f} — {reasons.get(k, 'dropped')}\n\n"
                     f"{by_id[k]['text'][:600]!s}\n")
    lines.append("\n## Kept by the rules, outside the classifier's top 10% (lowest scores first)\n")
    top_set = set(top)
    side_b = [k for k in order[::-1] if k in kept and k not in top_set][:20]
    for k in side_b:
        lines.append(f"### {k} score {scores[k]:.3f}\n\n{by_id[k]['text'][:600]!s}\n")
    (work / "top10_vs_rules.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"    examples: {len(side_a)} + {len(side_b)} written to {work / 'top10_vs_rules.md'}")
    return scores


def section_perplexity(args, work: Path, scores: dict) -> None:
    from scipy.stats import spearmanr

    from datamill.models.ccnet_norm import lm_tokens
    from datamill.models.kenlm_train import PerplexityModel, perplexity_of_lines, train_lm
    from datamill.steps.quality.language_rules import record_language

    print("\n[3] perplexity, held-out sentences vs the same words shuffled (5-gram KenLM per language)")
    rng = random.Random(0)
    models = {}
    for lang in ("en", "de", "zh"):
        lines = [x.strip() for x in open(args.shared / "langid/lingua/sentences" / f"{lang}.txt", encoding="utf-8")
                 if x.strip()]
        train, held = lines[:-200], lines[-200:]
        src = work / f"lm-{lang}.txt"
        src.write_text("\n".join(train) + "\n", encoding="utf-8")
        t0 = time.perf_counter()
        train_lm([str(src)], str(work / f"lm-{lang}.bin"), order=5, language=lang)
        m = PerplexityModel(str(work / f"lm-{lang}.bin")).load()
        models[lang] = m
        wins = n = 0
        for s in held:
            toks = lm_tokens(s, lang).split()
            shuf = toks[:]
            rng.shuffle(shuf)
            if len(toks) < 4 or shuf == toks:
                continue
            wins += perplexity_of_lines(m._model, [" ".join(toks)]) < perplexity_of_lines(m._model, [" ".join(shuf)])
            n += 1
        print(f"    {lang}: {wins}/{n} = {wins / n:.3f} original < shuffled  (trained on {len(train)} "
              f"sentences in {time.perf_counter() - t0:.1f}s)")
    texts = {r["id"]: r for r in read_rows(work / "demo-scored")}
    pp, sc = [], []
    for k, s in scores.items():
        r = texts[k]
        if record_language(r, None) == "en":
            p = models["en"].perplexity(r["text"], "en")
            if p:
                pp.append(p)
                sc.append(s)
    print(f"    Spearman(perplexity, classifier score) on {len(pp)} English demo documents: "
          f"{spearmanr(pp, sc).statistic:.3f}")


def section_toxicity(args, work: Path) -> None:
    from profanity_check import predict_prob

    from datamill.models.classifier import evaluate, train_classifier
    from datamill.models.labelled import LabelledTexts
    from datamill.steps.quality.badword_counts import load_list

    print("\n[4] toxicity, P/R/F1 of 'offensive' (positive class) per source")
    lists = str(args.shared / "badwords/ldnoobw")
    dav = list(csv.DictReader(open(args.shared / "toxicity/davidson_hate_offensive/labeled_data.csv", encoding="utf-8")))
    random.Random(0).shuffle(dav)
    cut = int(len(dav) * 0.8)
    d_train, d_test = dav[:cut], dav[cut:]
    y = [int(r["class"] != "2") for r in d_test]
    texts = [r["tweet"] for r in d_test]
    en = load_list(lists, "en")
    print(f"  Davidson (en, {len(d_test)} held-out tweets, {sum(y)} offensive):")
    print(f"    word list (LDNOOBW en, >=1 match):   {prf(y, [en.count(t)[0] > 0 for t in texts])}")
    print(f"    alt-profanity-check:                 {prf(y, predict_prob(texts))}")
    t0 = time.perf_counter()
    m, _ = train_classifier(LabelledTexts([r["tweet"] for r in d_train], [int(r["class"] != "2") for r in d_train],
                                          "binary"), str(work / "tox-en.ftz"), valid_fraction=0.0)
    print(f"    datamill classifier (fastText):      {prf(y, m.predict(texts))}  "
          f"(trained in {time.perf_counter() - t0:.1f}s)")
    tr = list(csv.DictReader(open(args.shared / "toxicity/cold_zh/train.csv", encoding="utf-8-sig")))
    dev = list(csv.DictReader(open(args.shared / "toxicity/cold_zh/dev.csv", encoding="utf-8-sig")))
    y = [int(r["label"]) for r in dev]
    texts = [r["TEXT"] for r in dev]
    zh = load_list(lists, "zh")
    print(f"  COLD (zh, dev split {len(dev)}, {sum(y)} offensive):")
    print(f"    word list (LDNOOBW zh, >=1 match):   {prf(y, [zh.count(t)[0] > 0 for t in texts])}")
    t0 = time.perf_counter()
    m, _ = train_classifier(LabelledTexts([r["TEXT"] for r in tr], [int(r["label"]) for r in tr], "binary"),
                            str(work / "tox-zh.ftz"), valid_fraction=0.0)
    met = evaluate(m, texts, y)
    print(f"    datamill classifier (fastText):      {prf(y, m.predict(texts))}  "
          f"(trained in {time.perf_counter() - t0:.1f}s; COLD's fine-tuned BERT: accuracy ~0.81)")
    assert met["n"] == len(dev)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", required=True, type=Path)
    ap.add_argument("--model", default="build/models/web-quality.ftz")
    ap.add_argument("--work", default="build/eval-quality", type=Path)
    ap.add_argument("--only", default="1234", help="which sections to run (digits)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(loadavg())
    scores = section_classifier(args, args.work) if ("1" in args.only or "2" in args.only or "3" in args.only) else {}
    if "3" in args.only:
        section_perplexity(args, args.work, scores)
    if "4" in args.only:
        section_toxicity(args, args.work)
    print("\n" + loadavg())


if __name__ == "__main__":
    main()
