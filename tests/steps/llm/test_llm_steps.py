"""The LLM steps against the real local model (SmolLM2-135M-Instruct on llama.cpp), English and
Chinese, short and long text. A 135M model writes poor text: these tests check the mechanics
(records produced, schema valid, signals present, drops with reasons, no call made twice),
not the quality, which benchmarks/bench_llm_quality.py measures."""

import json

import pytest

from datamill.core.stats import StepStats
from datamill.core.step import StepContext
from datamill.post.validate import validate_record
from datamill.steps.llm.distill import Distill
from datamill.steps.llm.evol import EvolInstruct
from datamill.steps.llm.generate import Generate
from datamill.steps.llm.ifd import IFDScore
from datamill.steps.llm.judge import LLMJudge
from datamill.steps.llm.preference import ToPreference
from datamill.steps.llm.rewrite import Augment, Rephrase

LONG_EN = ("The river flooded the valley every spring. " * 60).strip()
LONG_ZH = "每年春天，河水都会淹没山谷，农民们在高处修建房屋。" * 30


def sft(i, q, a):
    return {"id": i, "kind": "sft", "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
            "metadata": {}}


SFT = [sft("en", "What is the capital of France?", "The capital of France is Paris."),
       sft("zh", "中国的首都是哪里？", "中国的首都是北京。")]


def run(step, records):
    step.ensure_setup()
    stats, ctx = StepStats(step.label, step.kind), StepContext(keep_dropped=True)
    out = step.run_batch([json.loads(json.dumps(r)) for r in records], stats, ctx)
    return out, stats, ctx


def errors(record):
    return [i for i in validate_record(record) if i.severity == "error"]


def test_generate_makes_valid_ranking_records(llm_settings, llm_proxy):
    out, stats, _ = run(Generate(n=2, temperatures=[0.2, 1.0], llm=llm_settings), SFT)
    assert [r["kind"] for r in out] == ["ranking", "ranking"]
    for r in out:
        assert len(r["responses"]) == 2 and not errors(r)
        assert r["metadata"]["llm"]["generate"]["template"] == "generate/v1"
        assert [g["temperature"] for g in r["metadata"]["generate"]] == [0.2, 1.0]
    assert stats.counters["llm"]["calls"] == 4 and stats.counters["llm"]["completion_tokens"] > 0
    # a rerun replays from the cache
    run(Generate(n=2, temperatures=[0.2, 1.0], llm=llm_settings), SFT)
    assert llm_proxy.calls() == 4


def test_judge_ratings_then_preference_pairs(llm_settings):
    ranked, _, _ = run(Generate(n=3, temperatures=[0.2, 0.7, 1.2], llm=llm_settings), SFT)
    judged, stats, ctx = run(LLMJudge(criteria=["helpfulness", "honesty"], on_parse_error="keep", llm=llm_settings), ranked)
    assert len(judged) == 2
    rated = [resp for r in judged for resp in r["responses"] if "ratings" in resp]
    for resp in rated:
        assert set(resp["ratings"]) == {"helpfulness", "honesty"} and 1 <= resp["score"] <= 5
        assert isinstance(resp["rank"], int) and set(resp["rationale"]) == {"helpfulness", "honesty"}
    pairs, pstats, pctx = run(ToPreference(min_margin=0.0), judged)
    for p in pairs:
        assert p["kind"] == "preference" and not errors(p) and p["signals"]["to_preference"]["margin"] > 0
    assert len(pairs) + sum(pstats.dropped.values()) == 2
    kto, _, _ = run(ToPreference(output="kto"), judged)
    assert all(k["kind"] == "kto" and isinstance(k["label"], bool) for k in kto)


def test_to_preference_rules_without_a_model():
    def resp(text, score):
        return {"messages": [{"role": "assistant", "content": text}], "score": score}

    base = {"kind": "ranking", "messages": [{"role": "user", "content": "q"}], "metadata": {}}
    recs = [dict(base, id="a", responses=[resp("x", 4.5), resp("y", 2.0), resp("z", 3.0)]),
            dict(base, id="tie", responses=[resp("x", 3.0), resp("y", 3.0)]),
            dict(base, id="close", responses=[resp("x", 3.2), resp("y", 3.0)]),
            dict(base, id="unrated", responses=[{"messages": [{"role": "assistant", "content": "x"}]}] * 2)]
    out, stats, _ = run(ToPreference(rejected="worst", min_margin=0.5), recs)
    assert len(out) == 1 and out[0]["rejected"][0]["content"] == "y" and out[0]["ratings"] == {"chosen": 4.5, "rejected": 2.0}
    assert dict(stats.dropped) == {"tie": 1, "small_margin": 1, "unrated": 1}


