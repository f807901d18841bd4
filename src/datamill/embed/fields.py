"""The text of a record to embed: a field, a dotted path, or a known post-training shape.

``record_text(record, "text")`` looks the field up in the record, then in ``record["metadata"]``
(JSONL/Parquet readers put every other input column there). A dotted path walks dicts and
lists (``"metadata.question"``, ``"messages.0.content"``); ``"a+b"`` joins several fields
with a newline (``"instruction+input"`` for Alpaca rows). Values are turned into text by shape:

* a string is itself;
* a chat (a list of ``{"role", "content"}`` or ShareGPT ``{"from", "value"}`` turns) gives its
  first user turn (``user``/``human``), else its first turn; content given as a list of parts
  (``[{"type": "text", "text": …}]``) is joined;
* a dict gives its ``content``, ``text``, ``value`` or ``prompt`` entry;
* a list of strings is joined with newlines; ``None`` is ``""``; anything else is ``str()``.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()
_USER_ROLES = ("user", "human")
_TEXT_KEYS = ("content", "text", "value", "prompt")


def _lookup(record: dict, path: str) -> Any:
    for root in (record, record.get("metadata") if isinstance(record.get("metadata"), dict) else None):
        if root is None:
            continue
        if path in root:
            return root[path]
        node: Any = root
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, (list, tuple)) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
                node = node[int(part)]
            else:
                node = _MISSING
                break
        if node is not _MISSING:
            return node
    return None


def _is_turn(x: Any) -> bool:
    return isinstance(x, dict) and (("role" in x and "content" in x) or ("from" in x and "value" in x))


def _content(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        if value and all(_is_turn(t) for t in value):
            for turn in value:
                if str(turn.get("role", turn.get("from", ""))).lower() in _USER_ROLES:
                    return _content(turn.get("content", turn.get("value")))
            first = value[0]
            return _content(first.get("content", first.get("value")))
        parts = []
        for item in value:
            if isinstance(item, dict) and item.get("type") not in (None, "text"):
                continue  # images, audio… in a multimodal content list
            parts.append(_content(item))
        return "\n".join(p for p in parts if p)
    if isinstance(value, dict):
        for key in _TEXT_KEYS:
            if key in value:
                return _content(value[key])
        return ""
    return str(value)


def record_text(record: dict, field: str = "text") -> str:
    """The text of ``record`` under ``field`` (see the module doc); ``""`` when there is none."""
    if "+" in field:
        parts = [record_text(record, f.strip()) for f in field.split("+") if f.strip()]
        return "\n".join(p for p in parts if p)
    return _content(_lookup(record, field))
