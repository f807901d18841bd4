"""Signals first: a datamill output keeps every statistic, and the rules steps re-decide on it
with new thresholds without measuring anything again (English and Chinese, short and long)."""

import gzip
import json
import random

import pytest

from datamill import Pipeline
from datamill.steps.quality import fineweb, gopher, gopher_repetition
from datamill.steps.quality.fineweb import FineWebQuality, FineWebQualityRules
from datamill.steps.quality.gopher import GopherQuality, GopherQualityRules
from datamill.steps.quality.gopher_repetition import GopherRepetition, GopherRepetitionRules

EN = ("The committee published its report on the river restoration project last week. "
      "It found that the water quality had improved and that the fish had come back. ")
ZH = "今天的会议讨论了城市公园的建设计划。大家都认为这个项目对居民很有好处，也希望尽快开始施工。"


def corpus(n=40, seed=0):
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        lang = "zh" if i % 2 else "en"
        unit = ZH if lang == "zh" else EN
        k = rnd.choice([1, 2, 5, 12, 30])  # short and long documents
        text = "\n".join(unit for _ in range(k)) if rnd.random() < 0.3 else "\n".join(
            f"({j}) {unit}" for j in range(k))
        rows.append({"id": f"d{i}", "text": text, "metadata": {"language": lang}})
    return rows


def read(folder):
    rows = []
    for p in sorted(folder.glob("part-*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    return rows


def test_rules_rethreshold_a_finished_output_without_recomputing(tmp_path, monkeypatch):
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in corpus()), encoding="utf-8")
    first = tmp_path / "first"
    loose = dict(min_doc_words=5, min_stop_words=None)
    Pipeline([GopherRepetition(dup_line_frac=None, dup_line_char_frac=None, dup_para_frac=None,
                               dup_para_char_frac=None, top_n_grams=[], dup_n_grams=[]),
              GopherQuality(**loose), FineWebQuality(line_punct_thr=None, short_line_thr=None,
                                                     char_duplicates_ratio=None, new_line_ratio=None)]
             ).run(str(inp), str(first))
    stored = read(first)
    assert len(stored) >= 30
    for r in stored:
        assert set(r["signals"]) == {"gopher_repetition", "gopher_quality", "fineweb_quality"}

    # the new thresholds, decided from scratch (measuring again) ...
    strict = dict(min_doc_words=60)
    expected = Pipeline([GopherRepetition(), GopherQuality(**strict), FineWebQuality()]).run(
        str(first), str(tmp_path / "again"))
    # ... and re-decided on the stored signals, with every measuring function disabled
    for mod, name in ((gopher, "words"), (gopher_repetition, "words"), (fineweb, "words")):
        monkeypatch.setattr(mod, name, lambda *a, **k: pytest.fail("a statistic was measured again"))
    got = Pipeline([GopherRepetitionRules(), GopherQualityRules(**strict), FineWebQualityRules()]).run(
        str(first), str(tmp_path / "rules"))
    assert [s["dropped"] for s in got["steps"]] == [s["dropped"] for s in expected["steps"]]
    assert [r["id"] for r in read(tmp_path / "rules")] == [r["id"] for r in read(tmp_path / "again")]
    assert sum(sum(s["dropped"].values()) for s in got["steps"]) > 0  # the new thresholds bite


def test_recipe_with_the_old_store_signals_key_still_runs(tmp_path):
    from datamill.core.recipe import parse_recipe

    with pytest.warns(FutureWarning, match="store_signals"):
        recipe = parse_recipe("steps:\n  - gopher_quality: {store_signals: false}\n  - c4_quality: {}\n")
    assert recipe.steps[0].keep_signals is False and recipe.steps[1].keep_signals is True


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_declared_signals_are_exactly_what_is_written(lang):
    """Writers can build one output schema from ``declared_signals()`` before the first record."""
    from datamill.core.stats import StepStats
    from datamill.core.step import StepContext
    from datamill.steps.quality.c4 import C4Quality
    from datamill.steps.safety.pii import PIIRedact

    steps = [GopherRepetition(), GopherQuality(), C4Quality(), FineWebQuality(), PIIRedact()]
    steps[1]._label = "gopher_quality#2"
    unit = ZH if lang == "zh" else EN
    batch = [{"id": str(i), "text": text, "metadata": {"language": lang}}
             for i, text in enumerate(["", unit, "\n".join([unit] * 20) + " mail a@b.org"])]
    declared = {}
    for step in steps:
        declared.update(step.declared_signals())
        batch = step.run_batch(batch, StepStats(step.label, step.kind), StepContext(keep_dropped=True)) or batch
    for step in steps:
        assert any(step.label in r["signals"] for r in batch), step.label
        for r in batch:
            if step.label in r["signals"]:
                assert set(r["signals"][step.label]) == set(declared[step.label]), step.label
    assert "gopher_quality#2" in declared and declared["pii_redact"] == {"emails": "int64", "ips": "int64"}
    assert GopherQuality(keep_signals=False).declared_signals() == {}
