"""ShareGPT (``conversations`` of ``{"from", "value"}``) with the role tags LLaMA-Factory uses.

======================  ===============================  ===================================
ShareGPT ``from``       internal message                 notes
======================  ===============================  ===================================
``system``              ``system``                       first turn only (or ``system`` column)
``human`` (``user``)    ``user``
``gpt`` (``assistant``, ``assistant`` (a leading ``<think>…</think>`` becomes ``reasoning``)
``chatgpt``, ``bard``,
``bing``, ``model``)
``function_call``       ``assistant`` with ``tool_calls``  value: JSON ``{"name", "arguments"}`` or a list
``observation``         ``tool``                         (``tool``, ``function`` read too)
======================  ===============================  ===================================

Read without options, every alias above is accepted. Read through a ``dataset_info.json`` entry
(``columns``/``tags``), only the tags the entry names (or LLaMA-Factory's defaults) are, as in
LLaMA-Factory. Columns: ``system`` (a system prompt), ``tools`` (JSON tool schemas), ``chosen``
and ``rejected`` (one turn each: a preference), ``kto_tag`` (a KTO label).

Written with LLaMA-Factory's default tags; the system prompt as the first turn. ShareGPT cannot
hold an assistant turn with both text and a function call, or reasoning on a function call
(:class:`FormatError`); tool-call ids and tool names are positional in ShareGPT and are not
written.
"""

from __future__ import annotations

import json
from typing import Any

from datamill.post.formats.common import (assistant_from_text, assistant_text, build, carry, emit, kind_of,
                                          record_id, single_assistant, text, tool_calls_from_json,
                                          tool_calls_to_json, tools_bare, tools_in)
from datamill.post.formats.alpaca import _bool
from datamill.post.formats.errors import FormatError

DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
           "bard": "assistant", "bing": "assistant", "model": "assistant", "system": "system",
           "function_call": "function_call", "observation": "tool", "tool": "tool", "function": "tool"}
DEFAULT_COLUMNS = {"messages": "conversations", "system": "system", "tools": "tools", "chosen": "chosen",
                   "rejected": "rejected", "kto_tag": "kto_tag"}


def _role_map(tags: dict[str, str] | None) -> dict[str, str] | None:
    if tags is None:
        return None
    t = {**DEFAULT_TAGS, **tags}
    return {t["user_tag"]: "user", t["assistant_tag"]: "assistant", t["observation_tag"]: "tool",
            t["function_tag"]: "function_call", t["system_tag"]: "system"}


def _turn(turn: Any, field: str, role_tag: str, content_tag: str, roles: dict[str, str] | None) -> dict[str, Any]:
    if not isinstance(turn, dict):
        raise FormatError(field, f"a turn must be an object, got {type(turn).__name__}")
    if role_tag not in turn and roles is None and "role" in turn:  # lenient: OpenAI-style keys
        role_tag, content_tag = "role", "content"
    tag = turn.get(role_tag)
    role = (roles if roles is not None else ALIASES).get(tag) if isinstance(tag, str) else None
    if role is None:
        known = sorted(roles if roles is not None else ALIASES)
        raise FormatError(f"{field}.{role_tag}", f"unknown role tag {tag!r} (expected one of {', '.join(known)})")
    value = text(turn.get(content_tag), f"{field}.{content_tag}", allow_none=False)
    if role == "assistant":
        return assistant_from_text(value)
    if role == "function_call":
        return {"role": "assistant", "content": "", "tool_calls": tool_calls_from_json(value, f"{field}.{content_tag}")}
    return {"role": role, "content": value}


