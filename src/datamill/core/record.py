"""Records: plain dicts, so C-backed libraries and JSON writers see them without conversion.

A pretraining document is ``{"id", "text", "metadata": {"url", "date", "source", ...},
"signals": {<step label>: {<name>: value}}}``. ``signals`` holds what steps measured, kept
beside the text so a new threshold never recomputes a score (docs/pipelines.md, "Signals").
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]
Batch = list[Record]


def make_record(id: str, text: str, *, url: str | None = None, date: str | None = None,
                source: str | None = None, **metadata: Any) -> Record:
    meta = {"url": url, "date": date, "source": source}
    meta.update(metadata)
    return {"id": id, "text": text, "metadata": meta, "signals": {}}


def signals(record: Record) -> dict[str, Any]:
    """The record's signal dict, created on first use."""
    sig = record.get("signals")
    if sig is None:
        sig = record["signals"] = {}
    return sig


def get_signal(record: Record, path: str, default: Any = None) -> Any:
    """A stored signal by its dotted path inside ``signals``: ``"gopher_quality.word_count"``
    is ``record["signals"]["gopher_quality"]["word_count"]``; ``default`` when any part is
    missing. A flat name (``"quality"``) still reads a flat key of older outputs."""
    node: Any = record.get("signals")
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
