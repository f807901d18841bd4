"""Which format a row is in, from its keys and the shape of its values.

``detect_row(obj)`` returns a format name or ``None``; ``detect_rows(rows)`` looks at the first
few rows and takes the first answer, so one odd row does not decide a file.

=================================================================  =====================
row                                                                format
=================================================================  =====================
``id``, ``kind``, ``messages``, ``metadata`` (datamill records)     ``datamill``
``chosen``/``rejected`` strings starting ``"\\n\\nHuman: "``           ``hh_rlhf``
``chosen_messages``/``rejected_messages``, or ``messages`` whose    ``llamafactory_v1``
contents are lists of ``{type, value}``
``conversations``, or ``messages`` of ``{from, value}``             ``sharegpt``
``instruction`` + ``instances``                                     ``self_instruct``
``instruction`` (+ ``output`` or ``chosen``/``rejected``)           ``alpaca``
``input`` + ``preferred_output``; ``messages`` of ``{role, …}``     ``openai``
``prompt``/``completion``/``chosen``/``rejected``                  ``trl``
=================================================================  =====================
"""

from __future__ import annotations

from typing import Any, Iterable

from datamill.post.schema import KINDS


def _first_msg(value: Any) -> dict | None:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return None


def detect_row(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    keys = set(obj)
    if {"id", "kind", "messages"} <= keys and obj.get("kind") in KINDS:
        return "datamill"
    if "chosen_messages" in keys or "rejected_messages" in keys:
        return "llamafactory_v1"
    if "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys:
        return "self_instruct" if "instances" in keys else "alpaca"
    if "input" in keys and "preferred_output" in keys:
        return "openai"
    if "messages" in keys:
        m = _first_msg(obj["messages"])
        if m is not None:
            if "from" in m:
                return "sharegpt"
            if isinstance(m.get("content"), list) and any(isinstance(p, dict) and "value" in p for p in m["content"]):
                return "llamafactory_v1"
        return "openai"
    if "chosen" in keys and "rejected" in keys and "prompt" not in keys:
        c, r = obj["chosen"], obj["rejected"]
        if isinstance(c, str) and isinstance(r, str) and c.startswith("\n\nHuman: ") and r.startswith("\n\nHuman: "):
            return "hh_rlhf"
        return "trl"
    if "prompt" in keys or ("chosen" in keys and "rejected" in keys):
        return "trl"
    return None


def detect_rows(rows: Iterable[Any], limit: int = 5) -> str | None:
    for i, obj in enumerate(rows):
        if i >= limit:
            break
        fmt = detect_row(obj)
        if fmt is not None:
            return fmt
    return None
