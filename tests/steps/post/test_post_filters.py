"""The rule-based post-training cleaning steps: validation filter, length, PII, refusals and
boilerplate, leaked template tokens, repetition, language. Each on small internal records built
with the schema helpers, plus drop rates on the shared instruction and preference data."""

from __future__ import annotations

import pickle

import pytest

from datamill.core.stats import StepStats
from datamill.core.step import REGISTRY, StepContext
from datamill.post.formats import read_records
from datamill.post.schema import kto, message, preference, ranking, sft
from datamill.post.tokenizer import train_tokenizer
from datamill.steps.post.language import PostLanguage
from datamill.steps.post.length import PostLength
from datamill.steps.post.pii import PostPII
from datamill.steps.post.refusal import RefusalFilter
from datamill.steps.post.repetition import RepetitionFilter
from datamill.steps.post.sides import prompt_key, taught_answers
from datamill.steps.post.template_leak import TemplateLeakFilter
from datamill.steps.post.validate import PostValidate

U, A = "user", "assistant"


def qa(q: str, a: str, id: str = "r") -> dict:
    return sft(id, [message(U, q), message(A, a)])


def pair(q: str, chosen: str, rejected: str, id: str = "p") -> dict:
    return preference(id, [message(U, q)], [message(A, chosen)], [message(A, rejected)])


def run(step, records):
    stats, ctx = StepStats(step.label, step.kind), StepContext(keep_dropped=True)
    out = step.run_batch(list(records), stats, ctx)
    return out, stats, ctx


def test_steps_are_registered_and_pickle():
    for name in ("post_validate", "prompt_dedup", "prompt_near_dedup", "post_language", "post_length",
                 "post_pii", "refusal_filter", "template_leak_filter", "repetition_filter",
                 "relevance_filter"):
        cls = REGISTRY[name]
        step = cls()
        assert pickle.loads(pickle.dumps(step)).params == step.params


# --- sides ----------------------------------------------------------------------------------------

def test_prompt_and_answer_sides():
    rec = sft("m", [message("system", "Be nice."), message(U, "Hi"), message(A, "Hello."),
                    message(U, "Bye"), message(A, "Bye!")])
    assert prompt_key(rec, "last_user") == "Bye"
    assert prompt_key(rec, "all_user") == "Hi\nBye"
    assert prompt_key(rec, "full") == "system: Be nice.\nuser: Hi\nassistant: Hello.\nuser: Bye"
    assert taught_answers(rec) == [("messages[4].content", "Bye!")]
    assert [f for f, _ in taught_answers(rec, all_turns=True)] == ["messages[2].content", "messages[4].content"]
    p = pair("Q?", "good", "bad")
    assert taught_answers(p) == [("chosen[0].content", "good")]
    assert len(taught_answers(p, include_rejected=True)) == 2
    assert taught_answers(kto("k", [message(U, "Q")], [message(A, "no")], False)) == []
    r = ranking("x", [message(U, "Q")], [{"messages": [message(A, "second")], "rank": 2},
                                         {"messages": [message(A, "first")], "rank": 1}])
    assert taught_answers(r) == [("responses[1].messages[0].content", "first")]


# --- post_validate --------------------------------------------------------------------------------

def test_post_validate_drops_with_the_issue_code():
    recs = [qa("Hi", "Hello."), sft("b", [message(U, "Hi"), message(U, "Again")]),
            pair("Q?", "Same.", "Same."), qa("Why?", "Because of the")]
    out, stats, ctx = run(PostValidate(), recs)
    assert [r["id"] for r in out] == ["r", "r"]
    assert dict(stats.dropped) == {"role_alternation": 1, "chosen_equals_rejected": 1}
    assert ctx.dropped[0]["signals"]["post_validate"]["validation"] == ["role_alternation", "no_final_assistant"]
    assert ctx.dropped[0]["signals"]["post_validate"]["validation_fields"] == ["messages[1]", "messages[1].role"]
    assert out[1]["signals"]["post_validate"]["validation"] == ["truncated_response"]  # a warning: kept, flagged
    out, stats, _ = run(PostValidate(drop_warnings=True), [qa("Why?", "Because of the")])
    assert out == [] and dict(stats.dropped) == {"truncated_response": 1}
    out, _, _ = run(PostValidate(ignore=["role_alternation", "no_final_assistant"]),
                    [sft("b", [message(U, "Hi"), message(U, "Again")])])
    assert len(out) == 1
    with pytest.raises(ValueError, match="unknown issue code"):
        PostValidate(ignore=["nope"])


