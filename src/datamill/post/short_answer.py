"""Short answers that are right: classification labels, multiple-choice letters, yes/no, numbers.

A minimum answer length is a good net for truncated or empty generations, but "否", "D" and "3"
are complete, correct answers to a yes/no question, a multiple-choice question and a sum. On a
Chinese SFT/preference set every one of those was dropped by a 2-character minimum.
:func:`short_answer_kind` says why a short answer is acceptable for its prompt, or None:

* ``number`` — the answer is a number or a short arithmetic result (``3``, ``-1``, ``3.5%``,
  ``等于2``);
* ``choice`` — a single option letter or numeral (``D``, ``(B)``, ``B.``, ``选C``) and the prompt
  lists options (``A.``/``(A)``/``A、``/``A:`` lines, ``Options:``, ``选项``);
* ``yes_no`` — a yes/no word in English or Chinese (``yes``, ``No.``, ``是``, ``否``, ``不会``,
  ``对``, ``正确``, ``不是``…);
* ``label`` — the answer (without its final punctuation) appears in the prompt, as the labels
  of a classification prompt do ("将…分类为正义或邪恶" → "正义。");
* ``classification`` — the record says it is one (self-instruct's ``is_classification``), or the
  prompt asks for a label or a one-word answer (classify, categorize, which of the following,
  true or false, one word; 分类, 判断, 选择, 一个字, 一个词, 是否, …吗？).
"""

from __future__ import annotations

import re

_STRIP = " \t\n\r。．.!！?？,，、:：;；\"'“”‘’「」『』()（）[]【】*`"
_NUMBER = re.compile(r"^(?:等于|是|答案是|答案[:：]?|=)?\s*[-+−]?\d[\d,，]*(?:[.．]\d+)?\s*(?:%|％|个|次|天|元|岁)?$")
_CHOICE = re.compile(r"^(?:选|选择|答案[是为:：]?|answer[: ]*|option\s*)?[(（\[]?([A-Ha-h]|[1-9])[)）\]]?$", re.I)
_OPTIONS = re.compile(r"(?:^|\n|\s)[(（\[]?[A-Da-d][)）\].、:：]\s*\S|options?\s*[:：]|选项|choices?\s*[:：]", re.I)
_YES_NO = frozenset("""yes no true false correct incorrect right wrong
是 否 对 错 不 不是 是的 不对 对的 正确 错误 能 不能 会 不会 有 没有 可以 不可以 行 不行 好 不好 真 假
会的 能的 有的 没有的""".split())
_CUES = re.compile(
    r"classif|categori[sz]e|which (?:one|of the following)|true or false|yes or no|one word|"
    r"single word|multiple[- ]choice|sentiment|label|choose|select the|"
    r"分类|归类|判断|选择|选出|哪一个|哪个选项|一个字|一个词|一个单词|是否|是不是|对不对|对吗|"
    r"真假|正确与否|情感|标签|多少|几个|等于几|是几|[吗么][?？]?\s*$", re.I)


def short_answer_kind(prompt: str, answer: str, *, is_classification: bool = False) -> str | None:
    """Why ``answer`` may be short for ``prompt`` (see the module doc), or None."""
    a = answer.strip().strip(_STRIP)
    if not a:
        return None
    low = a.lower()
    if _NUMBER.match(a):
        return "number"
    if low in _YES_NO:
        return "yes_no"
    p = prompt or ""
    m = _CHOICE.match(a)
    if m and _OPTIONS.search(p):
        return "choice"
    if 2 <= len(a) <= 20 and a.lower() in p.lower():
        return "label"
    if is_classification or _CUES.search(p):
        return "classification"
    return None


def record_is_classification(record: dict) -> bool:
    """True when the record says it is a classification task (self-instruct seeds)."""
    meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    extra = meta.get("extra") if isinstance(meta.get("extra"), dict) else {}
    return bool(extra.get("is_classification") or meta.get("is_classification"))
