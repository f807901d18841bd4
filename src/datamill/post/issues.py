"""Validation issues: the codes, their severity, and :class:`Issue` (file, record, field, message)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from datamill.core.errors import DatamillError

ERROR, WARNING = "error", "warning"

#: code -> (severity, what it means)
CODES: dict[str, tuple[str, str]] = {
    "unreadable": (ERROR, "the record could not be read or converted to the internal schema"),
    "not_a_record": (ERROR, "the record is not a JSON object"),
    "unknown_kind": (ERROR, "kind is not sft, preference, kto or ranking"),
    "missing_field": (ERROR, "a field the record's kind needs is missing or empty"),
    "wrong_type": (ERROR, "a field has the wrong type (messages must be lists of {role, content})"),
    "unknown_role": (ERROR, "a role other than system, user, assistant, tool"),
    "empty_turn": (ERROR, "a turn whose content is empty or only whitespace"),
    "system_not_first": (ERROR, "a system turn anywhere but first"),
    "first_turn_not_user": (ERROR, "the first turn after the system prompt is not a user turn"),
    "role_alternation": (ERROR, "two user or two assistant turns in a row, or a tool result not "
                                "followed by an assistant turn"),
    "prompt_ends_with_assistant": (ERROR, "the prompt of a preference/KTO/ranking record ends "
                                          "with an assistant turn"),
    "no_final_assistant": (ERROR, "a chat or a response that does not end with an assistant turn"),
    "tool_call_malformed": (ERROR, "a tool call that is not {name, arguments} with a name"),
    "tool_call_bad_arguments": (ERROR, "tool call arguments that are not a JSON object"),
    "unknown_tool": (ERROR, "a tool call to a function that the record's tools do not offer"),
    "tool_call_missing_argument": (WARNING, "a tool call without an argument its schema requires"),
    "tool_schema_malformed": (ERROR, "a tools entry without a function name"),
    "tool_without_call": (ERROR, "a tool result that follows no assistant tool call"),
    "tool_result_unmatched": (ERROR, "a tool result whose tool_call_id matches no earlier call"),
    "tool_call_unanswered": (WARNING, "a tool call with no tool result before the next turn"),
    "chosen_equals_rejected": (ERROR, "chosen and rejected are the same text"),
    "duplicate_responses": (WARNING, "two responses of a ranking are the same text"),
    "bad_rank": (ERROR, "a rank that is not a positive integer"),
    "too_few_responses": (ERROR, "a ranking with fewer than two responses"),
    "truncated_response": (WARNING, "the answer seems cut mid-sentence"),
    "too_many_tokens": (ERROR, "the conversation is longer than the token limit"),
    "duplicate_id": (WARNING, "an id already used by an earlier record of the file"),
}

_TRUNCATION_CODE = "truncated_response"


class ValidationError(DatamillError):
    """A file that cannot be validated at all (missing, unreadable format)."""


@dataclass
class Issue:
    """One problem in one record."""

    record_id: str | None
    field: str
    code: str
    message: str
    severity: str = ERROR
    file: str | None = None
    line: int | None = None    # JSON-lines files: the line of the record (1-based)
    index: int | None = None   # JSON arrays and record streams: the position (0-based)

    def location(self) -> str:
        """``FILE:LINE`` or ``FILE[INDEX]``, the record id when it says more, then the field."""
        where = self.file or "<records>"
        if self.line is not None:
            where += f":{self.line}"
        elif self.index is not None:
            where += f"[{self.index}]"
        if self.record_id is not None and not where.endswith(self.record_id.rsplit("/", 1)[-1]) \
                and not self.record_id.endswith((f":{self.line}", f"[{self.index}]")):
            where += f" (id={self.record_id})"
        return f"{where}:{self.field}" if self.field else where

    def __str__(self) -> str:
        return f"{self.location()}: {self.severity} {self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _issue(code: str, field_: str, message: str) -> Issue:
    return Issue(None, field_, code, message, CODES[code][0])


def _with_id(issues: list[Issue], record: dict) -> list[Issue]:
    rid = record.get("id")
    if rid is not None:
        rid = str(rid)
        for i in issues:
            i.record_id = rid
    return issues
