"""Reading one stored signal by its dotted path inside ``record["signals"]``.

``gopher_quality.word_count`` is ``record["signals"]["gopher_quality"]["word_count"]``; a step
label such as ``quality_classifier#2`` is one path part (labels never hold dots).
"""

from __future__ import annotations

import math
from typing import Any

from datamill.core.record import Record

MISSING = object()


def split_path(path: str) -> tuple[str, ...]:
    parts = tuple(p for p in str(path).split(".") if p)
    if not parts:
        raise ValueError(f"signal path {path!r} is empty: expected e.g. 'gopher_quality.word_count'")
    return parts


def get_signal(record: Record, parts: tuple[str, ...]) -> Any:
    """The value at ``parts`` inside ``record["signals"]``, or :data:`MISSING`."""
    node: Any = record.get("signals")
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    if node is None:
        return MISSING
    return node


def as_number(value: Any) -> float | None:
    """A signal as a float for ``min``/``max``/quantiles, or None when it is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        v = float(value)
        return None if math.isnan(v) else v
    return None
