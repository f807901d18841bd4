"""Alpaca (``instruction``/``input``/``output``/``system``/``history``) as LLaMA-Factory reads it,
and the self-instruct seed-task format (``instruction`` + ``instances``).

Reading follows LLaMA-Factory: the user turn is ``instruction``, plus ``"\\n" + input`` when
``input`` is not empty; ``history`` is a list of ``[user, assistant]`` pairs before it;
``system`` a system prompt. ``chosen``/``rejected`` strings make a preference record, a
``kto_tag`` a KTO record. The instruction/input split is remembered in
``metadata["alpaca_input"]`` so that writing back restores it.

Alpaca holds system, user and assistant text only: tool calls, tool messages, tool schemas, a
system prompt anywhere but first, or turns that do not alternate are a :class:`FormatError`.
"""

from __future__ import annotations

from typing import Any

from datamill.post.formats.common import (assistant_from_text, assistant_text, build, carry, emit,
                                          kind_of, no_tools, record_id, single_assistant, text)
from datamill.post.formats.errors import FormatError

DEFAULT_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "history": "history",
                   "system": "system", "chosen": "chosen", "rejected": "rejected", "kto_tag": "kto_tag"}


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise FormatError(field, f"expected true or false, got {value!r}")


def _prompt_side(obj: dict, cols: dict[str, str | None], hints: dict) -> tuple[list[dict], set[str]]:
    used: set[str] = set()
    messages: list[dict] = []
    sys_col = cols.get("system")
    if sys_col and sys_col in obj:
        used.add(sys_col)
        system = text(obj[sys_col], sys_col, allow_none=True)
        if system:
            messages.append({"role": "system", "content": system})
    hist_col = cols.get("history")
    if hist_col and hist_col in obj:
        used.add(hist_col)
        history = obj[hist_col] or []
        if not isinstance(history, list):
            raise FormatError(hist_col, "history must be a list of [user, assistant] pairs")
        for i, pair in enumerate(history):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise FormatError(f"{hist_col}[{i}]", "each history item must be a [user, assistant] pair")
            messages.append({"role": "user", "content": text(pair[0], f"{hist_col}[{i}][0]")})
            messages.append(assistant_from_text(text(pair[1], f"{hist_col}[{i}][1]")))
    p_col, q_col = cols.get("prompt") or "instruction", cols.get("query")
    if p_col not in obj:
        raise FormatError(p_col, "missing: alpaca needs an instruction")
    used.add(p_col)
    content = text(obj[p_col], p_col)
    if q_col and q_col in obj:
        used.add(q_col)
        query = text(obj[q_col], q_col, allow_none=True)
        if query:
            content = f"{content}\n{query}"
            hints["alpaca_input"] = query
    messages.append({"role": "user", "content": content})
    return messages, used


def to_internal(obj: dict[str, Any], rid: str, *, columns: dict[str, str] | None = None,
                ranking: bool | None = None) -> list[dict[str, Any]]:
    cols = dict(DEFAULT_COLUMNS) if columns is None else {**{"prompt": "instruction", "query": "input",
                                                              "response": "output"}, **columns}
    hints: dict[str, Any] = {}
    messages, used = _prompt_side(obj, cols, hints)
    rid = record_id(obj, rid)
    c_col, r_col = cols.get("chosen"), cols.get("rejected")
    o_col = cols.get("response") or "output"
    ranked = obj.get(o_col)
    if isinstance(ranked, list) and (ranking or not (c_col and c_col in obj)):
        # LLaMA-Factory's 2023-08 ranked layout: `output` lists the answers best first
        used.add(o_col)
        bad = [i for i, a in enumerate(ranked) if not isinstance(a, str)]
        if bad or len(ranked) < 2:
            raise FormatError(o_col, "a ranked output must list at least two answers as strings, best first"
                              + (f" (item {bad[0]} is {type(ranked[bad[0]]).__name__})" if bad else f" (got {len(ranked)})"))
        answers = [assistant_from_text(a) for a in ranked]
        if len(answers) == 2:
            return [build("preference", rid, messages, carry(obj, used), hints=hints, chosen=[answers[0]],
                          rejected=[answers[1]])]
        return [build("ranking", rid, messages, carry(obj, used), hints=hints,
                      responses=[{"messages": [a], "rank": i + 1} for i, a in enumerate(answers)])]
    is_pref = ranking if ranking is not None else bool(c_col and r_col and c_col in obj and r_col in obj)
    if is_pref:
        if c_col not in obj and r_col not in obj:
            raise FormatError(c_col or "chosen", f"a ranking dataset needs {c_col or 'chosen'!r} and "
                              f"{r_col or 'rejected'!r} columns, or {o_col!r} as a list of answers best first "
                              f"(the row has {', '.join(sorted(obj)) or 'no columns'})")
        c_col, r_col = c_col or "chosen", r_col or "rejected"
        chosen = [assistant_from_text(text(obj.get(c_col), c_col))]
        rejected = [assistant_from_text(text(obj.get(r_col), r_col))]
        used |= {c_col, r_col}
        return [build("preference", rid, messages, carry(obj, used), hints=hints, chosen=chosen,
                      rejected=rejected)]
    r_col = cols.get("response") or "output"
    if r_col not in obj:
        raise FormatError(r_col, "missing: alpaca needs an output (or chosen and rejected)")
    used.add(r_col)
    answer = assistant_from_text(text(obj[r_col], r_col))
    k_col = cols.get("kto_tag")
    if k_col and k_col in obj:
        used.add(k_col)
        label = _bool(obj[k_col], k_col)
        return [build("kto", rid, messages, carry(obj, used), hints=hints, completion=[answer], label=label)]
    return [build("sft", rid, messages + [answer], carry(obj, used), hints=hints)]


