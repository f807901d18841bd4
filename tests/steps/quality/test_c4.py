import pickle
import random

import pytest

from datamill.core.stats import StepStats
from datamill.core.step import StepContext
from datamill.steps.quality.c4 import C4BadWords, C4CleanLines, C4PageRules, C4Quality

S = "This is a complete sentence with words."


def rec(text, lang=None, id="x"):
    return {"id": id, "text": text, "metadata": {"language": lang} if lang else {}, "signals": {}}


def test_lines_are_removed_and_text_rewritten():
    text = "\n".join([S] * 5 + ["Menu", "Enable javascript to see this page.",
                               "Read our privacy policy now.", "Two words.", "x" * 1001 + " a b.",
                               "Ends with ellipsis ...", "A cited sentence here.[1]"])
    r = rec(text)
    assert C4Quality().keep(r) is None
    assert r["text"] == "\n".join([S] * 5 + ["A cited sentence here."])


@pytest.mark.parametrize("extra,reason", [
    ("Lorem ipsum dolor sit amet.", "c4_lorem_ipsum"),
    ("function f() { return 1; }.", "c4_curly_bracket"),
])
def test_page_rules(extra, reason):
    r = rec("\n".join([S] * 5 + [extra]))
    assert C4Quality().keep(r) == reason
    assert r["text"].endswith(extra)  # a dropped page is not rewritten


def test_curly_bracket_only_counts_on_kept_lines():
    assert C4Quality().keep(rec("\n".join([S] * 5 + ["var x = {a: 1}"]))) is None


def test_too_few_sentences_and_switches():
    assert C4Quality().keep(rec("\n".join([S] * 4))) == "c4_too_few_sentences"
    assert C4Quality(min_num_sentences=-1).keep(rec(S)) is None
    r = rec("\n".join([S] * 5 + ["no punctuation here at all"]))
    assert C4Quality(filter_no_terminal_punct=False).keep(r) is None
    assert r["text"].endswith("no punctuation here at all")


def test_signals_and_pickle():
    r = rec("\n".join([S] * 5 + ["Menu"]))
    step = pickle.loads(pickle.dumps(C4Quality()))
    assert step.drop_reason(r) is None
    sig = r["signals"]["c4_quality"]
    assert sig["lines_removed_no_terminal_punct"] == 1 and sig["lines_kept"] == 5
    assert set(sig) == set(C4CleanLines.signal_types)


def test_line_removal_is_a_transform_and_page_rules_a_filter():
    assert C4CleanLines.kind == "transform" and C4PageRules.kind == "filter"
    text = "\n".join([S] * 2 + ["Menu", "Please enable javascript to view this page."])
    r = rec(text)
    out = C4CleanLines().run_batch([r], StepStats("c4_clean_lines", "transform"), StepContext())
    assert out == [r] and r["text"] == "\n".join([S] * 2)  # a transform never drops
    sig = r["signals"]["c4_clean_lines"]
    assert sig["lines_removed_javascript"] == 1 and sig["sentences"] == 2
    assert C4PageRules(signals_from="c4_clean_lines").drop_reason(r) == "c4_too_few_sentences"
    assert C4PageRules(signals_from="c4_clean_lines", min_num_sentences=2).drop_reason(r) is None


def test_curly_bracket_before_policy_line_drops_the_page_as_c4_did():
    r = rec("\n".join([S] * 5 + ["Our privacy policy uses {this} layout for everyone."]))
    assert C4Quality().drop_reason(r) == "c4_curly_bracket"
    r = rec("\n".join([S] * 5 + ["Read our privacy policy before you use the site."]))
    assert C4Quality().drop_reason(r) is None
    assert r["signals"]["c4_quality"]["lines_removed_policy"] == 1


def test_badwords_signal_under_its_label(ldnoobw):
    r = rec("What an asshole, really.")
    assert C4BadWords(badwords_dir=ldnoobw).drop_reason(r) == "c4_badwords"
    assert r["signals"]["c4_badwords"] == {"match": "asshole", "has_list": True}


def test_chinese_lines_use_fullwidth_punct_and_segmented_words(shared_data):
    sents = (shared_data / "langid/lingua/sentences/zh.txt").read_text("utf-8").splitlines()
    rnd = random.Random(0)
    kept = 0
    for _ in range(20):
        text = "\n".join(rnd.sample(sents, 10))
        r = rec(text, "zh")
        kept += C4Quality().keep(r) is None
    assert kept >= 15
    r = rec("\n".join(["今天天气很好，我们一起去公园散步吧。"] * 5 + ["隐私政策说明如下。", "首页"]), "zh")
    assert C4Quality().keep(r) is None
    assert r["text"] == "\n".join(["今天天气很好，我们一起去公园散步吧。"] * 5)


@pytest.fixture
def ldnoobw(shared_data):
    return str(shared_data / "badwords" / "ldnoobw")


def test_badwords_boundaries_and_languages(ldnoobw):
    bw = C4BadWords(badwords_dir=ldnoobw)
    assert bw.keep(rec("A perfectly clean sentence about classic assessment.")) is None
    assert bw.keep(rec("What an asshole, really.")) == "c4_badwords"
    assert bw.keep(rec("he likes a ball gag.")) == "c4_badwords"  # a listed phrase
    assert bw.keep(rec("a ball and a gag.")) is None
    assert bw.keep(rec("性别平等很重要。", "zh")) is None  # 性 is allow-listed
    assert bw.keep(rec("text in klingon-less language", "xx")) is None  # no list: kept


def test_badwords_keep_fraction_is_deterministic(ldnoobw):
    bw = C4BadWords(keep_fraction=0.5, seed=3, badwords_dir=ldnoobw)
    verdicts = [bw.keep(rec("what an asshole", id=str(i))) for i in range(200)]
    assert verdicts == [bw.keep(rec("what an asshole", id=str(i))) for i in range(200)]
    assert 60 < sum(v is None for v in verdicts) < 140
    with pytest.raises(ValueError):
        C4BadWords(fail_on_missing_language=True, badwords_dir=ldnoobw).keep(rec("x", "xx"))


def test_badwords_without_lists_offline_is_a_clear_error(monkeypatch, tmp_path):
    import datamill.steps.quality.c4_badwords as c4

    def offline(folder, lang):
        raise OSError("network unreachable")

    monkeypatch.delenv("DATAMILL_BADWORDS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(c4, "_download_list", offline)
    with pytest.raises(RuntimeError, match="set badwords_dir"):
        C4BadWords().keep(rec("some text"))


def test_badwords_dir_override(tmp_path):
    (tmp_path / "en").write_text("zorblax\n", encoding="utf-8")
    bw = pickle.loads(pickle.dumps(C4BadWords(badwords_dir=str(tmp_path))))
    assert bw.keep(rec("the zorblax came")) == "c4_badwords"
    assert bw.keep(rec("what an asshole")) is None
