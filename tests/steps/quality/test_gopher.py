import pickle
import random

import pytest

from datamill.core.step import REGISTRY
from datamill.core.stats import StepStats
from datamill.core.step import StepContext
from datamill.steps.quality.gopher import (GopherQuality, GopherQualityRules, GopherQualitySignals,
                                          GopherRepetition, _dup_ngram_chars)
from datamill.steps.quality.gopher_repetition import GopherRepetitionRules, GopherRepetitionSignals

GOOD = ("The history of the river is long and the people that live with it have many stories "
        "to tell. ") * 4 + "\n" + " ".join(f"word{i} and more text about topic{i}." for i in range(30))


def rec(text, lang=None):
    return {"id": "x", "text": text, "metadata": {"language": lang} if lang else {}, "signals": {}}


def test_registered_and_pickles():
    assert REGISTRY["gopher_quality"] is GopherQuality
    step = GopherQuality(min_doc_words=40)
    clone = pickle.loads(pickle.dumps(step))
    assert clone.min_doc_words == 40 and clone.keep(rec(GOOD)) is None
    pickle.loads(pickle.dumps(GopherRepetition()))


def test_good_english_passes():
    assert GopherQuality().keep(rec(GOOD)) is None


@pytest.mark.parametrize("text,reason", [
    ("the cat and the dog " * 5, "gopher_short_doc"),
    ("to be of the and that " + "a b c d e f g h " * 20, "gopher_below_avg_threshold"),
    ("to be of the and " + "incomprehensibilities " * 60, "gopher_above_avg_threshold"),
    ("the and " + "#tag word here " * 40, "gopher_too_many_hashes"),
    ("the and " + "word here again... " * 40, "gopher_too_many_ellipsis"),
    ("\n".join(["• the item and one more line here with words"] * 20), "gopher_too_many_bullets"),
    ("\n".join(["the story and the end goes on and on ..."] * 4 + ["fine line with words here "
               "and there for the reader"] * 6), "gopher_too_many_end_ellipsis"),
    ("the and " + "1234 5678 90 12 alpha " * 30, "gopher_below_alpha_threshold"),
    ("cats dogs birds fish trees " * 20, "gopher_enough_stop_words"),
])
def test_each_rule(text, reason):
    assert GopherQuality().keep(rec(text)) == reason


def test_thresholds_can_be_disabled_and_signals_stored():
    r = rec("cats dogs birds fish trees " * 20)
    assert GopherQuality(min_stop_words=None).drop_reason(r) is None
    sig = r["signals"]["gopher_quality"]
    assert sig["word_count"] == 100 and sig["stop_words"] == 0 and sig["alpha_words_ratio"] == 1.0
    assert set(sig) == set(GopherQualitySignals.signal_types)


def test_every_statistic_is_computed_after_the_first_failure():
    r = rec("the cat and the dog " * 5)
    assert GopherQuality().drop_reason(r) == "gopher_short_doc"
    assert r["signals"]["gopher_quality"]["stop_words"] == 2  # the, and


def test_keep_signals_false_and_deprecated_store_signals():
    r = rec(GOOD)
    assert GopherQuality(keep_signals=False).drop_reason(r) is None
    assert "gopher_quality" not in r["signals"]
    with pytest.warns(FutureWarning, match="store_signals"):
        step = GopherQuality(store_signals=False)
    assert step.keep_signals is False
    with pytest.warns(FutureWarning):
        assert GopherQuality(store_signals=True).keep_signals is True


def test_cjk_signals_have_the_same_names_with_none_where_a_rule_does_not_apply():
    r = rec("今天天气很好，我们一起去公园散步吧。" * 10, "zh")
    GopherQuality().drop_reason(r)
    sig = r["signals"]["gopher_quality"]
    assert set(sig) == set(GopherQualitySignals.signal_types)
    assert sig["mean_word_length"] is None and sig["word_count"] > 40


def test_rules_on_stored_signals_rethreshold_without_the_tagger():
    records = [rec(GOOD), rec("the cat and the dog " * 5), rec("cats dogs birds fish trees " * 20)]
    tagger = GopherQualitySignals()
    tagger.run_batch(records, StepStats("t", "tagger"), StepContext())
    assert all(set(r["signals"]["gopher_quality_signals"]) == set(tagger.signal_types) for r in records)
    rules = GopherQualityRules(signals_from="gopher_quality_signals")
    assert [rules.drop_reason(r) for r in records] == [GopherQuality().check(r["text"], "en")
                                                        for r in records]
    loose = GopherQualityRules(signals_from="gopher_quality_signals", min_doc_words=10, min_stop_words=None)
    assert [loose.drop_reason(r) for r in records] == [None, None, None]
    with pytest.raises(ValueError, match="run gopher_quality_signals"):
        GopherQualityRules().drop_reason(rec(GOOD))


def test_two_instances_keep_their_own_signals():
    r = rec(GOOD)
    a, b = GopherQuality(), GopherQuality(min_doc_words=10)
    b._label = "gopher_quality#2"
    a.drop_reason(r)
    b.drop_reason(r)
    assert r["signals"]["gopher_quality"] == r["signals"]["gopher_quality#2"]
    clone = pickle.loads(pickle.dumps(b))
    assert clone.label == "gopher_quality#2" and clone.min_doc_words == 10


def test_stop_words_per_language():
    german = "Der Hund und die Katze sind mit dem Kind zu Hause. " * 10
    assert GopherQuality().keep(rec(german, "de")) is None
    assert GopherQuality().keep(rec(german)) == "gopher_enough_stop_words"  # read as English
    # a language without a stop-word list skips the rule
    assert GopherQuality().keep(rec("Habari ya leo ni nzuri sana kwa watu wengi. " * 8, "sw")) is None


def _docs(shared_data, lang, n=20, seed=0):
    sents = (shared_data / "langid/lingua/sentences" / f"{lang}.txt").read_text("utf-8").splitlines()
    rnd = random.Random(seed)
    return ["\n".join(rnd.sample(sents, 12)) for _ in range(n)]


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_cjk_real_sentences_pass(shared_data, lang):
    docs = _docs(shared_data, lang)
    q, rep = GopherQuality(), GopherRepetition()
    verdicts = [q.keep(rec(d, lang)) for d in docs]
    assert "gopher_short_doc" not in verdicts
    assert sum(v is None for v in verdicts) >= 0.85 * len(docs), verdicts
    assert sum(rep.keep(rec(d, lang)) is None for d in docs) >= 0.9 * len(docs)


def test_cjk_short_doc_still_short():
    assert GopherQuality().keep(rec("今天天气很好。", "zh")) == "gopher_short_doc"


@pytest.mark.parametrize("text,reason", [
    ("para one is here and long enough\n\n" * 5 + "other\n\nthird", "dup_para_frac"),
    ("a long repeated paragraph " * 10 + "\n\n" + "a long repeated paragraph " * 10
     + "\n\nshort\n\nx\n\ny\n\nz\n\nw\n\nv", "dup_para_char_frac"),
    ("same line\n" * 4 + "\n".join(f"unique line {i}" for i in range(5)), "dup_line_frac"),
    ("this repeated line is quite a bit longer than the others\n" * 2
     + "\n".join(f"l{i}" for i in range(10)), "dup_line_char_frac"),
    (" ".join(["spam eggs"] * 40 + [f"w{i}" for i in range(60)]), "top_2_gram"),
    (" ".join([f"word{i}" for i in range(30)] * 2), "duplicated_5_n_grams"),
])
def test_repetition_rules(text, reason):
    assert GopherRepetition().keep(rec(text)) == reason


def test_dup_ngram_walk_matches_reference():
    def reference(words, n):
        unique, chars, i = set(), 0, 0
        while i < len(words) - n + 1:
            g = "".join(words[i:i + n])
            if g in unique:
                chars += len(g)
                i += n
            else:
                unique.add(g)
                i += 1
        return chars

    rnd = random.Random(1)
    for _ in range(200):
        # one-character words: joining without spaces (as the reference does) is unambiguous
        words = tuple(rnd.choice("abc") for _ in range(rnd.randint(5, 40)))
        for n in (5, 6, 7):
            assert _dup_ngram_chars(words, n) == reference(words, n)


def test_dup_ngrams_by_size_equals_counting_each_size():
    from datamill.steps.quality.gopher_repetition import dup_ngram_chars_by_size

    rnd = random.Random(2)
    for _ in range(300):
        words = tuple(rnd.choice(["a", "bb", "c", "dd", "e"][: rnd.randint(2, 5)])
                      for _ in range(rnd.randint(0, 60)))
        sizes = list(range(5, 11)) if rnd.random() < 0.7 else [5, 7, 8, 10]
        got = dup_ngram_chars_by_size(words, sizes)
        assert got == {n: (_dup_ngram_chars(words, n) if len(words) >= n else None) for n in sizes}


def test_numpy_ngram_counts_equal_the_python_ones():
    """repetition_chars (integer ids, NumPy) = _top_ngram_chars + dup_ngram_chars_by_size,
    ties included (the first n-gram to reach the top count), short and long, English-like and
    Chinese-like tokens."""
    from datamill.steps.quality.gopher_repetition import _top_ngram_chars, dup_ngram_chars_by_size
    from datamill.steps.quality.ngram_counts import repetition_chars

    rnd = random.Random(3)
    vocab = ["the", "a", "council", "of", "budget", "市议会", "预算", "的", "。", "bridges"]
    for _ in range(400):
        size = rnd.choice([0, 1, 3, 9, 40, 250, 900])
        words = tuple(rnd.choice(vocab[: rnd.randint(1, len(vocab))]) for _ in range(size))
        top_sizes, dup_sizes = (2, 3, 4), (5, 6, 7, 8, 9, 10)
        top, dup = repetition_chars(words, top_sizes, dup_sizes)
        assert top == {n: (_top_ngram_chars(words, n) if len(words) >= n else None) for n in top_sizes}
        assert dup == dup_ngram_chars_by_size(words, list(dup_sizes))


def test_missing_segmenter_and_missing_language_are_counted_fallbacks(monkeypatch):
    from datamill.text import words as w

    monkeypatch.setitem(w._segmenters, "zh", None)  # as if jieba were not installed
    step = GopherQuality()
    stats, ctx = StepStats("gopher_quality", "filter"), StepContext()
    step.run_batch([rec("今天天气很好，我们一起去公园散步吧。" * 10, "zh"),
                    {"id": "y", "text": GOOD, "metadata": {}, "signals": {}}], stats, ctx)
    assert stats.fallbacks == {"no_word_segmenter_zh": 1, "no_language_used_default": 1}


def test_fast_line_and_paragraph_splits_equal_the_regex_ones():
    import re

    from datamill.steps.quality.gopher_repetition import split_lines, split_paragraphs

    line_split, paragraph_split = re.compile(r"\n+"), re.compile(r"\n{2,}")  # Gopher's splits

    rnd = random.Random(5)
    for _ in range(3000):
        text = "".join(rnd.choice(["a", "b c", "\n", "\n", "\n\n", "市", " "])
                       for _ in range(rnd.randint(0, 14)))
        assert split_lines(text) == line_split.split(text), repr(text)
        assert split_paragraphs(text) == paragraph_split.split(text), repr(text)
