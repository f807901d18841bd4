"""Does an answer look cut mid-sentence? The heuristic behind ``truncated_response``."""

from __future__ import annotations

import re

_CLOSERS = frozenset(")]}\"'”’»›」』）】〕》〉`*_|>~$")
_OPEN_ENDINGS = frozenset(",;:([{-–—，、：；（《「『【")
_CODE_CHARS = re.compile(r"[(){}=<>\[\]]")
_DANGLING = frozenset(
    "the a an and or but nor of to in on at for with from by as that which who whose whom is "
    "are was were be been will would can could should shall may might must my your his her their "
    "our its this these those than if because while when where into onto about over under "
    "between through during such very also not no so some any each every".split())
_WORD_END = re.compile(r"([A-Za-z]+)\W*$")
_LIST_OR_CODE = re.compile(r"^\s*(?:[-*+•]\s|\d+[.)]\s|#|\||```|    |\t|>)")
_URLISH = re.compile(r"(?:https?://|www\.|#)\S+$")   # a URL or a #hashtag last
_TRAILING_ENTITY = re.compile(r"(?:&(?:quot|apos|amp|gt|lt|nbsp|#\d+);)+$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def truncation_reason(text: str) -> str | None:
    """Why ``text`` seems cut mid-sentence, or None. Short answers without a full stop
    ("Paris", "42") pass; a dangling connective, an open bracket or comma at the end, an
    unclosed code block, or a long prose line with no sentence end do not."""
    from datamill.text.words import TERMINAL_PUNCTUATION

    t = text.rstrip()
    if not t:
        return None
    if t[-1] == ";":  # a trailing HTML entity (&quot;) is not a semicolon
        m = _TRAILING_ENTITY.search(t, max(0, len(t) - 120))
        if m:
            t = t[:m.start()].rstrip()
            if not t:
                return None
    if t.count("```") % 2 == 1:
        return "it ends inside an unclosed ``` code block"
    last = t[-1]
    if last in TERMINAL_PUNCTUATION or last in _CLOSERS:
        return None
    line = t.rsplit("\n", 1)[-1].strip()
    n_words = len(line.split())
    if last in _OPEN_ENDINGS:
        if (last == ":" and n_words < 2) or (last == ";" and _CODE_CHARS.search(line)):
            return None  # "Answer:" alone, or a line of code
        return f"it ends with {last!r}"
    if _URLISH.search(line) or _LIST_OR_CODE.match(line):
        return None
    m = _WORD_END.search(line)
    if m and n_words >= 3 and m.group(1).lower() in _DANGLING and line[-1].isalpha():
        return f"it ends with the word {m.group(1)!r}"
    if _CJK.search(last):
        return None  # CJK answers often end without 。; only the open endings above count
    if last.isalpha() and n_words >= 12 and len(line) >= 80 and line.count(":") < 2:
        return "its last sentence has no ending punctuation"
    return None


