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
        where = path or "<recipe>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


class InputError(DatamillError):
    """An input path that does not exist or cannot be read."""


class RecordError(Exception):
    """A record that cannot be parsed or processed; it is quarantined, the run goes on."""

    def __init__(self, reason: str, *, source: str = "", offset: int | None = None,
                 line: int | None = None, record_id: str | None = None, step: str | None = None):
        self.reason, self.source, self.offset, self.line = reason, source, offset, line
        self.record_id, self.step = record_id, step
        super().__init__(reason)

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