def test_post_validate_token_limit(tmp_path):
    path = tmp_path / "tokenizer.json"
    train_tokenizer(["the quick brown fox jumps"] * 20, vocab_size=280, min_frequency=1).save(str(path))
    recs = [qa("Hi", "the quick brown fox."), qa("Hi", " ".join(["the quick brown fox jumps"] * 30) + ".")]
    out, stats, _ = run(PostValidate(max_tokens=40, tokenizer=str(path)), recs)
    assert len(out) == 1 and dict(stats.dropped) == {"too_many_tokens": 1}


# --- post_length ----------------------------------------------------------------------------------

def test_post_length_chars_and_tokens(tmp_path):
    recs = [qa("Hi", "Hello there."), qa("", "Hello."), qa("Tell me", "x"),
            qa("Tell me", "y" * 500), pair("Tell me", "ok then.", "n")]
    out, stats, _ = run(PostLength(min_prompt_chars=1, min_response_chars=2, max_response_chars=100), recs)
    assert len(out) == 1
    assert dict(stats.dropped) == {"prompt_too_short": 1, "response_too_short": 2, "response_too_long": 1}
    assert out[0]["signals"]["post_length"]["prompt_chars"] == 2 and out[0]["signals"]["post_length"]["response_chars"] == 12
    path = tmp_path / "tokenizer.json"
    train_tokenizer(["hello there friend"] * 20, vocab_size=270, min_frequency=1).save(str(path))
    step = PostLength(max_response_tokens=5, max_total_tokens=8, tokenizer=str(path))
    out, stats, _ = run(step, [qa("Hi", "hello"), qa("Hi", "hello there friend " * 4),
                               qa("hello there friend hello there friend", "hello there")])
    assert len(out) == 1 and dict(stats.dropped) == {"response_too_long": 1, "too_many_tokens": 1}
    assert set(out[0]["signals"]["post_length"]) >= {"prompt_tokens", "response_tokens", "total_tokens"}
    with pytest.raises(ValueError):
        PostLength(min_response_chars=10, max_response_chars=5)


# --- post_pii -------------------------------------------------------------------------------------

def test_post_pii_redacts_every_message():
    rec = preference("p", [message(U, "Mail jane.doe@acme.io about 8.8.8.8")],
                     [message(A, "Sure, writing to jane.doe@acme.io.")],
                     [message(A, "Server 8.8.8.8 and 10.0.0.1 noted.")])
    rec["chosen"][0]["tool_calls"] = [{"name": "send", "arguments": '{"to": "jane.doe@acme.io"}'}]
    out, _, _ = run(PostPII(), [rec])
    r = out[0]
    assert r["messages"][0]["content"] == "Mail email@example.com about 192.0.2.1" or \
        "jane.doe" not in r["messages"][0]["content"]
    assert "jane.doe" not in r["chosen"][0]["content"] and "jane.doe" not in r["chosen"][0]["tool_calls"][0]["arguments"]
    assert "8.8.8.8" not in r["rejected"][0]["content"] and "10.0.0.1" in r["rejected"][0]["content"]
    assert r["signals"] == {"post_pii": {"pii_emails": 3, "pii_ips": 2}}
    out, _, _ = run(PostPII(roles=["assistant"]), [qa("me@acme.io", "ok")])
    assert out[0]["messages"][0]["content"] == "me@acme.io"


