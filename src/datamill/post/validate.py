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

import itertools
import json
import os
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator, Sequence

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


def validate_records(records: Iterable[Any], *, max_tokens: int | None = None, tokenizer=None,
                     truncation: bool = True, ignore: Iterable[str] = (), file: str | None = None,
                     batch_size: int = 1024) -> Iterator[tuple[int, Any, list[Issue]]]:
    """Yield ``(index, record, issues)`` for each record (0-based index in the stream; issues
    carry it as ``index``). ``tokenizer``: a :class:`~datamill.post.tokenizer.TokenCounter`, a
    path to a ``tokenizer.json``, or None for the default one (loaded only with ``max_tokens``)."""
    items = (({"index": i}, rec) for i, rec in enumerate(records))
    for where, rec, issues in _validate_stream(items, max_tokens=max_tokens, tokenizer=tokenizer,
                                               truncation=truncation, ignore=ignore, file=file,
                                               batch_size=batch_size):
        yield where["index"], rec, issues


def _validate_stream(items: Iterable[tuple[dict, Any]], *, max_tokens, tokenizer, truncation, ignore,
                     file, batch_size) -> Iterator[tuple[dict, Any, list[Issue]]]:
    ignore = frozenset(ignore)
    unknown = sorted(ignore - set(CODES))
    if unknown:
        raise ValidationError(f"unknown issue code(s) {', '.join(unknown)}; codes are {', '.join(CODES)}")
    counter = resolve_counter(tokenizer) if max_tokens is not None else None
    seen_ids: dict[str, str] = {}
    batch: list[tuple[dict, Any, list[Issue]]] = []

    def flush():
        if counter is not None and "too_many_tokens" not in ignore:
            readable = [(k, rec) for k, (_, rec, _) in enumerate(batch) if not isinstance(rec, _Unreadable)]
            extra = token_issues([rec for _, rec in readable], counter, max_tokens)
            for (k, _), more in zip(readable, extra):
                batch[k][2].extend(more)
        for where, rec, issues in batch:
            kept = [i for i in issues if i.code not in ignore] if ignore else issues
            for i in kept:
                i.file, i.line, i.index = file, where.get("line"), where.get("index")
            yield where, rec, kept
        batch.clear()

    for where, rec in items:
        if isinstance(rec, _Unreadable):
            issues = [Issue(rec.record_id, rec.field, rec.code, rec.message, CODES[rec.code][0])]
        else:
            issues = validate_record(rec, truncation=truncation and _TRUNCATION_CODE not in ignore)
            rid = rec.get("id") if isinstance(rec, dict) else None
            if rid is not None:
                rid = str(rid)
                here = _where_text(where)
                if rid in seen_ids:
                    issues.append(Issue(rid, "id", "duplicate_id",
                                        f"id {rid!r} was already used by the record at {seen_ids[rid]}", WARNING))
                else:
                    seen_ids[rid] = here
        batch.append((where, rec, issues))
        if len(batch) >= batch_size:
            yield from flush()
    if batch:
        yield from flush()


def _where_text(where: dict) -> str:
    if where.get("line") is not None:
        return f"line {where['line']}"
    return f"index {where.get('index')}"


# --- files and reports ----------------------------------------------------------------------------

@dataclass
class Report:
    """What ``validate_file`` found. ``issues`` keeps the first ``max_issues``; ``counts``
    counts every issue by code."""

    file: str
    records: int = 0
    invalid_records: int = 0     # records with at least one error
    warned_records: int = 0      # records with warnings only
    counts: Counter = field(default_factory=Counter)
    issues: list[Issue] = field(default_factory=list)
    strict: bool = False
    max_tokens: int | None = None
    tokenizer: str | None = None
    seconds: float = 0.0
    truncated_issues: int = 0    # issues not kept in ``issues`` because of max_issues

    @property
    def errors(self) -> int:
        return sum(n for c, n in self.counts.items() if CODES[c][0] == ERROR)

    @property
    def warnings(self) -> int:
        return sum(n for c, n in self.counts.items() if CODES[c][0] == WARNING)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def failed(self) -> bool:
        """True when validation was strict and found errors (the CLI then exits 1)."""
        return self.strict and not self.ok

    def summary(self, show: int = 20) -> str:
        lines = [f"{self.file}: {self.records:,} records, {self.invalid_records:,} with errors, "
                 f"{self.warned_records:,} with warnings only "
                 f"({self.errors:,} errors, {self.warnings:,} warnings"
                 + (f"; token limit {self.max_tokens:,} with {self.tokenizer}" if self.max_tokens else "")
                 + f") in {self.seconds:.1f}s"]
        if self.counts:
            lines.append("  issues by code:")
            for code, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"    {n:>9,}  {CODES[code][0]:<7}  {code}")
        if self.issues and show:
            shown = self.issues[:show]
            lines.append(f"  first {len(shown)} of {sum(self.counts.values()):,} issues:")
            lines.extend(f"    {i}" for i in shown)
        if not self.counts:
            lines.append("  no issues")
        elif self.strict:
            lines.append("  FAILED (--strict): errors found" if self.failed else "  passed (warnings only)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "records": self.records, "invalid_records": self.invalid_records,
                "warned_records": self.warned_records, "errors": self.errors,
                "warnings": self.warnings, "counts": dict(self.counts), "strict": self.strict,
                "failed": self.failed, "max_tokens": self.max_tokens, "tokenizer": self.tokenizer,
                "seconds": round(self.seconds, 3), "issues": [i.to_dict() for i in self.issues]}


