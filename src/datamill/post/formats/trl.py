"""TRL's dataset types, standard (strings) and conversational (message lists), and hh-rlhf.

=====================  =========================================  ==================
TRL type               columns                                    internal kind
=====================  =========================================  ==================
language modeling      ``messages`` (conversational only)         ``sft``
prompt-completion      ``prompt``, ``completion``                 ``sft``
preference (explicit)  ``prompt``, ``chosen``, ``rejected``       ``preference``
preference (implicit)  ``chosen``, ``rejected`` (whole dialogues)  ``preference``
unpaired preference    ``prompt``, ``completion``, ``label``      ``kto``
=====================  =========================================  ==================

Reading (``trl``) takes every type above, standard or conversational, row by row. A standard
prompt is one user turn and a standard completion one assistant turn (a leading
``<think>…</think>`` is the reasoning). An implicit prompt is split off as the longest run of
equal leading messages (conversational) or the longest common prefix (standard), each side
keeping at least its last message / one character. ``text`` (pretraining), prompt-only and
stepwise-supervision rows are a :class:`FormatError`.

Writing: ``trl`` is conversational with an explicit prompt (``messages`` for SFT,
``prompt``/``chosen``/``rejected``, ``prompt``/``completion``/``label``); ``trl_implicit``
writes preferences as two whole dialogues; ``trl_standard`` and ``trl_standard_implicit`` write
strings, so they hold one user turn and one assistant turn without system prompt or tools. In
``trl_standard_implicit`` the prompt/answer boundary is not kept (TRL's own format has none).

``hh_rlhf``: Anthropic's ``{"chosen": "\\n\\nHuman: …\\n\\nAssistant: …", "rejected": …}``. The
dialogues are cut at ``\\n\\nHuman: `` / ``\\n\\nAssistant: ``, the shared leading turns become the
prompt and the differing last turn(s) chosen/rejected; written back byte for byte.
"""

from __future__ import annotations

import re
from typing import Any

from datamill.post.formats.alpaca import _bool
from datamill.post.formats.common import (assistant_from_text, assistant_text, build, carry, common_prefix,
                                          kind_of, no_tools, emit, only_roles, record_id, single_assistant,
                                          split_implicit, text, tools_in)
from datamill.post.formats.errors import FormatError
from datamill.post.formats.openai import message_out, messages_in

WRITE_VARIANTS = {"trl": (True, True), "trl_implicit": (True, False), "trl_standard": (False, True),
                  "trl_standard_implicit": (False, False)}  # name -> (conversational, explicit prompt)


