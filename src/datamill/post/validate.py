"""Validation of post-training records, with errors people can act on.

Every problem is an :class:`Issue` that names the file, the record (its 1-based number in the
file, and its id) and the field (``messages[2].content``, ``chosen``, ``responses[1].messages``),
with a stable ``code`` and a sentence saying what is wrong::

    data/sft.jsonl:17 (id=a1f3):messages[2]: role_alternation: two 'user' turns in a row
    (messages[1] and messages[2]); merge them or put an assistant turn between

``validate_record(record)`` checks one internal record (see :mod:`datamill.post.schema`);
``validate_records`` checks a stream, counting tokens in batches; ``validate_file(path)`` reads
a file in any format the format readers know (``datamill.post.formats``) and returns a
:class:`Report`. ``datamill validate FILE`` is the CLI twin.

The codes, their severity and what they mean are in :data:`CODES`. Errors make a record unfit
for training; warnings are worth a look (``post_validate`` drops on errors only, unless told
``drop_warnings``). ``ignore`` switches codes off.
"""

from __future__ import annotations

import json
from typing import Any

from datamill.post.issues import (_TRUNCATION_CODE, CODES, ERROR, WARNING, Issue,  # noqa: F401
                                  ValidationError, _issue, _with_id)
from datamill.post.schema import KINDS, ROLES
from datamill.post.token_limits import (MAX_TOKENS_PER_BYTE, _texts, _token_sides,  # noqa: F401
                                        resolve_counter, token_issues)
from datamill.post.truncation import truncation_reason  # noqa: F401
from datamill.post.walk import (conversations, iter_messages, message_text,  # noqa: F401
                                response_sides)

# --- the rules ------------------------------------------------------------------------------------