_TOOL_CALL_WHY = re.compile(r"(?:an? |the )?(?:function|tool)[ _]call", re.I)


@dataclass
class _Unreadable:
    message: str
    field: str = ""
    record_id: str | None = None
    code: str = "unreadable"


def read_for_validation(path: str, fmt: str | None = None) -> Iterator[tuple[dict, Any]]:
    """``(where, record)`` for each row of ``path``, converted to the internal schema by the
    format readers (:mod:`datamill.post.formats`; ``fmt`` or detected from the first rows).
    ``where`` holds ``line`` (JSONL) or ``index`` (JSON array). A row that does not parse or
    convert comes as an ``_Unreadable`` with the reason, so the run goes on."""
    from datamill.post.formats import BadRecord, FormatError, detect_rows, iter_rows
    from datamill.post.formats.io import FORMATS

    if not os.path.exists(path):
        raise ValidationError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValidationError(f"{path}: is a folder; validate one file at a time")
    if fmt in ("auto", "internal"):
        fmt = None if fmt == "auto" else "datamill"
    if fmt is not None and fmt not in FORMATS:
        raise ValidationError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    rows = iter_rows(path)
    if fmt is None:
        buffered = []
        for item in rows:
            buffered.append(item)
            if sum(1 for _, o in buffered if isinstance(o, dict)) >= 5:
                break
        fmt = detect_rows(o for _, o in buffered if isinstance(o, dict))
        if fmt is None and any(isinstance(o, dict) for _, o in buffered):
            raise ValidationError(f"{path}: no post-training format matches these rows; pass --from FMT "
                                  f"({', '.join(FORMATS)})")
        rows = itertools.chain(buffered, rows)
    reader = FORMATS[fmt].read if fmt else None
    name = os.path.basename(path)
    for where, obj in rows:
        if isinstance(obj, BadRecord):
            yield where, _Unreadable(f"{obj.kind}: {obj.reason}")
            continue
        if not isinstance(obj, dict):
            yield where, _Unreadable(f"expected a JSON object, got {type(obj).__name__}", code="not_a_record")
            continue
        line, index = where.get("line"), where.get("index")
        rid = f"{name}:{line}" if line is not None else f"{name}[{index}]"
        try:
            records = reader(obj, rid)
        except FormatError as exc:
            raw_id = obj.get("id")
            why = str(exc.why)
            code = "tool_call_malformed" if _TOOL_CALL_WHY.match(why) else "unreadable"
            yield where, _Unreadable(f"cannot read as {fmt}: {why}", exc.field or "",
                                     str(raw_id) if raw_id is not None else None, code)
            continue
        for rec in records:
            yield where, rec


def validate_file(path: str, fmt: str | None = None, max_tokens: int | None = None, tokenizer=None,
                  strict: bool = False, *, truncation: bool = True, ignore: Iterable[str] = (),
                  max_issues: int = 10_000) -> Report:
    """Validate every record of ``path`` (JSON array or JSONL, optionally .gz/.zst; any format
    ``datamill.post.formats`` reads, or ``fmt`` to say which). ``max_tokens`` checks each
    conversation's length with ``tokenizer`` (a ``tokenizer.json`` path, a TokenCounter, or
    None for datamill's BPE). ``strict`` makes :attr:`Report.failed` true when errors exist."""
    t0 = time.perf_counter()
    report = Report(file=path, strict=strict, max_tokens=max_tokens)
    counter = resolve_counter(tokenizer) if max_tokens is not None else None
    if counter is not None:
        report.tokenizer = counter.source
    items = read_for_validation(path, fmt)
    for _, _, issues in _validate_stream(items, max_tokens=max_tokens, tokenizer=counter,
                                         truncation=truncation, ignore=ignore, file=path,
                                         batch_size=1024):
        report.records += 1
        if not issues:
            continue
        has_error = False
        for i in issues:
            report.counts[i.code] += 1
            has_error = has_error or i.severity == ERROR
            if len(report.issues) < max_issues:
                report.issues.append(i)
            else:
                report.truncated_issues += 1
        if has_error:
            report.invalid_records += 1
        else:
            report.warned_records += 1
    report.seconds = time.perf_counter() - t0
    return report