def _side(value: Any, field: str, role: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [assistant_from_text(value) if role == "assistant" else {"role": role, "content": value}]
    return messages_in(value, field)


def to_internal(obj: dict[str, Any], rid: str) -> list[dict[str, Any]]:
    rid = record_id(obj, rid)
    tools = tools_in(obj.get("tools"), "tools")
    keys = set(obj)
    if "chosen" in keys and "rejected" in keys:
        if "prompt" in keys:
            prompt = _side(obj["prompt"], "prompt", "user")
            chosen = _side(obj["chosen"], "chosen", "assistant")
            rejected = _side(obj["rejected"], "rejected", "assistant")
        elif isinstance(obj["chosen"], str) and isinstance(obj["rejected"], str):
            c, r = obj["chosen"], obj["rejected"]
            n = min(common_prefix(c, r), len(c) - 1, len(r) - 1)
            if n <= 0:
                raise FormatError("chosen", "an implicit-prompt pair needs a shared prompt and non-empty answers")
            prompt = [{"role": "user", "content": c[:n]}]
            chosen, rejected = [assistant_from_text(c[n:])], [assistant_from_text(r[n:])]
        else:
            prompt, chosen, rejected = split_implicit(messages_in(obj["chosen"], "chosen"),
                                                      messages_in(obj["rejected"], "rejected"))
        return [build("preference", rid, prompt, carry(obj, ("prompt", "chosen", "rejected", "tools")),
                      tools=tools, chosen=chosen, rejected=rejected)]
    if "prompt" in keys and "completion" in keys:
        prompt = _side(obj["prompt"], "prompt", "user")
        completion = _side(obj["completion"], "completion", "assistant")
        if "label" in keys:
            return [build("kto", rid, prompt, carry(obj, ("prompt", "completion", "label", "tools")), tools=tools,
                          completion=completion, label=_bool(obj["label"], "label"))]
        return [build("sft", rid, prompt + completion, carry(obj, ("prompt", "completion", "tools")), tools=tools)]
    if "messages" in keys:
        return [build("sft", rid, messages_in(obj["messages"], "messages"), carry(obj, ("messages", "tools")),
                      tools=tools)]
    if "completions" in keys or "labels" in keys:
        raise FormatError("completions", "stepwise-supervision rows are not supported")
    if "text" in keys:
        raise FormatError("text", "a language-modeling text row is pretraining data, not a post-training record")
    if "prompt" in keys:
        raise FormatError("prompt", "prompt-only rows have no answer to train on")
    raise FormatError("", f"not a TRL row: keys {sorted(keys)}")


def _standard_prompt(msgs: list[dict], fmt: str) -> str:
    only_roles(msgs, "messages", fmt, ("user",))
    if len(msgs) != 1:
        raise FormatError("messages", f"{fmt} holds a single user turn as the prompt, got {len(msgs)} messages")
    return msgs[0].get("content") or ""


def from_internal(record: dict[str, Any], *, variant: str = "trl", keep_extra: bool = True) -> dict[str, Any]:
    conversational, explicit = WRITE_VARIANTS[variant]
    kind = kind_of(record, variant, ("sft", "preference", "kto"))
    msgs = list(record.get("messages") or [])
    out: dict[str, Any] = {}
    if conversational:
        def conv(ms: list[dict]) -> list[dict]:
            return [message_out(m, arguments_as="object") for m in ms]
        if kind == "sft":
            out["messages"] = conv(msgs)
        elif kind == "kto":
            out.update(prompt=conv(msgs), completion=conv(record.get("completion") or []),
                       label=bool(record.get("label")))
        elif explicit:
            out.update(prompt=conv(msgs), chosen=conv(record.get("chosen") or []),
                       rejected=conv(record.get("rejected") or []))
        else:
            out.update(chosen=conv(msgs + list(record.get("chosen") or [])),
                       rejected=conv(msgs + list(record.get("rejected") or [])))
        if record.get("tools"):
            out["tools"] = record["tools"]
        return emit(out, record, keep_extra)
    no_tools(record, variant)
    if kind == "sft":
        if len(msgs) != 2:
            raise FormatError("messages", f"{variant} holds one user turn and one answer, got {len(msgs)} messages")
        prompt = _standard_prompt(msgs[:1], variant)
        out.update(prompt=prompt, completion=assistant_text(single_assistant(msgs[1:], "messages", variant),
                                                            "messages[1]", variant))
        return emit(out, record, keep_extra)
    prompt = _standard_prompt(msgs, variant)
    if kind == "kto":
        ans = single_assistant(record.get("completion") or [], "completion", variant)
        out.update(prompt=prompt, completion=assistant_text(ans, "completion[0]", variant),
                   label=bool(record.get("label")))
        return emit(out, record, keep_extra)
    chosen = assistant_text(single_assistant(record.get("chosen") or [], "chosen", variant), "chosen[0]", variant)
    rejected = assistant_text(single_assistant(record.get("rejected") or [], "rejected", variant), "rejected[0]",
                              variant)
    if explicit:
        out.update(prompt=prompt, chosen=chosen, rejected=rejected)
    else:
        out.update(chosen=prompt + chosen, rejected=prompt + rejected)
    return emit(out, record, keep_extra)


# --- hh-rlhf ----------------------------------------------------------------------------------

_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")
_HH_TAG = {"user": "Human", "assistant": "Assistant"}


def hh_dialogue(value: Any, field: str) -> list[dict[str, Any]]:
    """``"\\n\\nHuman: …\\n\\nAssistant: …"`` to messages (content kept verbatim)."""
    s = text(value, field)
    parts = _HH_TURN.split(s)
    if parts[0] != "" or len(parts) < 3:
        raise FormatError(field, "an hh-rlhf dialogue starts with '\\n\\nHuman: '")
    return [assistant_from_text(parts[i + 1]) if parts[i] == "Assistant" else {"role": "user", "content": parts[i + 1]}
            for i in range(1, len(parts), 2)]


def hh_to_internal(obj: dict[str, Any], rid: str) -> list[dict[str, Any]]:
    prompt, chosen, rejected = split_implicit(hh_dialogue(obj.get("chosen"), "chosen"),
                                              hh_dialogue(obj.get("rejected"), "rejected"))
    return [build("preference", record_id(obj, rid), prompt, carry(obj, ("chosen", "rejected")), chosen=chosen,
                  rejected=rejected)]


def hh_from_internal(record: dict[str, Any], *, keep_extra: bool = True) -> dict[str, Any]:
    fmt = "hh_rlhf"
    kind_of(record, fmt, ("preference",))
    no_tools(record, fmt)
    out = {}
    for side in ("chosen", "rejected"):
        msgs = list(record.get("messages") or []) + list(record.get(side) or [])
        only_roles(msgs, side, fmt, ("user", "assistant"))
        out[side] = "".join(f"\n\n{_HH_TAG[m['role']]}: "
                            + (assistant_text(m, side, fmt) if m["role"] == "assistant" else m.get("content") or "")
                            for m in msgs)
    return emit(out, record, keep_extra)
