import pickle
import unicodedata

import pytest

from datamill.core.record import make_record
from datamill.core.step import REGISTRY
from datamill.steps.text.normalize import NormalizeUnicode

DECOMPOSED = "Cafe\u0301 na\u0131\u0308ve"  # e + combining acute, dotless i + diaeresis


def test_registered():
    assert REGISTRY["normalize_unicode"] is NormalizeUnicode


@pytest.mark.parametrize("form", ["NFC", "NFKC", "NFD", "NFKD"])
def test_forms(form):
    text = "ﬁne ① Ｆｕｌｌ " + DECOMPOSED
    out = NormalizeUnicode(form=form).normalize(text)
    assert out == unicodedata.normalize(form, text)
    assert unicodedata.is_normalized(form, out)


def test_nfc_keeps_compatibility_chars_nfkc_folds():
    assert NormalizeUnicode().normalize("ﬁ Ｆ ²") == "ﬁ Ｆ ²"
    assert NormalizeUnicode(form="NFKC").normalize("ﬁ Ｆ ²") == "fi F 2"
    assert NormalizeUnicode().normalize("e\u0301") == "\u00e9"


def test_bad_form():
    with pytest.raises(ValueError):
        NormalizeUnicode(form="NFX")


def test_control_chars_and_newlines():
    text = "\ufeffa\x00b\x07c\td\r\ne\rf\x85g\u2028h\u2029i\x1bj\x7fk\x9fl\u200dm\u00adn"
    out = NormalizeUnicode().normalize(text)
    assert out == "abc\td\ne\nf\ng\nh\ni" + "jkl\u200dm\u00adn"


def test_controls_kept_when_disabled():
    out = NormalizeUnicode(remove_control=False, unify_newlines=False).normalize("a\x00\r\nb")
    assert out == "a\x00\r\nb"
    # with unify off, \r survives control removal (it is a line break, not noise)
    assert NormalizeUnicode(unify_newlines=False).normalize("a\r\nb\x01") == "a\r\nb"


def test_collapse_whitespace():
    text = "  Hello \u00a0\t world  \r\n\n\n\n  next\u3000line \n\n"
    assert NormalizeUnicode().normalize(text) == "  Hello \u00a0\t world  \n\n\n\n  next\u3000line \n\n"
    out = NormalizeUnicode(collapse_whitespace=True).normalize(text)
    assert out == "Hello world\n\n next line"


def test_ascii_fast_path_unchanged():
    step = NormalizeUnicode(form="NFKC")
    text = "plain ascii text\nwith lines\tand tabs"
    assert step.normalize(text) is text or step.normalize(text) == text


def test_fix_text_with_ftfy():
    pytest.importorskip("ftfy")
    step = NormalizeUnicode(fix_text=True)
    step.ensure_setup()
    assert step.normalize("donâ€™t") == "don’t"          # curly quote kept
    assert step.normalize("caf\u00c3\u00a9 \x00") == "café "


def test_fix_text_missing_ftfy(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ftfy" else real(name, *a))
    with pytest.raises(ImportError, match="datamill\\[text\\]"):
        NormalizeUnicode(fix_text=True)


def test_transform_record():
    step = NormalizeUnicode()
    rec = step.transform(make_record("1", "a\r\nb" + DECOMPOSED))
    assert rec["text"] == "a\nb" + unicodedata.normalize("NFC", DECOMPOSED)
    assert step.transform({"id": "2", "text": ""})["text"] == ""


def test_pickle_keeps_params():
    step = NormalizeUnicode(form="NFKC", collapse_whitespace=True)
    clone = pickle.loads(pickle.dumps(step))
    assert clone.params == step.params
    assert clone.normalize("Ｆ  x") == "F x"