# --- refusal_filter -------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, reason", [
    ("I'm sorry, but I can't help with that request.", "refusal"),
    ("I cannot fulfill this request.", "refusal"),
    ("Sorry, I am unable to provide that information.", "refusal"),
    ("As an AI language model, I do not have opinions. But here are some views.", "ai_boilerplate"),
    ("Sure! As an AI, I can list them: 1. apples", "ai_boilerplate"),
    ("I was trained by OpenAI and my knowledge cutoff is 2021.", "ai_boilerplate"),
    ("抱歉，我无法回答这个问题。", "refusal"),
    ("作为一个人工智能语言模型，我没有个人观点。", "ai_boilerplate"),
    ("Lo siento, pero no puedo ayudarte con eso.", "refusal"),
    ("En tant que modèle de langage, je n'ai pas d'avis.", "ai_boilerplate"),
    ("Es tut mir leid, aber ich kann das nicht tun.", "refusal"),
    ("Als KI-Sprachmodell habe ich keine Meinung.", "ai_boilerplate"),
    ("Извините, но я не могу помочь с этим.", "refusal"),
    ("Paris is the capital of France.", None),
    ("The character said: 'I'm sorry, I can't come tonight.' Then she left." + " More text." * 40, None),
    ("Here is a story about an AI researcher who built robots.", None),
])
def test_refusal_patterns(answer, reason):
    assert RefusalFilter().keep(qa("Q?", answer)) == reason


def test_refusal_only_in_the_head_and_only_chosen():
    late = "Here is the plan. " * 30 + "I'm sorry, but I can't do step 9."
    assert RefusalFilter().keep(qa("Q?", late)) is None
    assert RefusalFilter(head_chars=1000).keep(qa("Q?", late)) == "refusal"
    p = pair("How do I pick a lock?", "I'm sorry, but I can't help with that.", "Use a tension wrench.")
    assert RefusalFilter().keep(p) == "refusal"
    assert RefusalFilter(refusals=False).keep(p) is None       # safety pairs choose refusals
    p2 = pair("Q?", "Here you go.", "As an AI language model, I cannot.")
    assert RefusalFilter().keep(p2) is None                    # rejected is not looked at
    assert RefusalFilter(include_rejected=True).keep(p2) == "ai_boilerplate"
    assert RefusalFilter(extra_patterns=[r"\bno comment\b"]).keep(qa("Q", "No comment.")) == "refusal"


# --- template_leak_filter -------------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [
    ("Sure!<|im_end|>", "template_leak"),
    ("<|im_start|>assistant\nHello", "template_leak"),
    ("Answer here.<|eot_id|>", "template_leak"),
    ("[INST] what? [/INST] ok", "template_leak"),
    ("<<SYS>>be nice<</SYS>>", "template_leak"),
    ("Done.</s>", "template_leak"),
    ("<s> Hello there", "template_leak"),
    ("Hi<end_of_turn>", "template_leak"),
    ("<｜end▁of▁sentence｜>", "template_leak"),
    ("Answer.\n### Instruction:\nWrite more", "template_leak"),
    ("Sure, here it is.\n\nHuman: thanks\n\nAssistant: welcome", "role_label_leak"),
    ("Use <s>strike</s> tags in HTML", "template_leak"),  # </s> is a template token too
    ("In HTML, <b>bold</b> and <i>italic</i> are tags.", None),
    ("The list is [1, 2, 3] and a|b|c.", None),
    ("Assistant: is a word here", None),  # a label on the first line is not a new turn
])
def test_template_leaks(text, reason):
    assert TemplateLeakFilter().keep(qa("Q?", text)) == reason


