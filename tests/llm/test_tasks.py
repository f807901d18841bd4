"""Prompt builders, parsers and rules of the LLM tasks (no server needed)."""

import pytest

from datamill.llm.errors import LLMParseError
from datamill.llm.rouge import RougePool, rouge_l, tokens
from datamill.llm.tasks import confidence, evol, ifd, judge, self_instruct as si


def test_rouge_l_english_words_and_chinese_characters():
    assert rouge_l("Write a poem about the sea", "Write a poem about the sea") == 1.0
    assert 0.5 < rouge_l("Write a poem about the sea", "Write a short poem about the ocean") < 0.9
    assert rouge_l("Write a poem", "Compute the sum") == 0.0
    assert tokens("写一首关于大海的诗") == list("写一首关于大海的诗")
    high = rouge_l("写一首关于大海的诗", "写一首关于大海的短诗")
    low = rouge_l("写一首关于大海的诗", "计算两个数字的和")
    assert high > 0.9 and low < 0.2  # one shared character (的)


def test_rouge_pool_bound_gives_exact_max():
    texts = ["Write a poem about the sea", "List three prime numbers", "Translate the sentence into French"]
    pool = RougePool(texts)
    q = "Write a long poem about the sea and the sky"
    assert pool.max_score(q) == pytest.approx(max(rouge_l(q, t) for t in texts))


def test_self_instruct_prompt_and_parse_english():
    prompt = si.build_prompt([si.Task("Name a fruit.", "", "Apple"), si.Task("Add the numbers.", "2, 3", "5")])
    assert "Task 3" in prompt and prompt.endswith("Instruction:")
    t = si.parse_reply(" Give three tips for staying healthy.\nInput: \nOutput: Eat well, sleep, move.\n\nTask 4\nInstruction: x")
    assert t.instruction == "Give three tips for staying healthy." and t.output.startswith("Eat well")
    assert si.parse_reply("   ") is None


def test_self_instruct_prompt_and_parse_chinese():
    prompt = si.build_prompt([si.Task("写一首关于春天的诗。", "", "春风吹绿了柳树。")], "zh")
    assert "指令" in prompt and prompt.endswith("指令:")
    t = si.parse_reply("解释什么是光合作用。\n输入：\n输出：光合作用是植物利用阳光制造养分的过程。")
    assert t.instruction == "解释什么是光合作用。" and t.output.startswith("光合作用")
    assert si.rule_reason(t) is None


def test_self_instruct_rules():
    ok = si.Task("Explain why the sky is blue to a child.", "", "Because of scattering.")
    assert si.rule_reason(ok) is None
    assert si.rule_reason(si.Task("Draw a picture of a cat for me.", "", "x")) == "blocklist"
    assert si.rule_reason(si.Task("Hi there", "", "x")) == "too_short"
    assert si.rule_reason(si.Task("word " * 200, "", "x")) == "too_long"
    assert si.rule_reason(si.Task("- List the steps to bake bread.", "", "x")) == "punctuation_start"
    assert si.rule_reason(si.Task("请画出一张地图来说明路线。", "", "x")) == "blocklist"
    assert si.rule_reason(si.Task("Explain why the sky is blue.", "", "")) == "no_output"


def test_evol_elimination_rules():
    orig = "Explain photosynthesis."
    assert evol.eliminate(orig, "Explain photosynthesis.", "It is how plants make food.") == "no_information_gain"
    assert evol.eliminate(orig, "#Rewritten Prompt#: explain it in 3 steps", "ok fine") == "template_words"
    assert evol.eliminate(orig, "Explain photosynthesis in three steps with an equation.",
                          "Sorry, I cannot help with that.") == "refusal"
    assert evol.eliminate(orig, "Explain photosynthesis in three steps with an equation.", "... the a !") == "only_punctuation"
    assert evol.eliminate(orig, "Explain photosynthesis in three steps with an equation.",
                          "Step 1: light is absorbed by chlorophyll.") is None
    assert evol.eliminate("解释光合作用。", "用三个步骤解释光合作用，并写出化学方程式。", "抱歉，我无法回答。") == "refusal"
    assert evol.clean("#Rewritten Prompt#: Do X") == "Do X"
    assert "constraint" in evol.build_prompt("Do X", "constraints")
    assert "改写" in evol.build_prompt("做某事", "deepen", chinese=True)


def test_judge_parsing():
    assert judge.parse_rating("Rating: 4\nRationale: mostly right.") == (4, "mostly right.")
    assert judge.parse_rating("**Rating:** 5/5 — great")[0] == 5
    assert judge.parse_rating("评分：3\n理由：部分正确。") == (3, "部分正确。")
    with pytest.raises(LLMParseError) as exc:
        judge.parse_rating("I think it is good.")
    assert exc.value.raw == "I think it is good."
    assert judge.parse_verdict("A is clearer. [[A]]") == "A"
    assert judge.parse_verdict("[[B]] ... final: [[C]]") == "C"
    assert judge.parse_verdict("The answer is: [C].") == "C"
    assert judge.parse_verdict("Assistant B is better because it is polite.") == "B"
    assert judge.parse_verdict("It is a tie.") == "C"
    with pytest.raises(LLMParseError):
        judge.parse_verdict("A wins")


def test_pairwise_orders_cancel_position_bias():
    assert judge.combine_orders("A", "B") == "x"   # x first wins, then x second wins
    assert judge.combine_orders("B", "A") == "y"
    assert judge.combine_orders("A", "A") == "tie"  # always the first position: bias, not preference
    assert judge.combine_orders("C", "A") == "tie"


def test_confidence_final_answers_and_agreement():
    assert confidence.final_answer("so x = 3 and the answer is 42.") == "42"
    assert confidence.final_answer("Natalia sold 48+24 = 72 clips.\n#### 72") == "72"
    assert confidence.final_answer("\\boxed{1,000}") == "1000"
    assert confidence.final_answer("所以答案是 7。") == "7"
    assert confidence.final_answer("Paris.") == "paris"
    assert confidence.agreement(["72", "72", "70"]) == ("72", pytest.approx(2 / 3))
    chat = {"choices": [{"logprobs": {"content": [{"logprob": -0.1}, {"logprob": -0.3}]}}]}
    assert confidence.mean_logprob(chat) == pytest.approx(-0.2)
    comp = {"choices": [{"logprobs": {"token_logprobs": [None, -1.0, -3.0]}}]}
    assert confidence.mean_logprob(comp) == pytest.approx(-2.0)


def test_ifd_span():
    reply = {"choices": [{"logprobs": {"text_offset": [0, 3, 6, 9], "token_logprobs": [None, -1.0, -2.0, -9.0]}}]}
    nll, n = ifd.span_nll(reply, 3, 9)
    assert (nll, n) == (1.5, 2)
    assert ifd.ifd(1.0, 2.0) < 1 < ifd.ifd(2.0, 1.0)
    with pytest.raises(ValueError):
        ifd.span_nll({"choices": [{}]}, 0, 1)
