"""Which text of a post-training record a cleaning step looks at (the walkers live in
:mod:`datamill.post.walk`; this module re-exports them for the steps, and adds
:func:`strip_code` and :func:`set_signals`).

* the **prompt**: the last user turn (:func:`datamill.post.schema.prompt_text`), or every user
  turn, or the whole prompt side with roles (:func:`prompt_key`);
* the **answers being taught** (:func:`taught_answers`): an SFT chat's assistant turns (the
  last one, or all), the chosen side of a preference pair, a KTO completion labelled desirable,
  the best-ranked response. With ``include_rejected`` also rejected, undesirable and lower-ranked
  answers, for checks that concern every text (a leaked template token is a processing bug on
  either side; a refusal in ``rejected`` is what the pair is about).
"""

from __future__ import annotations

import re
from typing import Any

from datamill.post.walk import PROMPT_MODES, prompt_key, taught_answers  # noqa: F401  (re-exported)

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)


def strip_code(text: str) -> str:
    """``text`` without fenced code blocks (code repeats itself and confuses language ID)."""
    return _FENCE.sub(" ", text) if "```" in text else text


_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$|^\s*[^|\n]*(?:\|[^|\n]*){2,}$")
_TABLE_RULE = re.compile(r"^\s*[+|:=\-\s]{3,}$")
_CODE_START = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|if \(|for \(|while \(|#include|"
    r"public |private |static |const |let |var |function\b|print\(|console\.|SELECT |INSERT |"
    r"\$ |>>> |<\/?[a-zA-Z][^>]*>$)")
_CODE_END = re.compile(r"[;{}]\s*$|^\s*[})\]]+[;,]?\s*$")
_SYMBOLS = re.compile(r"[{}()\[\];=<>_$\\/*+&|^%#@`]")
_NBSP_ZW = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2007": " ", "\u200b": None,
                          "\ufeff": None, "\u2060": None})


def is_code_line(line: str) -> bool:
    """A line that looks like program code or a shell/REPL line rather than prose."""
    t = line.strip()
    if not t:
        return False
    if line.startswith(("    ", "\t")) or _CODE_START.match(t) or _CODE_END.search(t):
        return True
    letters = sum(ch.isalpha() for ch in t)
    return len(t) >= 6 and len(_SYMBOLS.findall(t)) >= max(3, 0.15 * len(t)) and letters < 0.6 * len(t)


def is_table_line(line: str) -> bool:
    """A Markdown or ASCII table row or rule (``| a | b |``, ``+---+---+``, ``|---|:--:|``)."""
    return bool(_TABLE_ROW.match(line) or (("-" in line or "=" in line) and _TABLE_RULE.match(line)))


def prose_only(text: str) -> str:
    """``text`` without code (fenced blocks and code-like lines), tables and no-break or
    zero-width characters: what language ID and repetition checks should look at."""
    text = strip_code(text).translate(_NBSP_ZW)
    if "\n" not in text and not is_table_line(text) and not is_code_line(text):
        return text
    return "\n".join(l for l in text.split("\n") if not is_table_line(l) and not is_code_line(l))


def set_signals(record: dict, label: str, **values: Any) -> None:
    """Write ``values`` under ``record["signals"][label]`` (the step's label: the layout every
    step uses, docs/pipelines.md)."""
    sig = record.get("signals")
    if sig is None:
        sig = record["signals"] = {}
    mine = sig.get(label)
    if isinstance(mine, dict):
        mine.update(values)
    else:
        sig[label] = dict(values)


def side_language(record: dict, side: str) -> str | None:
    """The language ``post_language`` measured for ``side`` (``prompt``/``response``), from
    ``signals.post_language`` (or the flat key of outputs written before the layout)."""
    sig = record.get("signals") or {}
    mine = sig.get("post_language")
    lang = mine.get(f"{side}_language") if isinstance(mine, dict) else None
    if lang is None:
        lang = sig.get(f"{side}_language")
    return lang if isinstance(lang, str) else None