def test_template_leak_in_prompt_and_signal():
    rec = qa("<|user|> hi", "Hello.")
    assert TemplateLeakFilter().keep(rec) == "template_leak"
    assert rec["signals"]["template_leak_filter"]["template_leak"] == {"token": "<|user|>", "field": "messages[0].content"}
    assert TemplateLeakFilter(include_prompt=False).keep(qa("<|user|> hi", "Hello.")) is None
    assert TemplateLeakFilter(extra_tokens=["<END>"]).keep(qa("Q", "x <END>")) == "template_leak"
    assert TemplateLeakFilter(role_labels=False).keep(qa("Q", "ok\nHuman: more")) is None


# --- repetition_filter ----------------------------------------------------------------------------

def test_repetition():
    f = RepetitionFilter()
    loop = "I like apples. " * 6
    assert f.keep(qa("Q", loop)) == "looping"
    ngrams = ("The quick brown fox jumps over the lazy dog near the river bank today " * 3 +
              "and then it went home to sleep quietly under a tree for the rest of the day.")
    assert f.keep(qa("Q", ngrams)) == "repeated_ngrams"
    lines = "\n".join(["First line of the report", "Second part of the report", "First line of the report",
                       "Another distinct line here", "First line of the report"])
    assert f.keep(qa("Q", lines)) == "repeated_lines"
    prose = ("Photosynthesis converts light into chemical energy. Plants use chlorophyll to absorb "
             "light, mostly blue and red. The energy splits water and releases oxygen, while carbon "
             "dioxide is fixed into sugars in the Calvin cycle.")
    rec = qa("Q", prose)
    assert f.keep(rec) is None and rec["signals"]["repetition_filter"]["repetition"]["max_run"] == 1
    code = "Here:\n```python\n" + "x = 1\n" * 20 + "```\nThat sets x repeatedly, which is fine."
    assert f.keep(qa("Q", code)) is None
    math = "$$\na^2\n$$\nand\n$$\nb^2\n$$\nand\n$$\nc^2\n$$"
    assert f.keep(qa("Q", math)) is None
    zh = "我喜欢苹果。" * 5
    assert f.keep(qa("Q", zh)) == "looping"
    assert f.keep(pair("Q", "Fine answer.", loop)) is None  # rejected loops are the point of the pair


def test_rule_filters_on_shared_data(shared_data):
    """Drop rates of the rule filters on real SFT and preference data stay small and explained."""
    files = ["instruction_sft/llamafactory/alpaca_en_demo.json", "instruction_sft/llamafactory_2023-08/lima.json",
             "preference/llamafactory/dpo_en_demo.json"]
    recs = [r for f in files for r in read_records(str(shared_data / f))]
    n = len(recs)
    out, stats, _ = run(PostValidate(), recs)
    assert len(out) == n
    out, stats, _ = run(TemplateLeakFilter(), recs)
    assert sum(stats.dropped.values()) <= 0.002 * n
    out, stats, _ = run(RepetitionFilter(), recs)
    assert sum(stats.dropped.values()) <= 0.003 * n
    out, stats, ctx = run(RefusalFilter(), recs)
    dropped = sum(stats.dropped.values())
    assert 0.005 * n <= dropped <= 0.05 * n  # alpaca's "As an AI, …" answers
    assert all(d["signals"]["refusal_filter"]["refusal_match"] for d in ctx.dropped)


# --- post_language --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def language_step():
    step = PostLanguage(languages=["en", "zh"], require_same=True)
    step.ensure_setup()
    return step


