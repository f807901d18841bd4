"""Errors people can act on: each names the file, the line or record, and what was expected."""

from __future__ import annotations

import functools
import sys


class DatamillError(Exception):
    """Base class: a clear one-line message, shown to the user without a traceback."""


class RecipeError(DatamillError):
    """A recipe that cannot run: names the recipe file and line."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path, self.line, self.reason = path, line, message
        super().__init__(f"{format_location(path or '<recipe>', line=line)}: {message}")


class InputError(DatamillError):
    """An input path that does not exist or cannot be read."""


class RecordError(Exception):
    """A record that cannot be parsed or processed; it is quarantined, the run goes on."""

    def __init__(self, reason: str, *, source: str = "", offset: int | None = None,
                 line: int | None = None, record_id: str | None = None, step: str | None = None):
        self.reason, self.source, self.offset, self.line = reason, source, offset, line
        self.record_id, self.step = record_id, step
        super().__init__(reason)

    @property
    def location(self) -> str:
        return format_location(self.source, line=self.line, offset=self.offset, record_id=self.record_id)

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}" + (f" (step {self.step})" if self.step else "")

    def to_dict(self) -> dict:
        out = {"reason": self.reason, "source": self.source}
        for key in ("offset", "line", "record_id", "step"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def friendly_errors(fn):
    """For command-line entry points: a :class:`DatamillError` becomes one clear line on
    stderr and exit code 2, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DatamillError as exc:
            print(f"datamill: error: {exc}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def format_location(source: str | None = None, *, line: int | None = None, offset: int | None = None,
                    index: int | None = None, record_id: str | None = None, field: str | None = None) -> str:
    """Where something is, one way everywhere: ``FILE:LINE``, ``FILE@OFFSET`` (a byte offset,
    for WARC), ``FILE[INDEX]`` (a JSON array or a stream), then `` (id=ID)`` when the id says
    more than the position, then ``:FIELD``."""
    where = source or "<input>"
    if line is not None:
        where += f":{line}"
    elif offset is not None:
        where += f"@{offset}"
    elif index is not None:
        where += f"[{index}]"
    if record_id is not None and line is None and offset is None and index is None:
        where += f" (id={record_id})"
    return f"{where}:{field}" if field else where
