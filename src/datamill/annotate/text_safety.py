"""Text that UTF-8 cannot carry: lone (unpaired) UTF-16 surrogates.

JSON may spell one as an escape (``"\\udc00"``) and Python then holds a ``str`` that cannot be
encoded to UTF-8: a page or an export that prints it fails. The app refuses such text at its
boundary (:func:`find_surrogate` names where it is, the API answers 422) and replaces it with
U+FFFD wherever a stored string is shown or exported (:func:`clean_text`, :func:`clean_deep`), so
rows written before this check, or by another tool, never break a page or an export.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (the same object when clean)."""
    if _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def clean_deep(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with lone surrogates replaced in every string,
    keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_deep(k): clean_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_deep(v) for v in value]
    return value


def find_surrogate(value: Any, path: str = "$") -> str | None:
    """The JSON path (``$.answer.comment``, ``$.records[3].text``) of the first string (or key)
    holding a lone surrogate, or ``None``."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and _SURROGATE.search(k):
                return f"{path}.{clean_text(k)}"
            found = find_surrogate(v, f"{path}.{k}")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = find_surrogate(v, f"{path}[{i}]")
            if found:
                return found
    return None
