"""Production chat logs: OpenAI-style chat-completion records and feedback events, JSON Lines.

One event per line (files may be .jsonl, .jsonl.gz or .jsonl.zst; a folder is read in name
order). Two event types, told apart by ``type``:

``completion`` — one chat-completion call::

    {"type": "completion", "id": "cmpl-1", "conversation_id": "conv-9", "timestamp": "2026-11-30T10:00:00Z",
     "model": "my-model-v3",
     "request": {"messages": [{"role": "user", "content": "…"}]},      # the request body (OpenAI)
     "response": {"choices": [{"message": {"role": "assistant", "content": "…"}}]},  # the response body
     "regenerated_from": "cmpl-0"}                                        # optional: a regeneration of cmpl-0

``feedback`` — what the user did about a completion::

    {"type": "feedback", "completion_id": "cmpl-1", "timestamp": "…", "kind": "thumbs_up"}
    kind: thumbs_up | thumbs_down | edit (with "edited_content") | regenerate |
          follow_up (with "content": the user's next message, e.g. "that is wrong")

Required: completion ``id``, ``request.messages`` (a non-empty list of {role, content}) and an
assistant message in ``response.choices[0].message`` (or ``response.content``); feedback
``completion_id`` and a known ``kind``. A line that is not JSON or lacks these is quarantined
with its file and line; the rest goes on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import orjson

from datamill.core.errors import InputError
from datamill.io.formats import discover

FEEDBACK_KINDS = ("thumbs_up", "thumbs_down", "edit", "regenerate", "follow_up")
ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Completion:
    id: str
    conversation_id: str | None
    timestamp: str | None
    model: str | None
    messages: list[dict[str, Any]]
    answer: str
    regenerated_from: str | None
    where: str  # file:line
    feedback: list["Feedback"] = field(default_factory=list)


@dataclass
class Feedback:
    completion_id: str
    kind: str
    timestamp: str | None
    where: str
    edited_content: str | None = None
    content: str | None = None


@dataclass
class LogBatch:
    files: list[str]
    completions: dict[str, Completion] = field(default_factory=dict)
    feedback: list[Feedback] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0

    def bad(self, where: str, reason: str) -> None:
        path, _, line = where.rpartition(":")
        self.quarantine.append({"file": path, "line": int(line) if line.isdigit() else None, "reason": reason})


def _messages(value: Any) -> list[dict[str, Any]] | str:
    if not isinstance(value, list) or not value:
        return "request.messages: expected a non-empty list of {role, content}"
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return f"request.messages[{i}]: expected an object with a role in {', '.join(ROLES)}"
        content = m.get("content")
        if isinstance(content, list):  # OpenAI content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            return f"request.messages[{i}].content: expected a string"
        out.append({"role": m["role"], "content": content})
    return out


def _answer(response: Any) -> str | None:
    if not isinstance(response, dict):
        return None
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        msg = choices[0].get("message") or {}
        if isinstance(msg, dict) and isinstance(msg.get("content"), str):
            return msg["content"]
    if isinstance(response.get("content"), str):
        return response["content"]
    return None


def parse_event(obj: Any, where: str, batch: LogBatch) -> None:
    if not isinstance(obj, dict):
        return batch.bad(where, f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "completion":
        cid = obj.get("id")
        if not isinstance(cid, str) or not cid:
            return batch.bad(where, "completion: expected a string 'id'")
        msgs = _messages((obj.get("request") or {}).get("messages") if isinstance(obj.get("request"), dict) else None)
        if isinstance(msgs, str):
            return batch.bad(where, f"completion {cid}: {msgs}")
        answer = _answer(obj.get("response"))
        if answer is None:
            return batch.bad(where, f"completion {cid}: expected response.choices[0].message.content (a string)")
        if cid in batch.completions:
            return batch.bad(where, f"completion {cid}: duplicate id (first at {batch.completions[cid].where})")
        batch.completions[cid] = Completion(cid, obj.get("conversation_id"), obj.get("timestamp"), obj.get("model"),
                                            msgs, answer, obj.get("regenerated_from"), where)
    elif kind == "feedback":
        cid = obj.get("completion_id")
        fk = obj.get("kind")
        if not isinstance(cid, str) or not cid:
            return batch.bad(where, "feedback: expected a string 'completion_id'")
        if fk not in FEEDBACK_KINDS:
            return batch.bad(where, f"feedback on {cid}: kind {fk!r}, expected one of {', '.join(FEEDBACK_KINDS)}")
        if fk == "edit" and not isinstance(obj.get("edited_content"), str):
            return batch.bad(where, f"feedback on {cid}: an edit needs 'edited_content' (a string)")
        if fk == "follow_up" and not isinstance(obj.get("content"), str):
            return batch.bad(where, f"feedback on {cid}: a follow_up needs 'content' (the user's message)")
        batch.feedback.append(Feedback(cid, fk, obj.get("timestamp"), where, obj.get("edited_content"),
                                       obj.get("content")))
    else:
        batch.bad(where, f"type {kind!r}: expected 'completion' or 'feedback'")


def read_logs(paths: list[str]) -> LogBatch:
    """Every event of the log files under ``paths``; bad lines quarantined with file:line."""
    from datamill.io.lines import open_lines

    files = [s.path for s in discover(list(paths)) if s.format == "jsonl"]
    if not files:
        raise InputError(f"{', '.join(paths)}: no JSON Lines log files found")
    batch = LogBatch(files=files)
    for path in files:
        for line_no, raw in enumerate(open_lines(path), 1):
            if not raw.strip():
                continue
            batch.lines += 1
            where = f"{path}:{line_no}"
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                batch.bad(where, f"malformed JSON: {exc}")
                continue
            parse_event(obj, where, batch)
    for fb in batch.feedback:
        comp = batch.completions.get(fb.completion_id)
        if comp is None:
            batch.bad(fb.where, f"feedback on unknown completion {fb.completion_id!r}")
            continue
        comp.feedback.append(fb)
    batch.quarantine.sort(key=lambda q: (q["file"], q["line"] or 0))
    return batch


def iter_conversations(batch: LogBatch) -> Iterator[list[Completion]]:
    """Completions grouped by conversation, in time order (then log order)."""
    groups: dict[str, list[Completion]] = {}
    for c in batch.completions.values():
        groups.setdefault(c.conversation_id or c.id, []).append(c)
    for comps in groups.values():
        yield sorted(comps, key=lambda c: (c.timestamp or "", c.where))


def source_name(path: str) -> str:
    return os.path.basename(path)
