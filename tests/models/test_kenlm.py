"""KenLM: the project's build of lmplz/build_binary, `datamill lm train`, and perplexity that
prefers real sentences to the same words shuffled (English and Chinese)."""

from __future__ import annotations

import json
import os
import random

import pytest
from click.testing import CliRunner

from datamill.cli import main
from datamill.core.errors import InputError
from datamill.models.ccnet_norm import lm_tokens, normalize_line


def _tools_or_skip():
    from datamill.models.kenlm_train import KenLMToolError, find_tool

    try:
        find_tool("lmplz")
        find_tool("build_binary")
        import kenlm  # noqa: F401
    except (KenLMToolError, ImportError) as exc:
        msg = f"KenLM is not built here ({exc}): run scripts/build_kenlm.sh .venv and pip install kenlm"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI must never skip the KenLM build
        pytest.skip(msg)


def test_ccnet_normalisation_english_and_chinese():
    assert normalize_line("  Héllo  WORLD 2024!  ") == "hello world 0000!"
    assert normalize_line("今天是２０２４年，天气“很好”。") == "今天是0000年,天气\"很好\"."
    assert lm_tokens("今天天气很好，我们去公园。", "zh").split()[:3] == ["今天天气", "很", "好"] or \
        len(lm_tokens("今天天气很好，我们去公园。", "zh").split()) >= 5
    assert lm_tokens("Don't stop.", "en") == "don ' t stop ."


def _sentences(shared_data, lang):
    lines = [x.strip() for x in open(shared_data / "langid/lingua/sentences" / f"{lang}.txt", encoding="utf-8")
             if x.strip()]
    return lines[:-100], lines[-100:]


def _shuffled(sentence, lang, rng):
    toks = lm_tokens(sentence, lang).split()
    rng.shuffle(toks)
    return toks


@pytest.fixture(scope="module")
def lm_models(shared_data, tmp_path_factory):
    _tools_or_skip()
    root = tmp_path_factory.mktemp("lm")
    out = {}
    for lang in ("en", "zh"):
        train, held = _sentences(shared_data, lang)
        src = root / f"{lang}.txt"
        src.write_text("\n".join(train) + "\n", encoding="utf-8")
        res = CliRunner().invoke(main, ["lm", "train", "--input", str(src), "--output", str(root / f"{lang}.bin"),
                                        "--order", "3", "--language", lang])
        assert res.exit_code == 0, res.output
        out[lang] = (str(root / f"{lang}.bin"), held)
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_original_sentences_score_lower_than_shuffled(lm_models, lang):
    from datamill.models.kenlm_train import PerplexityModel, perplexity_of_lines

    path, held = lm_models[lang]
    model = PerplexityModel(path).load()
    rng = random.Random(0)
    wins = n = 0
    for s in held:
        toks = lm_tokens(s, lang).split()
        if len(toks) < 4:
            continue
        shuffled = _shuffled(s, lang, rng)
        if shuffled == toks:
            continue
        orig = perplexity_of_lines(model._model, [" ".join(toks)])
        shuf = perplexity_of_lines(model._model, [" ".join(shuffled)])
        wins += orig < shuf
        n += 1
    assert n > 50 and wins / n >= 0.9, (wins, n)
    card = json.load(open(path + ".card.json"))
    assert card["kind"] == "kenlm" and card["cutoffs"]["all"][0] < card["cutoffs"]["all"][1]


def test_perplexity_tagger_in_a_pipeline(lm_models, tmp_path):
    import gzip

    from datamill.core.pipeline import Pipeline
    from datamill.steps.quality.perplexity import Perplexity

    en_path, en_held = lm_models["en"]
    zh_path, zh_held = lm_models["zh"]
    docs = [{"id": "en-short", "text": en_held[0], "metadata": {"language": "en"}},
            {"id": "en-long", "text": "\n".join(en_held[:40]), "metadata": {"language": "en"}},
            {"id": "empty", "text": "", "metadata": {}}]
    zdocs = [{"id": "zh-short", "text": zh_held[0], "metadata": {"language": "zh"}},
             {"id": "zh-long", "text": "\n".join(zh_held[:40]), "metadata": {"language": "zh"}}]
    for name, rows, model in (("en", docs, en_path), ("zh", zdocs, zh_path)):
        src = tmp_path / f"{name}.jsonl"
        src.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in rows), encoding="utf-8")
        out = tmp_path / f"out-{name}"
        stats = Pipeline([Perplexity(model=model)]).run([str(src)], str(out))
        with gzip.open(next(out.glob("part-*.jsonl.gz")), "rt", encoding="utf-8") as fh:
            got = [json.loads(line) for line in fh]
        assert len(got) == len(rows)
        for r in got:
            if r["id"] == "empty":
                assert "perplexity" not in r["signals"]
                continue
            sig = r["signals"]["perplexity"]
            assert sig["perplexity"] > 1 and sig["perplexity_bucket"] in ("head", "middle", "tail")
        assert "language_not_in_training" not in stats["steps"][0]["counters"]
        if name == "en":
            assert stats["steps"][0]["counters"]["unscored"] == {"empty_text": 1}


def test_wrong_model_kind_is_one_line(lm_models, tmp_path):
    from datamill.models.kenlm_train import PerplexityModel
    from datamill.steps.quality.perplexity import Perplexity

    with pytest.raises(InputError, match="no such file"):
        Perplexity(model=str(tmp_path / "nope.bin")).setup()
    fake = tmp_path / "clf.ftz"
    fake.write_bytes(b"x")
    (tmp_path / "clf.ftz.card.json").write_text(json.dumps({"kind": "text_classifier"}))
    with pytest.raises(InputError, match="expected a kenlm"):
        PerplexityModel(str(fake))
    res = CliRunner().invoke(main, ["lm", "train", "--input", str(tmp_path / "none.txt"), "--output",
                                    str(tmp_path / "m.bin")])
    assert res.exit_code == 2 and "no such file" in res.output
