"""LLM-as-judge prompts: UltraFeedback-style ratings (1-5 with a rationale, one criterion at a
time, with a rubric) and MT-Bench-style pairwise verdicts ([[A]], [[B]] or [[C]] for a tie).

Rubrics are ours, written after UltraFeedback's four aspects; users pass their own with the
step's ``criteria`` parameter (name -> rubric text).
"""

from __future__ import annotations

import re

from datamill.llm.errors import LLMParseError

VERSION = "llm_judge/v1"

CRITERIA = {
    "helpfulness": "5: fully answers the request, accurate and informative; 4: helpful with small gaps; "
                   "3: partly helpful; 2: mostly unhelpful or off-topic; 1: useless, wrong or harmful.",
    "honesty": "5: correct and states uncertainty where there is some; 4: correct, slightly over-confident; "
               "3: hedges without need or small errors stated confidently; 2: confidently wrong in parts; "
               "1: confidently wrong or deceptive.",
    "instruction_following": "5: follows every part of the instruction and its constraints; 4: minor "
                             "deviation; 3: follows some parts; 2: mostly ignores it; 1: does something else.",
    "truthfulness": "5: no invented facts; 4: one small inaccuracy; 3: some made-up or contradictory "
                    "details; 2: many; 1: mostly invented.",
}

_RATE = ("Rate the assistant's answer for {criterion}.\nScale: {rubric}\n\n[Question]\n{question}\n\n"
         "[Answer]\n{answer}\n\nReply in exactly this format:\nRating: <1-5>\nRationale: <one sentence>")
_PAIR = ("Which assistant answers the user's question better? Judge helpfulness, correctness and "
         "harmlessness; ignore the order and the length of the answers.\n\n[Question]\n{question}\n\n"
         "[Assistant A]\n{a}\n\n[Assistant B]\n{b}\n\nGive a short explanation, then the verdict on the "
         "last line: [[A]] if A is better, [[B]] if B is better, [[C]] for a tie.")

_RATING = re.compile(r"(?:rating|score|评分)\s*[:：]?\s*\**\s*([1-5])(?:\s*/\s*5)?", re.I)
_LONE = re.compile(r"^\s*\**\s*([1-5])\s*(?:/\s*5)?\s*\**\s*(?:$|[.\n])")
_RATIONALE = re.compile(r"(?:rationale|reason|理由)\s*[:：]\s*(.+)", re.I | re.S)
_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")
# small models often drop a bracket or write the verdict in words: accepted as a fallback
_VERDICT_LOOSE = re.compile(r"\[\s*([ABC])\s*\]|\b(?:assistant|answer)\s+([AB])\s+is\s+(?:better|the better)|"
                            r"\b(tie)\b", re.I)


def rating_prompt(question: str, answer: str, criterion: str, rubric: str) -> str:
    return _RATE.format(criterion=criterion.replace("_", " "), rubric=rubric, question=question, answer=answer)


def parse_rating(text: str) -> tuple[int, str]:
    """(rating 1-5, rationale); raises :class:`LLMParseError` with the raw text."""
    m = _RATING.search(text) or _LONE.search(text)
    if not m:
        raise LLMParseError("no 'Rating: 1-5' in the judge's reply", raw=text)
    r = _RATIONALE.search(text)
    rationale = (r.group(1) if r else text[m.end():]).strip().split("\n")[0][:500]
    return int(m.group(1)), rationale


def pairwise_prompt(question: str, a: str, b: str) -> str:
    return _PAIR.format(question=question, a=a, b=b)


def parse_verdict(text: str) -> str:
    """'A', 'B' or 'C' (tie): the last [[X]] in the reply; failing that the last [X],
    "Assistant X is better" or "tie"."""
    found = _VERDICT.findall(text)
    if found:
        return found[-1]
    loose = _VERDICT_LOOSE.findall(text)
    if loose:
        a, b, tie = loose[-1]
        return (a or b).upper() if (a or b) else "C"
    raise LLMParseError("no [[A]], [[B]] or [[C]] verdict in the judge's reply", raw=text)


def combine_orders(first: str, second: str) -> str:
    """Verdicts of (x as A, y as B) and (y as A, x as B) -> 'x', 'y' or 'tie'. Disagreement
    between the two orders is position bias, recorded as a tie (MT-Bench's conservative rule)."""
    x1 = {"A": "x", "B": "y", "C": "tie"}[first]
    x2 = {"A": "y", "B": "x", "C": "tie"}[second]
    return x1 if x1 == x2 else "tie"
