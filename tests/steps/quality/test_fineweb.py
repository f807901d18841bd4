import pickle
import random

import pytest

from datamill.steps.quality.fineweb import FineWebQuality, FineWebQualityRules, FineWebQualitySignals

LONG = "This line is long enough to count as a real line of text, and it ends well."


def rec(text, lang=None):
    return {"id": "x", "text": text, "metadata": {"language": lang} if lang else {}, "signals": {}}


def test_good_text_passes_and_pickles():
    text = "\n".join(f"{LONG} Number {i}." for i in range(10))
    step = pickle.loads(pickle.dumps(FineWebQuality()))
    assert step.keep(rec(text)) is None


@pytest.mark.parametrize("text,reason", [
    ("", "empty"),
    ("\n".join(f"{LONG[:-1]} number {i}" for i in range(10)), "line_punct_ratio"),
    ("\n".join([f"{LONG} {i}." for i in range(3)] + [f"Short {i}." for i in range(7)]),
     "short_line_ratio"),
    ("\n".join([f"{LONG} {i}." for i in range(30)] + [LONG, LONG]), "char_dup_ratio"),
])
def test_each_rule(text, reason):
    assert FineWebQuality().keep(rec(text)) == reason


def test_list_ratio():
    text = "\n".join(f"Item number {i} is a long entry for the list." for i in range(40))
    assert FineWebQuality(new_line_ratio=0.05).keep(rec(text)) == "list_ratio"
    assert FineWebQuality().keep(rec(text)) is None


def test_exclude_zero_and_signals():
    text = "\n".join(f"{LONG[:-1]} number {i}" for i in range(10))
    r = rec(text)
    assert FineWebQuality(line_punct_exclude_zero=True).drop_reason(r) is None
    sig = r["signals"]["fineweb_quality"]
    assert sig["line_punct_ratio"] == 0.0 and sig["line_count"] == 10
    assert set(sig) == set(FineWebQualitySignals.signal_types)
    assert FineWebQualityRules().drop_reason(r) == "line_punct_ratio"  # re-decided, not re-measured


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_cjk_real_sentences_pass(shared_data, lang):
    sents = (shared_data / "langid/lingua/sentences" / f"{lang}.txt").read_text("utf-8").splitlines()
    rnd = random.Random(0)
    docs = ["\n".join(rnd.sample(sents, 12)) for _ in range(20)]
    verdicts = [FineWebQuality().keep(rec(d, lang)) for d in docs]
    assert sum(v is None for v in verdicts) >= 17, verdicts


def test_fullwidth_punct_counts():
    text = "\n".join(f"这是一个很长的中文句子，用来测试第{i}行。" for i in range(10))
    assert FineWebQuality().keep(rec(text, "zh")) is None