def test_post_language(language_step):
    recs = [qa("What is the capital of France?", "The capital of France is Paris."),
            qa("法国的首都是哪里？", "法国的首都是巴黎。"),
            qa("What is the capital of France?", "法国的首都是巴黎，这是一个美丽的城市。"),
            qa("Quelle est la capitale de la France ?", "La capitale de la France est Paris."),
            qa("What is 2+2?", "4"),
            qa("Write hello world", "```python\nprint('hello world')\n```")]
    out, stats, _ = run(language_step, recs)
    assert [r["signals"]["post_language"]["prompt_language"] for r in recs[:4]] == ["en", "zh", "en", "fr"]
    assert recs[4]["signals"]["post_language"]["response_language"] == "und"  # too short to judge: not dropped
    assert len(out) == 4
    assert dict(stats.dropped) == {"language_mismatch": 1, "prompt_language_not_kept": 1}
    rec = qa("老虎会吃哪一个，草还是树叶？", "老虎是肉食动物，它不吃草也不吃树叶。")  # lid.176 says wuu
    assert PostLanguage(languages=["zh"]).keep(rec) is None
    assert PostLanguage(languages=["zh"], merge_chinese=False).keep(rec) == "prompt_language_not_kept"
    step = PostLanguage(languages=["en"], sides=["prompt"])
    out, stats, _ = run(step, [qa("What is the capital of France?", "法国的首都是巴黎，这是一个美丽的城市。")])
    assert len(out) == 1


# --- Chinese: wrong drops of the default sft-clean recipe (issue #9) ------------------------------

RECIPE_LENGTH = dict(min_prompt_chars=4, min_response_chars=2)   # recipes/sft-clean.yaml


def test_post_length_counts_width_and_keeps_short_chinese_prompts():
    step = PostLength(**RECIPE_LENGTH)
    recs = [qa("李白是谁", "李白是唐代著名诗人，被誉为“诗仙”。"),
            sft("thanks", [message(U, "介绍下伦敦"), message(A, "伦敦是英国首都。"),
                           message(U, "谢谢"), message(A, "不客气！")]),           # oaast_sft_zh.json[10]
            qa("友谊", "友谊是人与人之间的情感纽带。"),                                 # alpaca_zh_demo.json[85]
            qa("hi", "Hello!")]
    out, stats, _ = run(step, recs)
    assert [r["id"] for r in out] == ["r", "thanks", "r"]
    assert dict(stats.dropped) == {"prompt_too_short": 1}
    assert out[0]["signals"]["post_length"]["prompt_chars"] == 8           # 4 Han characters, 2 units each
    old = PostLength(min_prompt_chars=5, min_response_chars=2, units="chars", min_prompt_scope="last_user",
                     allow_short_answers=False)
    out, stats, _ = run(old, recs[:3])
    assert dict(stats.dropped) == {"prompt_too_short": 3}   # what the old recipe did


def test_post_length_keeps_right_short_answers():
    mc = "下列哪一项是哺乳动物？\nA. 鲨鱼\nB. 金枪鱼\nC. 海马\nD. 海豚"
    recs = [qa("1+2", "3"),                                                         # oaast_sft_zh.json[309]
            qa("-1* -1*-1 = ?", "-1"),                                               # oaast_sft_zh.json[510]
            qa("使用AI生成的图画会否构成侵犯版权？", "否"),
            qa(mc, "D"),
            qa("将以下节选中的人物分类为正义或邪恶？\n皇家统治者在王国中树立了公正和公平的先例。", "正义。"),  # alpaca_zh_demo[291]
            qa("Is the sky blue? Answer yes or no.", "Yes"),
            qa("请以一个字总结2020年", "疫"),                                           # oaast_sft_zh.json[270]
            pair("这个产品评论是积极的吗？标题：必备专辑。", "是", "不是，这条评论是消极的。"),
            qa("Write a poem about the sea.", "x"),                                     # not a short-answer prompt
            qa("讲一个关于月亮的故事。", "月")]
    out, stats, _ = run(PostLength(min_response_chars=4), recs)
    kept = {r["messages"][-1]["content"] if r["kind"] == "sft" else r["chosen"][0]["content"]: r for r in out}
    assert set(kept) == {"3", "-1", "否", "D", "正义。", "Yes", "疫", "是"}
    assert kept["D"]["signals"]["post_length"]["short_answer"] == "choice"
    assert kept["3"]["signals"]["post_length"]["short_answer"] == "number"
    assert dict(stats.dropped) == {"response_too_short": 2}
    out, stats, _ = run(PostLength(min_response_chars=4, allow_short_answers=False), recs)
    assert [r["messages"][-1]["content"] for r in out] == ["正义。"]   # 6 width units: long enough


