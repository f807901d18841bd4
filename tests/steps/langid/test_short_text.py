"""Short text (issue #9): regression tests on single words and word pairs cut from the real
lingua sentences, non-breaking spaces, and the tagger / rules split."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fasttext")

from datamill.core.stats import StepStats  # noqa: E402
from datamill.core.step import REGISTRY, StepContext  # noqa: E402
from datamill.steps.langid import LanguageID, LanguageRules, LanguageTagger  # noqa: E402
from datamill.steps.langid.identify import normalize_whitespace  # noqa: E402
from datamill.steps.langid.model import load_model  # noqa: E402

_WORD = re.compile(r"[^\W\d_]+")


def _words(shared: Path, lang: str, n: int = 150) -> list[str]:
    path = shared / "langid" / "lingua" / "sentences" / f"{lang}.txt"
    if not path.exists():
        pytest.skip(f"{path} missing")
    rng = random.Random(lang)
    out = []
    for line in path.read_text(encoding="utf-8").splitlines()[: n * 2]:
        cand = [w for w in _WORD.findall(line) if len(w) >= 2]
        if cand:
            out.append(rng.choice(cand))
    return out[:n]


def _accuracy(pred, gold):
    return sum(p == gold for p in pred) / len(pred)


@pytest.fixture(scope="module")
def step():
    s = LanguageID(min_score=0.0)
    s.ensure_setup()
    return s


@pytest.mark.parametrize("lang", ["en", "es", "ru", "hi"])
def test_single_words_never_much_worse_than_lid176(shared_data, step, lang):
    """The old py3langid fallback took English single words from 90 % to 46 %."""
    words = _words(shared_data, lang)
    raw = [r[0][0] for r in load_model().predict(words)]
    ours = [l for l, _ in step.identify(words)]
    assert _accuracy(ours, lang) >= _accuracy(raw, lang) - 0.03, (lang, _accuracy(ours, lang), _accuracy(raw, lang))


def test_two_character_chinese(shared_data, step):
    path = shared_data / "langid" / "lingua" / "sentences" / "zh.txt"
    from datamill.text.words import split_words

    items = []
    for line in path.read_text(encoding="utf-8").splitlines()[:300]:
        items += [w for w in split_words(line, "zh") if len(w) == 2 and _WORD.fullmatch(w)][:1]
    assert len(items) >= 150
    raw = [r[0][0] for r in load_model().predict(items)]
    ours = [l for l, _ in step.identify(items)]
    assert _accuracy(ours, "zh") >= 0.9 > _accuracy(raw, "zh")


def test_greek_thai_korean_words_by_script(step):
    assert [l for l, _ in step.identify(["και", "สวัสดี", "서울", "Ζ"])] == ["el", "th", "ko", "el"]


def test_non_breaking_space_does_not_zero_chinese(step):
    text = "这是一个\u00a0测试\u3000句子，\u200b内容很清楚"
    assert normalize_whitespace(text) == "这是一个 测试 句子，内容很清楚"
    lang, score = step.identify([text])[0]
    assert lang == "zh" and score > 0.8
    lang, score = step.identify(["中文\u00a0内容"])[0]
    assert lang == "zh" and score > 0.5


def test_py3langid_loaded_only_when_needed():
    """Confident lid.176 answers never load the second model (checked in a fresh process)."""
    code = ("from datamill.steps.langid import LanguageID\n"
            "from datamill.steps.langid import second_opinion as so\n"
            "s = LanguageID(min_score=0.0)\n"
            "print(s.identify(['This is certainly an English sentence about the weather.'])[0][0], so.loaded())\n"
            "print(s.identify(['Kotona'])[0][0] != '', so.loaded())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ})
    assert out.stdout.split() == ["en", "False", "True", "True"], out.stdout + out.stderr


def _records(texts):
    return [{"id": str(i), "text": t} for i, t in enumerate(texts)]


def _run(step, records):
    stats = StepStats(step.label, step.kind)
    step.ensure_setup()
    return step.run_batch(records, stats, StepContext()), stats


def test_tagger_writes_metadata_and_labelled_signals():
    assert REGISTRY["language_tagger"] is LanguageTagger and REGISTRY["language_filter"] is LanguageRules
    tagger = LanguageTagger()
    tagger._label = "language_tagger#2"
    records = _records(["Das ist ein ganz normaler deutscher Satz.", "", "中文内容"])
    out, stats = _run(tagger, records)
    assert len(out) == 3 and not stats.dropped
    assert [r["metadata"]["language"] for r in out] == ["de", "und", "zh"]
    sig = out[0]["signals"]["language_tagger#2"]
    assert sig["language"] == "de" and sig["method"] == "lid176" and sig["lid176_language"] == "de"
    assert set(sig) == set(LanguageTagger.signal_types)
    assert out[2]["signals"]["language_tagger#2"]["script"] == "Han"
    assert stats.counters["languages"] == {"de": 1, "und": 1, "zh": 1}


def test_rules_decide_without_a_model():
    rules = LanguageRules(languages=["en", "zh-Hans"], min_score=0.5)
    records = [{"id": "a", "metadata": {"language": "en", "language_score": 0.9}},
               {"id": "b", "metadata": {"language": "zh", "language_score": 0.4}},
               {"id": "c", "metadata": {"language": "de", "language_score": 0.99}},
               {"id": "d", "metadata": {}}]
    out, stats = _run(rules, records)
    assert [r["id"] for r in out] == ["a"]
    assert stats.dropped == {"low_language_score": 1, "language_not_kept": 2}
    assert not hasattr(rules, "_identifier")


def test_language_id_is_tagger_plus_rules():
    step = LanguageID(languages=["en"], min_score=0.5)
    step._label = "language_id#2"
    records = _records(["This is an English sentence for the test.", "Ceci est une phrase française."])
    out, stats = _run(step, records)
    assert [r["id"] for r in out] == ["0"] and stats.dropped == {"language_not_kept": 1}
    assert records[1]["signals"]["language_id#2"]["language"] == "fr"
    assert records[1]["metadata"]["language"] == "fr"


def test_check_resolves_model_path_before_running(tmp_path):
    from click.testing import CliRunner

    from datamill.cli import main

    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - language_id: {model_path: models/lid.bin}\n")
    result = CliRunner().invoke(main, ["check", str(recipe)])
    assert result.exit_code == 2
    assert "language_id" in result.output and str(tmp_path / "models" / "lid.bin") in result.output
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "lid.bin").write_bytes(b"x")  # found relative to the recipe
    assert CliRunner().invoke(main, ["check", str(recipe)]).exit_code == 0
