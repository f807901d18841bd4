"""Pieces every format shares: text checks, tool calls and tool schemas, reasoning in
``<think>`` tags, implicit-prompt splitting, and carrying unknown input fields through."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from datamill.post.formats.errors import FormatError
from datamill.post.schema import KINDS

THINK = re.compile(r"\A<think>(.*?)</think>", re.S)


def text(value: Any, field: str, *, allow_none: bool = False) -> str:
    if value is None and allow_none:
        return ""
    if not isinstance(value, str):
        raise FormatError(field, f"expected a string, got {type(value).__name__}")
    return value


def assistant_from_text(value: str) -> dict[str, Any]:
    """An assistant message from a string-only format: a leading ``<think>…</think>`` is the
    reasoning (LLaMA-Factory's convention); everything after it is the content, verbatim."""
    m = THINK.match(value)
    if m is None:
        return {"role": "assistant", "content": value}
    return {"role": "assistant", "content": value[m.end():], "reasoning": m.group(1)}


def assistant_text(msg: dict[str, Any], field: str, fmt: str) -> str:
    """The string a string-only format stores for an assistant message (reasoning as a leading
    ``<think>`` block); tool calls do not fit in a string."""
    if msg.get("tool_calls"):
        raise FormatError(f"{field}.tool_calls", f"{fmt} cannot hold tool calls")
    content = msg.get("content") or ""
    reasoning = msg.get("reasoning")
    return f"<think>{reasoning}</think>{content}" if reasoning is not None else content


def only_roles(messages: list[dict], field: str, fmt: str, roles: Iterable[str]) -> None:
    allowed = set(roles)
    for i, msg in enumerate(messages):
        if msg.get("role") not in allowed:
            raise FormatError(f"{field}[{i}].role", f"{fmt} cannot hold a {msg.get('role')!r} message "
                                                    f"(it holds {', '.join(sorted(allowed))})")
        if msg.get("role") != "assistant" and msg.get("reasoning") is not None:
            raise FormatError(f"{field}[{i}].reasoning", "only assistant messages carry reasoning")


def parse_arguments(value: Any) -> dict[str, Any] | str:
    """Tool-call arguments: the parsed JSON object when it parses, else the raw string."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, dict) else value
    if value is None:
        return {}
    raise FormatError("arguments", f"expected an object or a JSON string, got {type(value).__name__}")


def dump_arguments(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def tool_call(obj: Any, field: str) -> dict[str, Any]:
    """``{"name": …, "arguments": …}`` (LLaMA-Factory, glaive) or OpenAI's
    ``{"id", "type": "function", "function": {"name", "arguments"}}`` to the internal ToolCall."""
    if not isinstance(obj, dict):
        raise FormatError(field, f"a tool call must be an object, got {type(obj).__name__}")
    fn = obj.get("function") if isinstance(obj.get("function"), dict) else obj
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise FormatError(f"{field}.name", "a tool call needs a string name")
    call: dict[str, Any] = {"name": name, "arguments": parse_arguments(fn.get("arguments"))}
    if isinstance(obj.get("id"), str):
        call = {"id": obj["id"], **call}
    return call


def tool_calls_from_json(value: str, field: str) -> list[dict[str, Any]]:
    """A function-call turn's text: one JSON call or a JSON list of calls."""
    try:
        parsed = json.loads(value)
    except ValueError:
        raise FormatError(field, "a function call must be JSON {\"name\": …, \"arguments\": …}") from None
    calls = parsed if isinstance(parsed, list) else [parsed]
    if not calls:
        raise FormatError(field, "an empty list of function calls")
    return [tool_call(c, f"{field}[{i}]") for i, c in enumerate(calls)]


def tool_calls_to_json(calls: list[dict[str, Any]]) -> str:
    items = [{"name": c["name"], "arguments": c.get("arguments", {})} for c in calls]
    return json.dumps(items[0] if len(items) == 1 else items, ensure_ascii=False)


def tools_in(value: Any, field: str) -> list[dict[str, Any]] | None:
    """Tool schemas, from a JSON string or a list, bare (``{"name", "parameters"}``) or OpenAI
    style; returned OpenAI style (``{"type": "function", "function": {…}}``)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FormatError(field, "tools is not valid JSON") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise FormatError(field, "tools must be a list of tool schemas")
    if not value:
        return None
    return [t if t.get("type") == "function" and isinstance(t.get("function"), dict)
            else {"type": "function", "function": t} for t in value]


def tools_bare(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t["function"] if t.get("type") == "function" and isinstance(t.get("function"), dict) else t
            for t in tools]


def split_implicit(chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """An implicit-prompt pair (two whole dialogues) to (shared prompt, chosen, rejected): the
    prompt is the longest run of equal leading messages, stopping so that each side keeps at
    least its last message."""
    limit = min(len(chosen), len(rejected)) - 1
    n = 0
    while n < limit and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


def common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def carry(obj: dict[str, Any], used: Iterable[str]) -> dict[str, Any]:
    """The input fields a format does not interpret (``id`` included): kept in
    ``metadata["extra"]`` and written back out."""
    used = set(used)
    return {k: v for k, v in obj.items() if k not in used}


def record_id(obj: dict[str, Any], fallback: str) -> str:
    rid = obj.get("id")
    return str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) and rid != "" else fallback


def build(kind: str, rid: str, messages: list[dict], extra: dict[str, Any], *, tools=None,
          hints: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    assert kind in KINDS
    meta: dict[str, Any] = {}
    if extra:
        meta["extra"] = extra
    if hints:
        meta.update(hints)
    rec: dict[str, Any] = {"id": rid, "kind": kind, "messages": messages, "metadata": meta}
    rec.update(fields)
    if tools:
        rec["tools"] = tools
    return rec


def emit(out: dict[str, Any], record: dict[str, Any], keep_extra: bool) -> dict[str, Any]:
    """Add the carried input fields back (never over a field the format wrote)."""
    if keep_extra:
        extra = (record.get("metadata") or {}).get("extra")
        if isinstance(extra, dict):
            for k, v in extra.items():
                out.setdefault(k, v)
    return out


def kind_of(record: dict[str, Any], fmt: str, holds: Iterable[str]) -> str:
    kind = record.get("kind", "sft")
    if kind not in holds:
        raise FormatError("kind", f"{fmt} cannot hold {kind!r} records (it holds {', '.join(holds)})")
    return kind


def single_assistant(msgs: list[dict], field: str, fmt: str) -> dict[str, Any]:
    if len(msgs) != 1 or msgs[0].get("role") != "assistant":
        raise FormatError(field, f"{fmt} holds a single assistant message here, got "
                                 f"{[m.get('role') for m in msgs]}")
    return msgs[0]


def no_tools(record: dict[str, Any], fmt: str) -> None:
    if record.get("tools"):
        raise FormatError("tools", f"{fmt} cannot hold tool schemas")