def _split_prompt(record: dict, prompt: list[dict], fmt: str) -> tuple[str, list[list[str]], str, str]:
    """(system, history pairs, instruction, input) of a prompt side ending with a user turn."""
    msgs = list(prompt)
    system = ""
    if msgs and msgs[0].get("role") == "system":
        system = msgs.pop(0).get("content") or ""
    offset = len(prompt) - len(msgs)
    if not msgs or msgs[-1].get("role") != "user":
        raise FormatError("messages", f"{fmt} needs the prompt to end with a user turn")
    history: list[list[str]] = []
    for i in range(0, len(msgs) - 1, 2):
        u, a = msgs[i], msgs[i + 1] if i + 1 < len(msgs) - 1 else None
        if u.get("role") != "user" or a is None or a.get("role") != "assistant":
            bad = i if u.get("role") != "user" else i + 1
            role = msgs[bad].get("role") if bad < len(msgs) else None
            raise FormatError(f"messages[{bad + offset}].role",
                              f"{fmt} holds alternating user/assistant turns after an optional first "
                              f"system prompt, got {role!r} here")
        history.append([u.get("content") or "", assistant_text(a, f"messages[{i + 1 + offset}]", fmt)])
    last = msgs[-1]
    if last.get("tool_calls") or last.get("tool_call_id"):
        raise FormatError(f"messages[{len(prompt) - 1}]", f"{fmt} cannot hold tool calls")
    content = last.get("content") or ""
    query = (record.get("metadata") or {}).get("alpaca_input")
    if isinstance(query, str) and query and content.endswith("\n" + query):
        return system, history, content[:-len(query) - 1], query
    return system, history, content, ""


def from_internal(record: dict[str, Any], *, keep_extra: bool = True) -> dict[str, Any]:
    fmt = "alpaca"
    kind = kind_of(record, fmt, ("sft", "preference", "kto"))
    no_tools(record, fmt)
    messages = record.get("messages") or []
    for i, m in enumerate(messages):
        if m.get("role") not in ("system", "user", "assistant"):
            raise FormatError(f"messages[{i}].role", f"{fmt} cannot hold a {m.get('role')!r} message")
        if m.get("role") == "system" and i:
            raise FormatError(f"messages[{i}].role", f"{fmt} holds one system prompt, first")
    out: dict[str, Any] = {}
    if kind == "sft":
        if not messages or messages[-1].get("role") != "assistant":
            raise FormatError("messages", f"{fmt} needs the conversation to end with an assistant answer")
        prompt, answer = messages[:-1], messages[-1]
    elif kind == "kto":
        prompt, answer = messages, single_assistant(record.get("completion") or [], "completion", fmt)
    else:
        prompt, answer = messages, None
    system, history, instruction, query = _split_prompt(record, prompt, fmt)
    out["instruction"], out["input"] = instruction, query
    if kind == "preference":
        out["chosen"] = assistant_text(single_assistant(record.get("chosen") or [], "chosen", fmt), "chosen[0]", fmt)
        out["rejected"] = assistant_text(single_assistant(record.get("rejected") or [], "rejected", fmt),
                                         "rejected[0]", fmt)
    else:
        out["output"] = assistant_text(answer, "answer", fmt)
    if kind == "kto":
        out["kto_tag"] = bool(record.get("label"))
    if system:
        out["system"] = system
    if history:
        out["history"] = history
    return emit(out, record, keep_extra)


# --- self-instruct seed tasks ------------------------------------------------------------------

def self_instruct_to_internal(obj: dict[str, Any], rid: str) -> list[dict[str, Any]]:
    """One SFT record per instance: the user turn is ``instruction`` (+ ``"\\n" + input``)."""
    instruction = text(obj.get("instruction"), "instruction")
    instances = obj.get("instances")
    if not isinstance(instances, list) or not instances:
        raise FormatError("instances", "self-instruct rows need a non-empty list of instances")
    base = record_id(obj, rid)
    extra = carry(obj, ("instruction", "instances"))
    out = []
    for k, inst in enumerate(instances):
        if not isinstance(inst, dict):
            raise FormatError(f"instances[{k}]", "an instance must be an object with input and output")
        query = text(inst.get("input"), f"instances[{k}].input", allow_none=True)
        hints = {"alpaca_input": query} if query else {}
        user = {"role": "user", "content": f"{instruction}\n{query}" if query else instruction}
        answer = assistant_from_text(text(inst.get("output"), f"instances[{k}].output"))
        out.append(build("sft", base if len(instances) == 1 else f"{base}#{k}", [user, answer], dict(extra),
                         hints=hints))
    return out


def self_instruct_from_internal(record: dict[str, Any], *, keep_extra: bool = True) -> dict[str, Any]:
    fmt = "self_instruct"
    kind_of(record, fmt, ("sft",))
    no_tools(record, fmt)
    msgs = record.get("messages") or []
    if [m.get("role") for m in msgs] != ["user", "assistant"]:
        raise FormatError("messages", f"{fmt} holds one user turn and one answer, got "
                                      f"{[m.get('role') for m in msgs]}")
    _, _, instruction, query = _split_prompt(record, msgs[:1], fmt)
    out = {"instruction": instruction,
           "instances": [{"input": query, "output": assistant_text(msgs[1], "messages[1]", fmt)}]}
    return emit(out, record, keep_extra)
