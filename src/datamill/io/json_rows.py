"""JSON objects of a file, one reader for every place that takes "a JSONL or JSON file of
objects" (catalog imports, labelled data for the trainable models).

JSON Lines (``.gz``/``.zst`` too, byte-order marks and truncation handled by
:func:`datamill.io.lines.open_lines`), or a ``.json`` file holding one array of objects. An
error names the file, the line (or array item) and what was expected.
"""

from __future__ import annotations

from typing import Any, Iterator

import fsspec
import orjson

from datamill.core.errors import InputError

__all__ = ["iter_json_objects"]


def iter_json_objects(path: str, *, what: str = "") -> Iterator[dict[str, Any]]:
    """The objects of ``path`` in order; ``what`` (e.g. ``"labels file"``) starts each error."""
    from datamill.io.lines import numbered_lines

    where = f"{what} {path}" if what else path
    if path.lower().endswith(".json"):
        with fsspec.open(path, "rb") as fh:
            data = fh.read()
        if data.lstrip()[:1] == b"[":
            try:
                rows = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{where}: malformed JSON array: {exc}") from None
            for i, row in enumerate(rows, 1):
                if not isinstance(row, dict):
                    raise InputError(f"{where}: item {i}: expected a JSON object, got {type(row).__name__}")
                yield row
            return
    for line_no, raw in numbered_lines(path):
        try:
            row = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{where}:{line_no}: malformed JSON: {exc}") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}:{line_no}: expected a JSON object, got {type(row).__name__}")
        yield row
