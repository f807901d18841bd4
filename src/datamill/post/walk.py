"""Walkers of post-training records: which messages and texts a record holds, by field.

One home for them (validation, cleaning steps, selection and export all use these):

* :func:`conversations` — the message lists to check, each response side with its prompt;
* :func:`iter_messages` — every message with its field path (``chosen[1]``…);
* :func:`response_sides` — the final assistant answer of each side;
* :func:`taught_answers` — the answers a record *teaches* (SFT assistant turns, chosen, a
  desirable KTO completion, the best-ranked response), optionally the others too;
* :func:`prompt_key` — the prompt as one string (last user turn, all user turns, or full);
* :func:`message_text` / :func:`token_sides` — text as a tokenizer sees it (tool calls serialised).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from datamill.post.schema import prompt_text

PROMPT_MODES = ("last_user", "all_user", "full")


def conversations(record: dict) -> list[tuple[str, list, str, list]]:
    """The message lists of a record to check: ``(field, messages, prompt_field, prompt)``.

    For SFT the chat itself (no prompt); for the other kinds each response side (``chosen``,
    ``rejected``, ``completion``, ``responses[i].messages``) with the prompt it continues."""
    kind = record.get("kind") or "sft"
    prompt = record.get("messages")
    prompt = prompt if isinstance(prompt, list) else []
    if kind == "sft":
        return [("messages", prompt, "", [])]
    out = []
    if kind == "preference":
        for side in ("chosen", "rejected"):
            out.append((side, record.get(side), "messages", prompt))
    elif kind == "kto":
        out.append(("completion", record.get("completion"), "messages", prompt))
    elif kind == "ranking":
        for i, resp in enumerate(record.get("responses") or []):
            msgs = resp.get("messages") if isinstance(resp, dict) else None
            out.append((f"responses[{i}].messages", msgs, "messages", prompt))
    return out


def iter_messages(record: dict) -> Iterator[tuple[str, dict]]:
    """Every message of a record with its field path (``messages[0]``, ``chosen[1]``, …)."""
    for name in ("messages", "chosen", "rejected", "completion"):
        msgs = record.get(name)
        if isinstance(msgs, list):
            for i, m in enumerate(msgs):
                if isinstance(m, dict):
                    yield f"{name}[{i}]", m
    for j, resp in enumerate(record.get("responses") or []):
        msgs = resp.get("messages") if isinstance(resp, dict) else None
        if isinstance(msgs, list):
            for i, m in enumerate(msgs):
                if isinstance(m, dict):
                    yield f"responses[{j}].messages[{i}]", m


def response_sides(record: dict) -> list[tuple[str, str]]:
    """``(field, text)`` of each answer a record teaches or compares: the SFT's last assistant
    turn, chosen and rejected, the KTO completion, every ranked response."""
    out = []
    for name, msgs, _, _ in conversations(record):
        if not isinstance(msgs, list):
            continue
        for i in range(len(msgs) - 1, -1, -1):
            m = msgs[i]
            if isinstance(m, dict) and m.get("role") == "assistant":
                c = m.get("content")
                out.append((f"{name}[{i}].content", c if isinstance(c, str) else ""))
                break
    return out


def message_text(msg: dict) -> str:
    """A message's text as a tokenizer sees it: content plus serialized tool calls."""
    content = msg.get("content")
    text = content if isinstance(content, str) else ""
    calls = msg.get("tool_calls")
    if isinstance(calls, list) and calls:
        parts = [text] if text else []
        for c in calls:
            if isinstance(c, dict):
                args = c.get("arguments")
                args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
                parts.append(f"{c.get('name', '')}({args})")
        text = "\n".join(parts)
    return text




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


def token_sides(record: dict) -> list[tuple[str, str, list[str]]]:
    """``(field, label, texts)`` for each conversation whose tokens are limited: the SFT chat, or
    the prompt plus each response side."""
    kind = record.get("kind", "sft")
    if kind == "sft":
        return [("messages", "the chat", message_texts(record.get("messages")))]
    prompt = message_texts(record.get("messages"))
    return [(name, f"prompt + {name}", prompt + message_texts(msgs)) for name, msgs, _, _ in conversations(record)]


def message_texts(msgs: Any) -> list[str]:
    """:func:`message_text` of each message of a list (``[]`` when it is not one)."""
    return [message_text(m) for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []
