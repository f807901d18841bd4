"""Which text of a post-training record a cleaning step looks at.

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

from datamill.post.schema import prompt_text
from datamill.post.validate import message_text

PROMPT_MODES = ("last_user", "all_user", "full")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)


def prompt_key(record: dict, mode: str = "last_user") -> str:
    """The prompt as one string: the last user turn, every user turn, or the full prompt side
    (system, user, earlier assistant and tool turns, with their roles)."""
    if mode == "last_user":
        return prompt_text(record)
    msgs = record.get("messages") or []
    if record.get("kind", "sft") == "sft":  # the final assistant answer is not prompt
        end = len(msgs)
        while end and isinstance(msgs[end - 1], dict) and msgs[end - 1].get("role") == "assistant":
            end -= 1
        msgs = msgs[:end]
    if mode == "all_user":
        return "\n".join(m.get("content") or "" for m in msgs
                         if isinstance(m, dict) and m.get("role") == "user")
    if mode == "full":
        return "\n".join(f"{m.get('role')}: {message_text(m)}" for m in msgs if isinstance(m, dict))
    raise ValueError(f"prompt mode must be one of {', '.join(PROMPT_MODES)}, not {mode!r}")


def _assistant_turns(msgs: Any, name: str, all_turns: bool) -> list[tuple[str, str]]:
    if not isinstance(msgs, list):
        return []
    found = [(f"{name}[{i}].content", m.get("content") or "") for i, m in enumerate(msgs)
             if isinstance(m, dict) and m.get("role") == "assistant"
             and isinstance(m.get("content") or "", str)]
    return found if all_turns else found[-1:]


def taught_answers(record: dict, *, all_turns: bool = False,
                   include_rejected: bool = False) -> list[tuple[str, str]]:
    """``(field, text)`` of the assistant answers a record teaches (see the module doc)."""
    kind = record.get("kind", "sft")
    if kind == "sft":
        return _assistant_turns(record.get("messages"), "messages", all_turns)
    if kind == "preference":
        out = _assistant_turns(record.get("chosen"), "chosen", all_turns)
        if include_rejected:
            out += _assistant_turns(record.get("rejected"), "rejected", all_turns)
        return out
    if kind == "kto":
        if record.get("label") is True or include_rejected:
            return _assistant_turns(record.get("completion"), "completion", all_turns)
        return []
    if kind == "ranking":
        responses = record.get("responses") or []
        order = sorted(range(len(responses)),
                       key=lambda i: (responses[i].get("rank", 1 << 30) if isinstance(responses[i], dict) else 1 << 30, i))
        out = []
        for i in order if include_rejected else order[:1]:
            r = responses[i]
            if isinstance(r, dict):
                out += _assistant_turns(r.get("messages"), f"responses[{i}].messages", all_turns)
        return out
    return []


def strip_code(text: str) -> str:
    """``text`` without fenced code blocks (code repeats itself and confuses language ID)."""
    return _FENCE.sub(" ", text) if "```" in text else text


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
