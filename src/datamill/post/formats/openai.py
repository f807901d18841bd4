"""OpenAI chat messages: ``{"messages": [...], "tools": [...]}`` (fine-tuning JSONL, TRL's
conversational language modeling, LLaMA-Factory's OpenAI-style sharegpt).

Messages keep ``role``/``content``/``tool_calls``/``tool_call_id``/``name``; ``developer`` reads as
``system``; content may be a list of text parts (joined); reasoning is ``reasoning_content``
(``reasoning`` is read too). Tool calls are OpenAI style
(``{"id", "type": "function", "function": {"name", "arguments": "<JSON>"}}``); calls and tool
results without ids get positional ids (``call_<turn>_<k>``) when written.

Besides SFT this format holds KTO as ``{"messages": [... answer], "label": bool}`` (LLaMA-Factory's
KTO demo) and preference pairs in OpenAI's preference fine-tuning shape
``{"input": {"messages", "tools"}, "preferred_output": [...], "non_preferred_output": [...]}``.
Images, audio and other non-text parts, or message keys the schema has no place for (``weight``),
are a :class:`FormatError`.
"""

from __future__ import annotations

from typing import Any

from datamill.post.formats.alpaca import _bool
from datamill.post.formats.common import (build, carry, dump_arguments, emit, kind_of, record_id,
                                          single_assistant, tool_call, tools_in)
from datamill.post.formats.errors import FormatError

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_MSG_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name", "reasoning_content", "reasoning"}


def _content(value: Any, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for i, part in enumerate(value):
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise FormatError(f"{field}[{i}]", f"only text content is supported, got a {kind!r} part")
        return "".join(parts)
    raise FormatError(field, f"expected a string or a list of text parts, got {type(value).__name__}")


def message_in(msg: Any, field: str) -> dict[str, Any]:
    if not isinstance(msg, dict):
        raise FormatError(field, f"a message must be an object, got {type(msg).__name__}")
    role = ROLES.get(msg.get("role")) if isinstance(msg.get("role"), str) else None
    if role is None:
        raise FormatError(f"{field}.role", f"unknown role {msg.get('role')!r} (expected system, user, "
                                           f"assistant or tool)")
    for key in msg:
        if key not in _MSG_KEYS:
            raise FormatError(f"{field}.{key}", f"message key {key!r} has no place in the datamill schema")
    out: dict[str, Any] = {"role": role, "content": _content(msg.get("content"), f"{field}.content")}
    reasoning = msg.get("reasoning_content", msg.get("reasoning"))
    if reasoning is not None:
        if not isinstance(reasoning, str):
            raise FormatError(f"{field}.reasoning_content", "expected a string")
        out["reasoning"] = reasoning
    calls = msg.get("tool_calls")
    if calls:
        if role != "assistant" or not isinstance(calls, list):
            raise FormatError(f"{field}.tool_calls", "tool calls must be a list on an assistant message")
        out["tool_calls"] = [tool_call(c, f"{field}.tool_calls[{k}]") for k, c in enumerate(calls)]
    for key in ("tool_call_id", "name"):
        if msg.get(key) is not None:
            if not isinstance(msg[key], str):
                raise FormatError(f"{field}.{key}", "expected a string")
            out[key] = msg[key]
    return out


def messages_in(value: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise FormatError(field, "expected a list of messages")
    return [message_in(m, f"{field}[{i}]") for i, m in enumerate(value)]


def message_out(msg: dict[str, Any], *, arguments_as: str = "json") -> dict[str, Any]:
    out: dict[str, Any] = {"role": msg["role"], "content": msg.get("content") or ""}
    if msg.get("reasoning") is not None:
        out["reasoning_content"] = msg["reasoning"]
    if msg.get("tool_calls"):
        if not out["content"]:
            out["content"] = None
        calls = []
        for c in msg["tool_calls"]:
            args = c.get("arguments", {})
            call: dict[str, Any] = {"type": "function", "function": {
                "name": c["name"], "arguments": dump_arguments(args) if arguments_as == "json" else args}}
            if c.get("id"):
                call = {"id": c["id"], **call}
            calls.append(call)
        out["tool_calls"] = calls
    for key in ("tool_call_id", "name"):
        if msg.get(key) is not None:
            out[key] = msg[key]
    return out


def fill_call_ids(messages: list[dict[str, Any]]) -> None:
    """Give tool calls and tool results without ids positional ones, so they pair up."""
    pending: list[str] = []
    for i, m in enumerate(messages):
        if m.get("tool_calls"):
            pending = []
            for k, c in enumerate(m["tool_calls"]):
                if not c.get("id"):
                    c["id"] = f"call_{i}_{k}"
                pending.append(c["id"])
        elif m.get("role") == "tool":
            if not m.get("tool_call_id") and pending:
                m["tool_call_id"] = pending[0]
            if m.get("tool_call_id") in pending:
                pending.remove(m["tool_call_id"])


def to_internal(obj: dict[str, Any], rid: str) -> list[dict[str, Any]]:
    rid = record_id(obj, rid)
    if "input" in obj and "preferred_output" in obj:
        inp = obj["input"]
        if not isinstance(inp, dict):
            raise FormatError("input", "expected an object with messages")
        prompt = messages_in(inp.get("messages"), "input.messages")
        tools = tools_in(inp.get("tools"), "input.tools")
        chosen = messages_in(obj.get("preferred_output"), "preferred_output")
        rejected = messages_in(obj.get("non_preferred_output"), "non_preferred_output")
        return [build("preference", rid, prompt, carry(obj, ("input", "preferred_output", "non_preferred_output")),
                      tools=tools, chosen=chosen, rejected=rejected)]
    if "messages" not in obj:
        raise FormatError("messages", "missing: the openai format needs a list of messages")
    messages = messages_in(obj["messages"], "messages")
    tools = tools_in(obj.get("tools"), "tools")
    if "label" in obj:
        label = _bool(obj["label"], "label")
        if not messages or messages[-1]["role"] != "assistant":
            raise FormatError("messages", "a KTO conversation must end with the assistant answer being rated")
        return [build("kto", rid, messages[:-1], carry(obj, ("messages", "tools", "label")), tools=tools,
                      completion=[messages[-1]], label=label)]
    return [build("sft", rid, messages, carry(obj, ("messages", "tools")), tools=tools)]


def from_internal(record: dict[str, Any], *, keep_extra: bool = True) -> dict[str, Any]:
    kind = kind_of(record, "openai", ("sft", "preference", "kto"))
    tools = record.get("tools")
    if kind == "preference":
        prompt = [message_out(m) for m in record.get("messages") or []]
        chosen = [message_out(m) for m in record.get("chosen") or []]
        rejected = [message_out(m) for m in record.get("rejected") or []]
        fill_call_ids(prompt + chosen)
        fill_call_ids(prompt + rejected)
        inp: dict[str, Any] = {"messages": prompt}
        if tools:
            inp["tools"] = tools
        out = {"input": inp, "preferred_output": chosen, "non_preferred_output": rejected}
        return emit(out, record, keep_extra)
    msgs = list(record.get("messages") or [])
    if kind == "kto":
        msgs.append(single_assistant(record.get("completion") or [], "completion", "openai"))
    messages = [message_out(m) for m in msgs]
    fill_call_ids(messages)
    out = {"messages": messages}
    if tools:
        out["tools"] = tools
    if kind == "kto":
        out["label"] = bool(record.get("label"))
    return emit(out, record, keep_extra)