def _tool_names(tools: Any, issues: list[Issue]) -> dict[str, dict] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        issues.append(_issue("wrong_type", "tools", "tools must be a list of function schemas"))
        return None
    names: dict[str, dict] = {}
    for i, t in enumerate(tools):
        fn = t.get("function", t) if isinstance(t, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            issues.append(_issue("tool_schema_malformed", f"tools[{i}]",
                                 "a tool needs a function name ({'type': 'function', 'function': "
                                 "{'name': …, 'parameters': …}})"))
            continue
        names[name] = fn
    return names


def _check_tool_call(call: Any, where: str, tools: dict[str, dict] | None, issues: list[Issue]) -> None:
    if not isinstance(call, dict):
        issues.append(_issue("tool_call_malformed", where, "a tool call must be an object "
                                                           "{name, arguments}"))
        return
    name = call.get("name")
    if not isinstance(name, str) or not name.strip():
        issues.append(_issue("tool_call_malformed", f"{where}.name", "the tool call has no function name"))
        return
    args = call.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError as exc:
            issues.append(_issue("tool_call_bad_arguments", f"{where}.arguments",
                                 f"arguments of {name!r} are not valid JSON ({exc.msg} at char {exc.pos})"))
            return
    if args is None:
        args = {}
    if not isinstance(args, dict):
        issues.append(_issue("tool_call_bad_arguments", f"{where}.arguments",
                             f"arguments of {name!r} must be a JSON object, not {type(args).__name__}"))
        return
    if tools is not None:
        if name not in tools:
            offered = ", ".join(sorted(tools)) or "none"
            issues.append(_issue("unknown_tool", f"{where}.name",
                                 f"call to {name!r}, which the record's tools do not offer (offered: {offered})"))
            return
        params = tools[name].get("parameters")
        required = params.get("required") if isinstance(params, dict) else None
        if isinstance(required, list):
            missing = [r for r in required if isinstance(r, str) and r not in args]
            if missing:
                issues.append(_issue("tool_call_missing_argument", f"{where}.arguments",
                                     f"call to {name!r} lacks required argument(s) {', '.join(missing)}"))


def _check_messages(msgs: Any, name: str, issues: list[Issue], tools, *, allow_empty=False) -> bool:
    """Per-message checks (types, roles, empty turns, tool calls); False when not a list."""
    if msgs is None or (isinstance(msgs, list) and not msgs):
        if not allow_empty:
            issues.append(_issue("missing_field", name, f"{name} is missing or has no turns"))
        return isinstance(msgs, list)
    if not isinstance(msgs, list):
        issues.append(_issue("wrong_type", name, f"{name} must be a list of messages, not "
                                                 f"{type(msgs).__name__}"))
        return False
    for i, m in enumerate(msgs):
        where = f"{name}[{i}]"
        if not isinstance(m, dict):
            issues.append(_issue("wrong_type", where, "a message must be an object {role, content}"))
            continue
        role = m.get("role")
        if role not in ROLES:
            issues.append(_issue("unknown_role", f"{where}.role",
                                 f"role {role!r} is not one of {', '.join(ROLES)}"))
        content = m.get("content")
        calls = m.get("tool_calls")
        has_calls = isinstance(calls, list) and len(calls) > 0
        if content is not None and not isinstance(content, str):
            issues.append(_issue("wrong_type", f"{where}.content",
                                 f"content must be a string, not {type(content).__name__}"))
        elif not (content or "").strip() and not (role == "assistant" and has_calls):
            what = "empty" if not content else "only whitespace"
            issues.append(_issue("empty_turn", f"{where}.content", f"the {role or 'message'} turn is {what}"))
        if calls is not None:
            if not isinstance(calls, list):
                issues.append(_issue("tool_call_malformed", f"{where}.tool_calls", "tool_calls must be a list"))
            elif role != "assistant":
                issues.append(_issue("tool_call_malformed", f"{where}.tool_calls",
                                     f"only assistant turns call tools, not {role!r}"))
            else:
                for j, call in enumerate(calls):
                    _check_tool_call(call, f"{where}.tool_calls[{j}]", tools, issues)
    return True


def _check_order(turns: list[tuple[str, dict]], issues: list[Issue], seen: set) -> None:
    """Role order over a whole conversation (prompt + one response side). ``turns`` are
    ``(field, message)``; ``seen`` holds issue keys already reported (a prompt shared by
    chosen and rejected is reported once)."""

    def add(code: str, where: str, msg: str) -> None:
        if (code, where) not in seen:
            seen.add((code, where))
            issues.append(_issue(code, where, msg))

    prev_role = prev_where = None
    open_calls: dict[str, str] = {}   # call id -> field of the call, not yet answered
    call_ids: set[str] = set()
    pending_anon = 0                  # calls without ids not yet answered
    first_seen = False
    for k, (where, m) in enumerate(turns):
        role = m.get("role")
        if role not in ROLES:
            prev_role, prev_where = role, where
            continue
        if role == "system":
            if k != 0:
                add("system_not_first", f"{where}.role", "a system turn may only come first")
            prev_role, prev_where = role, where
            continue
        if not first_seen:
            first_seen = True
            if role != "user":
                add("first_turn_not_user", f"{where}.role",
                    f"the conversation starts with {role!r}; the first turn after the system "
                    "prompt must be 'user'")
        if role != "tool" and (open_calls or pending_anon) and prev_role in ("assistant", "tool"):
            calls = ", ".join(sorted(open_calls.values()))
            what = f"tool call(s) {calls}" if calls else f"{pending_anon} tool call(s)"
            add("tool_call_unanswered", where, f"{what} got no tool result before this {role} turn")
            open_calls.clear()
            pending_anon = 0
        if role == "user":
            if prev_role == "user":
                add("role_alternation", where, f"two 'user' turns in a row ({prev_where} and {where}); "
                                               "merge them or put an assistant turn between")
            elif prev_role == "tool":
                add("role_alternation", where, f"a user turn follows the tool result {prev_where}; "
                                               "the assistant must answer the tool result first")
        elif role == "assistant":
            if prev_role == "assistant" and not _calls(turns[k - 1][1]):
                add("role_alternation", where, f"two 'assistant' turns in a row ({prev_where} and "
                                               f"{where}); merge them or put a user turn between")
            for j, call in enumerate(_calls(m)):
                cid = call.get("id") if isinstance(call, dict) else None
                if isinstance(cid, str) and cid:
                    open_calls[cid] = f"{where}.tool_calls[{j}]"
                    call_ids.add(cid)
                else:
                    pending_anon += 1
        elif role == "tool":
            after_call = prev_role == "assistant" and bool(_calls(turns[k - 1][1]))
            if not (after_call or prev_role == "tool"):
                add("tool_without_call", where, "a tool result must follow an assistant turn that "
                                                "calls a tool (or another tool result)")
            cid = m.get("tool_call_id")
            if isinstance(cid, str) and cid:
                if cid in open_calls:
                    del open_calls[cid]
                elif cid not in call_ids:
                    add("tool_result_unmatched", f"{where}.tool_call_id",
                        f"tool_call_id {cid!r} matches no earlier tool call")
            else:  # a result without an id may answer several calls (a JSON list of results)
                pending_anon = 0
                open_calls.clear()
        prev_role, prev_where = role, where


def _calls(m: dict) -> list:
    calls = m.get("tool_calls")
    return calls if isinstance(calls, list) else []


def _norm(msgs: Any) -> str:
    if not isinstance(msgs, list):
        return ""
    return "\x00".join(" ".join(message_text(m).split()) for m in msgs if isinstance(m, dict))


def validate_record(record: Any, *, truncation: bool = True) -> list[Issue]:
    """The issues of one internal record, token limits aside (see ``validate_records``).
    Issues carry the field and code; ``record_id`` is filled from the record."""
    if not isinstance(record, dict):
        return [_issue("not_a_record", "", f"a record must be an object, not {type(record).__name__}")]
    issues: list[Issue] = []
    kind = record.get("kind", "sft")
    if kind not in KINDS:
        issues.append(_issue("unknown_kind", "kind", f"kind {kind!r} is not one of {', '.join(KINDS)}"))
        return _with_id(issues, record)
    tools = _tool_names(record.get("tools"), issues)
    prompt = record.get("messages")
    prompt_ok = _check_messages(prompt, "messages", issues, tools, allow_empty=(kind != "sft"))
    prompt_turns = [(f"messages[{i}]", m) for i, m in enumerate(prompt if prompt_ok and prompt else [])
                    if isinstance(m, dict)]
    seen: set = set()
    if kind == "sft":
        if prompt_turns:
            _check_order(prompt_turns, issues, seen)
            if prompt_turns[-1][1].get("role") != "assistant":
                last = prompt_turns[-1]
                issues.append(_issue("no_final_assistant", f"{last[0]}.role",
                                     f"the chat ends with a {last[1].get('role')!r} turn; an SFT "
                                     "chat must end with the assistant's answer"))
    else:
        if prompt_turns and prompt_turns[-1][1].get("role") == "assistant":
            issues.append(_issue("prompt_ends_with_assistant", f"{prompt_turns[-1][0]}.role",
                                 "the prompt ends with an assistant turn; move it into the responses"))
        if kind == "ranking":
            responses = record.get("responses")
            if not isinstance(responses, list) or len(responses) < 2:
                n = len(responses) if isinstance(responses, list) else 0
                issues.append(_issue("too_few_responses", "responses",
                                     f"a ranking needs at least two responses, it has {n}"))
            for i, resp in enumerate(responses if isinstance(responses, list) else []):
                if isinstance(resp, dict) and "rank" in resp:
                    r = resp["rank"]
                    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
                        issues.append(_issue("bad_rank", f"responses[{i}].rank",
                                             f"rank must be a positive integer (1 is best), not {r!r}"))
        if kind == "kto" and not isinstance(record.get("label"), bool):
            issues.append(_issue("wrong_type", "label", f"label must be true or false, not "
                                                        f"{record.get('label')!r}"))
        for name, msgs, _, _ in conversations(record):
            if not _check_messages(msgs, name, issues, tools):
                continue
            turns = [(f"{name}[{i}]", m) for i, m in enumerate(msgs) if isinstance(m, dict)]
            if not turns:
                continue
            _check_order(prompt_turns + turns, issues, seen)
            if turns[-1][1].get("role") != "assistant":
                issues.append(_issue("no_final_assistant", f"{turns[-1][0]}.role",
                                     f"{name} ends with a {turns[-1][1].get('role')!r} turn; a "
                                     "response must end with an assistant turn"))
        if kind == "preference":
            c, r = record.get("chosen"), record.get("rejected")
            if isinstance(c, list) and c and isinstance(r, list) and r and _norm(c) == _norm(r):
                issues.append(_issue("chosen_equals_rejected", "rejected",
                                     "chosen and rejected are the same text (up to whitespace); "
                                     "the pair teaches nothing"))
        if kind == "ranking":
            texts: dict[str, int] = {}
            for i, resp in enumerate(record.get("responses") or []):
                key = _norm(resp.get("messages")) if isinstance(resp, dict) else ""
                if key and key in texts:
                    issues.append(_issue("duplicate_responses", f"responses[{i}]",
                                         f"same text as responses[{texts[key]}]"))
                texts.setdefault(key, i)
    if truncation:
        for where, text in response_sides(record):
            why = truncation_reason(text)
            if why:
                tail = text.rstrip()[-40:].replace("\n", " ")
                issues.append(_issue(_TRUNCATION_CODE, where, f"the answer seems cut mid-sentence: {why} "
                                                              f"(…{tail!r})"))
    return _with_id(issues, record)


# the stream, the file reading and the report live in datamill.post.validate_files; they are
# reachable from here too (PEP 562, so that importing either module first works)
_FILE_NAMES = frozenset({"validate_records", "_validate_stream", "_where_text", "Report", "_Unreadable",
                         "read_for_validation", "validate_file", "_TOOL_CALL_WHY"})


def __getattr__(name: str):
    if name in _FILE_NAMES:
        from datamill.post import validate_files

        return getattr(validate_files, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
