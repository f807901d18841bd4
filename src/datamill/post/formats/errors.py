"""Errors of format conversion.

:class:`FormatError` — one record does not fit a format: names the field and why
(``FormatError("messages[2].tool_calls", "alpaca cannot hold tool calls")``).

:class:`BadRecord` — a row that could not be read or written, with the file and line (or array
index) and the reason; readers hand these to the caller's ``errors`` list (the quarantine)
and go on.
"""

from __future__ import annotations

import re
from typing import Any

from datamill.core.errors import DatamillError, RecordError

_INDEX = re.compile(r"\[\d+\]")


class FormatError(DatamillError):
    """A record that a format cannot hold, or a row that is not in the format it claims."""

    def __init__(self, field: str, why: str):
        self.field, self.why = field, why
        super().__init__(f"{field}: {why}" if field else why)


class BadRecord(RecordError, DatamillError):
    """A quarantined row: ``kind`` is ``malformed_json``, ``invalid_utf8``, ``unconvertible``
    (read side) or ``cannot_write`` (write side); ``field`` names the offending field."""

    def __init__(self, kind: str, reason: str, *, source: str = "", line: int | None = None,
                 index: int | None = None, field: str | None = None, record_id: str | None = None):
        super().__init__(reason, source=source, line=line, record_id=record_id)
        self.kind, self.index, self.field = kind, index, field

    @property
    def key(self) -> str:
        """What error counts group by: the kind and the field without list indices."""
        if not self.field:
            return self.kind
        return f"{self.kind}: {_INDEX.sub('[]', self.field)}"

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, **super().to_dict()}
        for key in ("index", "field"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    def __str__(self) -> str:
        where = self.source or "<record>"
        if self.line is not None:
            where += f":{self.line}"
        elif self.index is not None:
            where += f"[{self.index}]"
        if self.record_id and self.record_id not in where:
            where += f" ({self.record_id})"
        return f"{where}: {self.reason}"