def test_pairwise_judge_both_orders(llm_settings):
    pref = {"id": "p", "kind": "preference", "messages": [{"role": "user", "content": "How do I boil an egg?"}],
            "chosen": [{"role": "assistant", "content": "Put the egg in boiling water for 8 minutes."}],
            "rejected": [{"role": "assistant", "content": "Eggs are birds."}], "metadata": {}}
    pref_zh = dict(pref, id="pz", messages=[{"role": "user", "content": "怎么煮鸡蛋？"}],
                   chosen=[{"role": "assistant", "content": "把鸡蛋放进沸水里煮八分钟。"}],
                   rejected=[{"role": "assistant", "content": "鸡蛋是鸟。"}])
    out, stats, ctx = run(LLMJudge(mode="pairwise", llm=llm_settings), [pref, pref_zh])
    for r in out:
        sig = r["signals"]["llm_judge"]
        assert sig["verdict"] in ("chosen", "rejected", "tie") and len(sig["orders"]) == 2
    assert len(out) + stats.dropped["llm_parse_error"] == 2
    for d in ctx.dropped:  # an unparseable verdict keeps the raw reply
        assert d["drop_reason"] == "llm_parse_error" and "llm_raw" in d["metadata"]


def test_evol_instruct_english_and_chinese(llm_settings):
    out, stats, ctx = run(EvolInstruct(generations=2, operations=["constraints", "reasoning"], llm=llm_settings), SFT)
    assert len(out) + sum(stats.dropped.values()) == 2
    for r in out:
        assert r["metadata"]["evol"]["history"] and r["messages"][0]["content"] != r["metadata"]["evol"]["original"]
        assert not errors(r)
    for d in ctx.dropped:
        assert d["drop_reason"] in ("no_information_gain", "template_words", "refusal", "only_punctuation")


def test_distill_logprob_and_consistency(llm_settings):
    math_q = [sft("m", "What is 2 + 3? Answer with a number.", "5"), sft("mz", "2 加 3 等于几？只回答数字。", "5")]
    out, stats, _ = run(Distill(confidence="both", min_confidence=0.0, min_agreement=0.0, k=3, llm=llm_settings), math_q)
    assert len(out) == 2
    for r in out:
        sig = r["signals"]["distill"]
        assert -20 < sig["mean_logprob"] <= 0 and 0 < sig["confidence"] <= 1 and 0 < sig["agreement"] <= 1
        assert r["messages"][-1]["role"] == "assistant" and not errors(r)
    strict, sstats, _ = run(Distill(confidence="logprob", min_confidence=1.0, llm=llm_settings), math_q)
    assert strict == [] and sstats.dropped["low_confidence"] == 2


def test_ifd_signals_short_and_long(llm_settings):
    recs = SFT + [sft("long", "Summarise the text.\n" + LONG_EN[:700], LONG_EN[:250]),
                  sft("longzh", "总结下面的文字。\n" + LONG_ZH[:200], LONG_ZH[:80])]
    out, stats, _ = run(IFDScore(backend="local"), recs)
    assert len(out) == 4
    for r in out:
        s = r["signals"]["ifd_score"]
        assert s["ifd"] > 0 and s["ppl_answer"] >= 1 and s["ppl_conditional"] >= 1 and s["answer_tokens"] > 0
    # a repeated answer is easy to predict given the prompt that contains it
    assert out[2]["signals"]["ifd_score"]["ifd"] < 1
    # the right prompt helps; an unrelated one does not
    step = IFDScore(backend="local")
    step.ensure_setup()
    assert step.score("What is the capital of France?", "The capital of France is Paris.")["ifd"] < 0.5
    assert step.score("Tell me a joke.", "The capital of France is Paris.")["ifd"] > 1


def test_rephrase_and_augment(llm_settings):
    docs = [{"id": "d1", "text": "best price!!! click here. The Eiffel Tower is in Paris and was built in 1889. buy now",
             "metadata": {}}, {"id": "d2", "text": LONG_ZH[:300], "metadata": {}}]
    out, stats, _ = run(Rephrase(styles=["wikipedia", "qa"], min_chars=5, llm=llm_settings), docs)
    assert out and all(r["metadata"]["rephrase"]["style"] in ("wikipedia", "qa") for r in out)
    assert all(r["id"].startswith(("d1-", "d2-")) for r in out)
    aug, _, _ = run(Augment(methods=["paraphrase", "back_translation"], llm=llm_settings), SFT)
    made = [r for r in aug if "augment" in r["metadata"]]
    assert len(aug) >= 2 and all(not errors(r) for r in aug)
    for r in made:
        assert r["messages"][-1]["content"] in ("The capital of France is Paris.", "中国的首都是北京。")


def test_context_overflow_drops_too_long(llm_settings):
    docs = [{"id": "huge", "text": "word " * 6000, "metadata": {}}]
    out, stats, _ = run(Rephrase(llm=llm_settings), docs)
    assert out == [] and stats.dropped["too_long"] == 1
