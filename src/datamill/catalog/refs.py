"""Names and references of catalog versions: ``NAME``, ``NAME@3``, ``NAME@release-1``,
``NAME@2026-12-01T10:00:00Z`` and the input form ``catalog://NAME@V``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from datamill.core.errors import DatamillError

SCHEME = "catalog"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,127}$")


def check_name(name: str) -> str:
    if not _NAME.match(name or "") or name.startswith("_"):
        raise DatamillError(f"dataset name {name!r}: expected letters, digits, '_', '.' or '-' "
                            f"(starting with a letter or digit, at most 128 characters)")
    return name


def check_tag(tag: str) -> str:
    if not _TAG.match(tag or ""):
        raise DatamillError(f"tag {tag!r}: expected a letter, then letters, digits, '_', '.' or '-' "
                            f"(a tag cannot look like a version number)")
    return tag


@dataclass(frozen=True)
class Ref:
    """A reference to a version: ``at`` is None (latest), an int, a tag, or a datetime."""

    name: str
    at: int | str | datetime | None = None

    def __str__(self) -> str:
        if self.at is None:
            return self.name
        if isinstance(self.at, datetime):
            return f"{self.name}@{self.at.isoformat()}"
        return f"{self.name}@{self.at}"


def parse_timestamp(text: str) -> datetime | None:
    """An ISO date or date-time (``Z`` or an offset; naive means UTC), else None."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DatamillError(f"version {text!r}: not a valid ISO timestamp ({exc})") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_ref(text: str) -> Ref:
    """``NAME``, ``NAME@V`` (number, tag or ISO timestamp), with or without ``catalog://``."""
    if text.startswith(f"{SCHEME}://"):
        text = text[len(SCHEME) + 3:]
    name, sep, at = text.partition("@")
    check_name(name)
    if not sep:
        return Ref(name)
    if not at:
        raise DatamillError(f"{text!r}: expected NAME@VERSION (a number, a tag or a timestamp)")
    if at.isdigit():
        return Ref(name, int(at))
    stamp = parse_timestamp(at)
    if stamp is not None:
        return Ref(name, stamp)
    return Ref(name, check_tag(at))


def is_catalog_uri(text: str) -> bool:
    return isinstance(text, str) and text.startswith(f"{SCHEME}://")
