"""Evol-Instruct (Xu et al. 2023, WizardLM): rewrite an instruction into a harder one (in-depth)
or a new one of the same domain (in-breadth), and the paper's elimination rules.

The wording of the prompts is ours; the operations and rules are the paper's.
"""

from __future__ import annotations

import re

from datamill.llm.rouge import rouge_l

VERSION = "evol_instruct/v1"

DEPTH = {
    "constraints": "Add exactly one new constraint or requirement to the task.",
    "deepen": "If the task asks about a particular matter, make the question go deeper and wider into it.",
    "concretize": "Replace general ideas in the task with more specific, concrete ones.",
    "reasoning": "If the task can be solved in one or two simple steps, rewrite it so that it explicitly "
                 "needs several steps of reasoning.",
    "complicate_input": "Add concrete input data to the task (a table, a code snippet, a list of numbers or "
                        "a short passage) that the answer must use.",
}
BREADTH = {"breadth": "Write a brand-new task in the same domain as the given one, about a rarer topic, "
                      "of similar length and difficulty."}
OPERATIONS = {**DEPTH, **BREADTH}

_PROMPT_EN = ("You rewrite tasks for an AI assistant so that they become harder, while staying reasonable "
              "and answerable by a person. Keep any input that belongs to the task. Add at most 10 to 20 "
              "words. Do not mention these rules.\n\nHow to rewrite: {method}\n\nTask:\n{instruction}\n\n"
              "Write only the rewritten task.")
_PROMPT_ZH = ("你负责改写给 AI 助手的任务，让它更难，但仍然合理、人能回答。保留任务原有的输入。最多增加 10 到 20 个词。"
              "不要提到这些规则。\n\n改写方法：{method}\n\n任务：\n{instruction}\n\n只写出改写后的任务。")

# words of the rewriting prompt that must not leak into the new task (elimination rule 4)
TEMPLATE_WORDS = re.compile(r"#?\s*(?:given|rewritten|created|original)\s+(?:prompt|task)\s*#?|"
                            r"rewritten task|how to rewrite|改写后的任务|给定的任务", re.I)
_REFUSAL = re.compile(r"\b(?:sorry|apologi[sz]e|cannot|can't|unable to)\b|抱歉|对不起|无法", re.I)
_STOP = set("a an the of to and or in on at is are be it this that for with as by".split())


def build_prompt(instruction: str, operation: str, chinese: bool = False) -> str:
    return (_PROMPT_ZH if chinese else _PROMPT_EN).format(method=OPERATIONS[operation], instruction=instruction)


def clean(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^(?:#?\s*(?:rewritten|new)\s+(?:prompt|task)\s*#?\s*[:：]?|改写后的任务[:：])\s*", "", text, flags=re.I)
    return text.strip().strip('"').strip()


def eliminate(original: str, evolved: str, response: str | None, *, same_threshold: float = 0.9,
              min_response_words: int = 80) -> str | None:
    """WizardLM's elimination rules; None to keep, else the reason:

    1. ``no_information_gain`` — the evolved task is (nearly) the original (ROUGE-L >= 0.9;
       the paper asks ChatGPT, we measure overlap);
    2. ``refusal`` — the answer to it apologises/refuses and is short (< 80 words);
    3. ``only_punctuation`` — the answer has only punctuation and stop words;
    4. ``template_words`` — the task copies words of the rewriting prompt ("#Rewritten Prompt#").
    """
    if not evolved.strip() or rouge_l(original, evolved) >= same_threshold:
        return "no_information_gain"
    if TEMPLATE_WORDS.search(evolved):
        return "template_words"
    if response is not None:
        words = re.findall(r"\w+", response.lower())
        if _REFUSAL.search(response) and len(words) < min_response_words:
            return "refusal"
        if not [w for w in words if w not in _STOP]:
            return "only_punctuation"
    return None