def to_internal(obj: dict[str, Any], rid: str, *, columns: dict[str, str] | None = None,
                tags: dict[str, str] | None = None, ranking: bool | None = None) -> list[dict[str, Any]]:
    cols = dict(DEFAULT_COLUMNS) if columns is None else {"messages": "conversations", **columns}
    m_col = cols["messages"]
    if columns is None and m_col not in obj and "messages" in obj:
        m_col = "messages"
    t = {**DEFAULT_TAGS, **(tags or {})}
    roles = _role_map(tags)
    turns = obj.get(m_col)
    if not isinstance(turns, list):
        raise FormatError(m_col, "missing: sharegpt needs a list of turns")
    used = {m_col}
    messages = [_turn(x, f"{m_col}[{i}]", t["role_tag"], t["content_tag"], roles) for i, x in enumerate(turns)]
    s_col = cols.get("system")
    if s_col and s_col in obj:
        used.add(s_col)
        system = text(obj[s_col], s_col, allow_none=True)
        if system and not (messages and messages[0]["role"] == "system"):
            messages.insert(0, {"role": "system", "content": system})
    tools = None
    tl_col = cols.get("tools")
    if tl_col and tl_col in obj:
        used.add(tl_col)
        tools = tools_in(obj[tl_col], tl_col)
    rid = record_id(obj, rid)
    c_col, r_col = cols.get("chosen"), cols.get("rejected")
    is_pref = ranking if ranking is not None else bool(c_col and r_col and c_col in obj and r_col in obj)
    if is_pref:
        c_col, r_col = c_col or "chosen", r_col or "rejected"
        sides = []
        for col in (c_col, r_col):
            value = obj.get(col)
            items = value if isinstance(value, list) else [value]
            sides.append([_turn(x, f"{col}[{i}]" if isinstance(value, list) else col, t["role_tag"],
                                t["content_tag"], roles) for i, x in enumerate(items)])
        used |= {c_col, r_col}
        return [build("preference", rid, messages, carry(obj, used), tools=tools, chosen=sides[0],
                      rejected=sides[1])]
    k_col = cols.get("kto_tag")
    if k_col and k_col in obj:
        used.add(k_col)
        label = _bool(obj[k_col], k_col)
        if not messages or messages[-1]["role"] != "assistant":
            raise FormatError(m_col, "a KTO conversation must end with the assistant answer being rated")
        return [build("kto", rid, messages[:-1], carry(obj, used), tools=tools, completion=[messages[-1]],
                      label=label)]
    return [build("sft", rid, messages, carry(obj, used), tools=tools)]


def _turn_out(msg: dict[str, Any], field: str, t: dict[str, str], first: bool) -> dict[str, str]:
    role, rt, ct = msg.get("role"), t["role_tag"], t["content_tag"]
    if role == "system":
        if not first:
            raise FormatError(f"{field}.role", "sharegpt holds one system prompt, first")
        return {rt: t["system_tag"], ct: msg.get("content") or ""}
    if role == "user":
        return {rt: t["user_tag"], ct: msg.get("content") or ""}
    if role == "tool":
        return {rt: t["observation_tag"], ct: msg.get("content") or ""}
    if role == "assistant":
        calls = msg.get("tool_calls")
        if calls:
            if msg.get("content") or msg.get("reasoning") is not None:
                raise FormatError(field, "sharegpt cannot hold text or reasoning and a function call in one "
                                         "assistant turn")
            return {rt: t["function_tag"], ct: tool_calls_to_json(calls)}
        return {rt: t["assistant_tag"], ct: assistant_text(msg, field, "sharegpt")}
    raise FormatError(f"{field}.role", f"sharegpt cannot hold a {role!r} message")


def from_internal(record: dict[str, Any], *, keep_extra: bool = True, tags: dict[str, str] | None = None,
                  columns: dict[str, str] | None = None) -> dict[str, Any]:
    kind = kind_of(record, "sharegpt", ("sft", "preference", "kto"))
    t = {**DEFAULT_TAGS, **(tags or {})}
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    msgs = list(record.get("messages") or [])
    if kind == "kto":
        msgs += [single_assistant(record.get("completion") or [], "completion", "sharegpt")]
    conv = [_turn_out(m, f"messages[{i}]", t, i == 0) for i, m in enumerate(msgs)]
    out: dict[str, Any] = {cols["messages"]: conv}
    if kind == "preference":
        out[cols["chosen"]] = _turn_out(single_assistant(record.get("chosen") or [], "chosen", "sharegpt"),
                                        "chosen[0]", t, False)
        out[cols["rejected"]] = _turn_out(single_assistant(record.get("rejected") or [], "rejected", "sharegpt"),
                                          "rejected[0]", t, False)
    elif kind == "kto":
        out[cols["kto_tag"]] = bool(record.get("label"))
    if record.get("tools"):
        out[cols["tools"]] = json.dumps(tools_bare(record["tools"]), ensure_ascii=False)
    return emit(out, record, keep_extra)
