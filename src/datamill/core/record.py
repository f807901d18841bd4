"""Records: plain dicts, so C-backed libraries and JSON writers see them without conversion.

A pretraining document is ``{"id", "text", "metadata": {"url", "date", "source", ...},
"signals": {...}}``. ``signals`` holds what taggers and filters measured, kept beside the text
so a new threshold never recomputes a score.
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