def test_post_length_classification_flag_from_seed_tasks():
    rec = qa("Classify the sentiment of the sentence.\nI loved it", "Pos")
    rec["metadata"] = {"extra": {"is_classification": True}}
    out, stats, _ = run(PostLength(min_response_chars=5), [rec])
    assert len(out) == 1 and out[0]["signals"]["post_length"]["short_answer"] in ("classification", "label")


def test_post_language_skips_code_tables_and_nbsp(language_step):
    long_zh = "下面是一个计算斐波那契数列的函数，它使用循环而不是递归，因此速度更快，也不会栈溢出。"
    recs = [qa("用 Python 写一个斐波那契函数", "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n"
                "        a, b = b, a + b\n    return a\n\nprint(fib(10))"),            # unfenced code answer
            qa("用 Python 写一个斐波那契函数", long_zh + "\n```python\ndef fib(n):\n    return n\n```"),
            qa("列出三种水果", "1.\u00a0苹果：一种常见的水果，味道甜中带酸，富含维生素。\n2.\u00a0香蕉：热带水果，口感软糯。"
                "\n3.\u00a0橙子：富含维生素C，适合榨汁饮用，也可以直接吃。"),               # list with NBSP
            qa("把下面的数据做成表格", "| 名称 | 价格 | 产地 |\n|---|---|---|\n| apple | 3 | USA |\n"
                "| banana | 2 | Ecuador |\n| cherry | 10 | Chile |"),
            qa("What is the capital of France?", "The capital\u00a0of\u00a0France\u00a0is\u00a0Paris, "
                "a city on the Seine known for its museums.")]
    out, stats, _ = run(language_step, recs)
    assert len(out) == 5, dict(stats.dropped)
    assert recs[0]["signals"]["post_language"]["response_language"] == "und"      # all code: not judged
    assert recs[2]["signals"]["post_language"]["response_language"] in ("zh", "wuu")
    assert recs[2]["signals"]["post_language"]["response_language_score"] > 0.5
    assert recs[3]["signals"]["post_language"]["response_language"] == "und"      # all table: not judged


def test_repetition_requested_and_ascii_tables_kept():
    f = RepetitionFilter()
    assert f.keep(qa("请把“我爱北京天安门”重复五遍", "我爱北京天安门。" * 5)) is None
    assert f.keep(qa("Repeat after me three times: I will not be late.", "I will not be late. " * 3)) is None
    assert f.keep(qa("介绍一下北京", "我爱北京天安门。" * 5)) == "looping"     # not asked for
    table = "\n".join(["+--------+-------+", "| 城市   | 人口  |", "+--------+-------+", "| 北京   | 2189万 |",
                       "+--------+-------+", "| 上海   | 2487万 |", "+--------+-------+", "| 广州   | 1868万 |",
                       "+--------+-------+"])
    assert f.keep(qa("用 ASCII 表格列出三个城市的人口", table)) is None
    md = "| a | b |\n|---|---|\n| 1 | 2 |\n|---|---|\n| 3 | 4 |\n|---|---|"
    assert f.keep(qa("Make a table", md)) is None


def test_post_length_drop_details_name_the_deciding_side():
    rec = pair("Write a short story about the sea.", "Once upon a time the sea was calm and blue.", "n")
    out, stats, ctx = run(PostLength(min_response_chars=4), [rec])
    assert dict(stats.dropped) == {"response_too_short": 1}
    assert rec["signals"]["post_length"]["response_chars"] == 1 and rec["signals"]["post_length"]["response_field"].startswith("rejected")
