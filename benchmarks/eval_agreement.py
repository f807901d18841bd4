"""Agreement, aggregation and weak supervision: datamill's figures beside crowd-kit's.

    python benchmarks/eval_agreement.py [--tasks 1000] [--per-language 1000] [--json out.json]

Part 1 — agreement and aggregation. crowd-kit's datasets (``crowdkit.datasets``) download from
the network, so the fixture is the deterministic simulated crowd of
``tests/annotate/crowd_fixture.py`` (eight annotators of known accuracy, 3–5 per task, a nominal,
an ordinal and an interval question; documented there). Printed side by side:

* Krippendorff's alpha (nominal, ordinal, interval) — ours vs ``crowdkit.metrics.data.
  alpha_krippendorff`` given the matching distance (our ordinal distance is built from the data,
  as Krippendorff defines it);
* Fleiss' kappa — ours vs NLTK's multi-pi (what crowd-kit's alpha runs on) on the tasks' first
  three raters (Fleiss needs equal rater counts there); Cohen's kappa vs scikit-learn;
* task uncertainty — entropy of our majority-vote distribution vs ``crowdkit.metrics.data.
  uncertainty``;
* majority vote and Dawid-Skene — label agreement with crowd-kit's ``MajorityVote`` on untied
  tasks (crowd-kit breaks ties by pandas' column order) and ``DawidSkene`` (ours calls it), and
  both accuracies on
  the simulated truth, plus gold accuracy per annotator against the simulated accuracies;
* the published examples: Fleiss (1971) 0.430, Krippendorff (2011) 0.743/0.815/0.849/0.797.

Part 2 — weak supervision on real data: the lingua test sentences (Leipzig corpora) in seven
Latin-script languages (en, de, fr, es, it, pt, nl), gold = the file's language. The labeling
functions look at function words, diacritics and suffixes (no language-ID model); the script
prints the LF analysis, then majority vote vs the label model (and crowd-kit's Dawid-Skene with
LFs as workers) on the gold labels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests" / "annotate"))

from crowd_fixture import ACCURACY, ANNOTATORS, question, simulate_crowd  # noqa: E402

from datamill.annotate import agreement as ag  # noqa: E402
from datamill.annotate import aggregate as agg  # noqa: E402
from datamill.annotate import weak  # noqa: E402
from datamill.annotate.weak import ABSTAIN, labeling_function  # noqa: E402

LANGS = ["en", "de", "fr", "es", "it", "pt", "nl"]


def shared_data() -> Path:
    env = os.environ.get("DATAMILL_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


# ----------------------------------------------------------------------------- part 1


def part_agreement(n_tasks: int) -> dict:
    import numpy as np
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, MajorityVote
    from crowdkit.metrics.data import alpha_krippendorff, uncertainty
    from nltk.metrics.agreement import AnnotationTask
    from sklearn.metrics import cohen_kappa_score

    rows, truth = simulate_crowd(n_tasks, seed=7)
    out: dict = {"n_tasks": n_tasks, "n_rows": len(rows)}
    print(f"== Part 1: simulated crowd, {n_tasks} tasks, {len(ANNOTATORS)} annotators, "
          f"{len(rows)} answers ==\n")
    print(f"{'figure':<44} {'datamill':>10} {'reference':>10} {'|diff|':>9}")
    compare = []

    def line(name, ours, ref):
        diff = abs(ours - ref)
        compare.append({"figure": name, "datamill": ours, "reference": ref, "abs_diff": diff})
        print(f"{name:<44} {ours:>10.6f} {ref:>10.6f} {diff:>9.1e}")

    for q, level in (("topic", "nominal"), ("quality", "ordinal"), ("score", "interval")):
        triples = question(rows, q)
        frame = pd.DataFrame(triples, columns=["task", "worker", "label"])
        t0 = time.perf_counter()
        ours = ag.krippendorff_alpha(triples, level)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        if level == "nominal":
            ref = alpha_krippendorff(frame)
        else:
            ref = alpha_krippendorff(frame, ag.krippendorff_distance(triples, level))
        t_ref = time.perf_counter() - t0
        line(f"alpha {level} ({q}) vs crowd-kit", ours, ref)
        out[f"alpha_{level}_seconds"] = {"datamill": t_ours, "crowdkit": t_ref}

    # Fleiss on the first three raters of every task (equal counts) vs NLTK multi-pi
    topic = question(rows, "topic")
    first3: dict = {}
    for t, a, v in topic:
        first3.setdefault(t, [])
        if len(first3[t]) < 3:
            first3[t].append(v)
    slot_rows = [(t, f"slot{i}", v) for t, vs in first3.items() for i, v in enumerate(vs)]
    line("Fleiss kappa (3 raters/task) vs NLTK multi-pi",
         ag.fleiss_kappa(slot_rows, format="answers"),
         AnnotationTask([(a, t, v) for t, a, v in slot_rows]).pi())
    # Cohen: a1 vs a2 on shared tasks, unweighted and quadratic (ordinal) vs scikit-learn
    by = {}
    for t, a, v in topic:
        by.setdefault(a, {})[t] = v
    shared = sorted(set(by["a1"]) & set(by["a2"]))
    line("Cohen kappa a1-a2 (topic) vs scikit-learn",
         ag.cohen_kappa([by["a1"][t] for t in shared], [by["a2"][t] for t in shared]),
         cohen_kappa_score([by["a1"][t] for t in shared], [by["a2"][t] for t in shared]))
    qual = {}
    for t, a, v in question(rows, "quality"):
        qual.setdefault(a, {})[t] = v
    shared = sorted(set(qual["a1"]) & set(qual["a3"]))
    x, y = [qual["a1"][t] for t in shared], [qual["a3"][t] for t in shared]
    line("Cohen kappa a1-a3 quadratic (quality) vs sklearn",
         ag.cohen_kappa(x, y, "quadratic", labels=[1, 2, 3, 4, 5]),
         cohen_kappa_score(x, y, weights="quadratic", labels=[1, 2, 3, 4, 5]))

    frame = pd.DataFrame(topic, columns=["task", "worker", "label"])
    mv = agg.majority_vote(topic)
    ent = [-sum(p * math.log(p) for p in r["distribution"].values() if p > 0) for r in mv.values()]
    line("mean task uncertainty vs crowd-kit", float(np.mean(ent)), uncertainty(frame))

    # aggregation
    ck_mv = MajorityVote().fit_predict(frame)
    ck_ds = DawidSkene(n_iter=100).fit_predict(frame)
    ds = agg.dawid_skene(topic)
    gold = {t: truth[(t, "topic")] for t in mv}
    untied = [t for t in mv if not mv[t]["tie"]]
    same_mv = float(np.mean([mv[t]["label"] == ck_mv[t] for t in untied]))
    same_ds = float(np.mean([ds["tasks"][t]["label"] == ck_ds[t] for t in mv]))
    acc = lambda pred: float(np.mean([pred[t] == gold[t] for t in gold]))  # noqa: E731
    out["aggregation"] = {
        "majority_vote_same_as_crowdkit_untied": same_mv,
        "dawid_skene_same_as_crowdkit": same_ds,
        "accuracy_majority_vote": acc({t: r["label"] for t, r in mv.items()}),
        "accuracy_crowdkit_majority_vote": acc(ck_mv),
        "accuracy_dawid_skene": acc({t: r["label"] for t, r in ds["tasks"].items()}),
        "ties_in_majority_vote": int(sum(r["tie"] for r in mv.values())),
    }
    print()
    for k, v in out["aggregation"].items():
        print(f"{k:<44} {v:>10.4f}" if isinstance(v, float) else f"{k:<44} {v:>10}")

    # gold accuracy per annotator on a fifth of the tasks, vs the simulated accuracy
    gold_tasks = {t: truth[(t, "topic")] for t in sorted(mv)[::5]}
    ga = ag.gold_accuracy(topic, gold_tasks)
    print(f"\n{'annotator':<10} {'simulated acc':>13} {'gold acc':>9} {'n gold':>7} "
          f"{'DS acc':>7} {'kappa/maj':>9} {'alpha w/o':>9}")
    per = ag.per_annotator_agreement(topic, "nominal")
    for a, sim in zip(ANNOTATORS, ACCURACY):
        print(f"{a:<10} {sim:>13.2f} {ga[a]['accuracy']:>9.3f} {ga[a]['n_gold']:>7} "
              f"{ds['annotators'][a]['accuracy']:>7.3f} {per[a]['kappa_vs_majority']:>9.3f} "
              f"{per[a]['alpha_without']:>9.3f}")
    out["gold_accuracy"] = {a: ga[a]["accuracy"] for a in ANNOTATORS}

    # published examples
    print()
    diagnoses = FLEISS_1971
    fl = ag.fleiss_kappa([(i, j, v) for i, r in enumerate(diagnoses) for j, v in enumerate(r)],
                         format="answers")
    line("Fleiss 1971 diagnoses (published 0.430)", fl, 0.4302445)
    kr = ag.from_reliability_matrix(KRIPPENDORFF_2011)
    for level, ref in (("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849),
                       ("ratio", 0.797)):
        line(f"Krippendorff 2011 {level} (published {ref})", ag.krippendorff_alpha(kr, level), ref)
    out["comparisons"] = compare
    return out


FLEISS_1971 = [  # 30 patients × 6 psychiatrists, 5 diagnoses (as in R irr's `diagnoses`)
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5]]

_ = None
KRIPPENDORFF_2011 = [  # 4 observers × 12 units, None = missing (Krippendorff 2011, p. 3)
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _]]


# ----------------------------------------------------------------------------- part 2

WORD = re.compile(r"\w+", re.UNICODE)


def _words(record) -> list[str]:
    return WORD.findall(record["text"].lower())


def stopword_lf(lang: str, words: set[str], min_hits: int = 2):
    @labeling_function(name=f"stop_{lang}")
    def lf(record):
        hits = sum(1 for w in _words(record) if w in words)
        return lang if hits >= min_hits else ABSTAIN
    return lf


def regex_lf(name: str, lang: str, pattern: str):
    rx = re.compile(pattern)

    @labeling_function(name=name)
    def lf(record):
        return lang if rx.search(record["text"].lower()) else ABSTAIN
    return lf


def language_lfs() -> list:
    stop = {
        "en": {"the", "and", "of", "is", "that", "with", "was", "for", "are", "this", "have"},
        "de": {"der", "die", "und", "das", "ist", "nicht", "mit", "sich", "ein", "eine", "auf",
               "den", "zu"},
        "fr": {"le", "les", "et", "est", "une", "des", "du", "pas", "qui", "dans", "pour", "sur",
               "au"},
        "es": {"el", "los", "las", "y", "es", "del", "por", "con", "para", "una", "se", "al"},
        "it": {"il", "di", "che", "è", "per", "della", "gli", "non", "sono", "nel", "del", "una"},
        "pt": {"o", "os", "e", "é", "não", "uma", "do", "da", "em", "com", "para", "no", "ao"},
        "nl": {"de", "het", "een", "en", "van", "is", "niet", "op", "zijn", "dat", "ook", "voor"},
    }
    lfs = [stopword_lf(lang, words) for lang, words in stop.items()]
    lfs += [
        # shared words make deliberate conflicts: "que" (fr/es/pt), "de" (fr/es/pt/nl), "en" (nl/fr/es)
        regex_lf("word_que_es", "es", r"\bque\b"),
        regex_lf("word_de_nl", "nl", r"\bde\b"),
        regex_lf("word_en_nl", "nl", r"\ben\b"),
        regex_lf("word_la_it", "it", r"\bla\b"),
        # characters
        regex_lf("char_eszett_umlaut_de", "de", r"[ßäöü]"),
        regex_lf("char_enye_es", "es", r"[ñ¿¡]"),
        regex_lf("char_tilde_pt", "pt", r"[ãõ]"),
        regex_lf("char_cedilla_fr", "fr", r"ç"),
        regex_lf("char_grave_fr", "fr", r"[èêîôûœ]"),
        regex_lf("char_ij_nl", "nl", r"ij"),
        # suffixes
        regex_lf("suffix_ing_en", "en", r"\w{3,}ing\b"),
        regex_lf("suffix_ung_de", "de", r"\w{2,}(ung|keit|heit|lich)\b"),
        regex_lf("suffix_cion_es", "es", r"\w{2,}(ción|dad|mente)\b"),
        regex_lf("suffix_zione_it", "it", r"\w{2,}(zione|zioni|tà|mente)\b"),
        regex_lf("suffix_cao_pt", "pt", r"\w{2,}(ção|ções|dade|mente)\b"),
        regex_lf("suffix_tion_en", "en", r"\w{2,}tion\b"),
        regex_lf("suffix_heid_nl", "nl", r"\w{2,}(heid|lijk|tje)\b"),
        regex_lf("bigram_sch_de", "de", r"sch"),
        regex_lf("bigram_th_en", "en", r"\bth"),
    ]
    return lfs


def load_sentences(per_language: int) -> tuple[list[dict], list[str]]:
    root = shared_data() / "langid" / "lingua" / "sentences"
    records, gold = [], []
    for lang in LANGS:
        lines = (root / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(l for l in lines if l.strip()):
            if i >= per_language:
                break
            records.append({"id": f"{lang}-{i}", "text": line})
            gold.append(lang)
    return records, gold


def part_weak(per_language: int) -> dict:
    records, gold = load_sentences(per_language)
    lfs = language_lfs()
    print(f"\n== Part 2: weak supervision, lingua sentences, {len(LANGS)} languages, "
          f"{len(records)} records, {len(lfs)} labeling functions ==\n")
    t0 = time.perf_counter()
    votes = weak.apply_lfs(lfs, records, labels=LANGS)
    t_apply = time.perf_counter() - t0
    analysis = weak.lf_analysis(votes, gold)
    print(weak.format_lf_analysis(analysis))
    t0 = time.perf_counter()
    model = weak.LabelModel().fit(votes)
    t_fit = time.perf_counter() - t0
    print(f"\napply_lfs {t_apply:.2f}s, label model fit {t_fit:.2f}s ({model.n_iter_} EM iterations)\n")
    results = weak.compare_with_majority(votes, gold, model)
    plain = weak.LabelModel(model_abstain=False).fit(votes)
    y = votes.encode(gold)
    pred = plain.predict(votes)
    results["label_model_abstain_as_missing"] = {
        "accuracy": float((pred == y).mean())}
    print(f"{'label_model (abstain missing)':<24} {results['label_model_abstain_as_missing']['accuracy']:>8.4f}")
    est = model.lf_accuracies()
    worst = sorted(analysis["lfs"].items(), key=lambda kv: kv[1].get("empirical_accuracy") or 1)[:5]
    print("\nleast accurate LFs: empirical vs label-model estimate")
    for name, s in worst:
        print(f"  {name:<22} {s['empirical_accuracy']:.3f}  {est[name]:.3f}")
    return {"n_records": len(records), "analysis": analysis, "results": results,
            "lf_accuracy_estimates": est, "seconds": {"apply": t_apply, "fit": t_fit}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--per-language", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = {"agreement": part_agreement(args.tasks), "weak": part_weak(args.per_language)}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
