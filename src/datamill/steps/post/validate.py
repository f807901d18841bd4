"""``post_validate``: drop post-training records that fail validation, with the issue code as
the drop reason.

The rules are those of ``datamill validate`` (:mod:`datamill.post.validate`): role order and
alternation, empty turns, a chat not ending with the assistant, malformed tool calls, chosen
identical to rejected, token limits (with ``max_tokens``), and — as warnings — responses cut
mid-sentence. A record with an error is dropped with the reason of its first error
(``role_alternation``, ``empty_turn``, ``too_many_tokens``…); with ``drop_warnings`` warnings
drop too. Every record that has issues keeps their codes in ``signals["validation"]``, and the
field of each in ``signals["validation_fields"]``, so the dropped side output says where.
"""

from __future__ import annotations

from datamill.core.record import Batch, Record
from datamill.core.step import Filter, Resources, register
from datamill.post.validate import CODES, ERROR, token_issues, validate_record
from datamill.steps.post.sides import set_signals


@register("post_validate")
class PostValidate(Filter):
    """Drop post-training records with validation errors (reason: the issue code)."""

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=1024)

    def __init__(self, max_tokens: int | None = None, tokenizer: str | None = None,
                 truncation: bool = True, drop_warnings: bool = False,
                 ignore: list[str] | None = None):
        unknown = sorted(set(ignore or ()) - set(CODES))
        if unknown:
            raise ValueError(f"unknown issue code(s) {', '.join(unknown)}; codes are {', '.join(CODES)}")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        self.max_tokens = max_tokens
        self.tokenizer = tokenizer
        self.truncation = truncation
        self.drop_warnings = drop_warnings
        self.ignore = frozenset(ignore or ()) | {"duplicate_id"}  # a file-level check

    def setup(self) -> None:
        self._counter = None
        if self.max_tokens is not None:
            from datamill.post.tokenizer import load_tokenizer

            self._counter = load_tokenizer(self.tokenizer)

    def keep_batch(self, batch: Batch) -> list[None | str]:
        self.ensure_setup()
        truncation = self.truncation and "truncated_response" not in self.ignore
        all_issues = [validate_record(r, truncation=truncation) for r in batch]
        if self._counter is not None and "too_many_tokens" not in self.ignore:
            for issues, more in zip(all_issues, token_issues(batch, self._counter, self.max_tokens)):
                issues.extend(more)
        return [self._verdict(r, issues) for r, issues in zip(batch, all_issues)]

    def keep(self, record: Record) -> None | str:
        return self.keep_batch([record])[0]

    def _verdict(self, record: Record, issues) -> None | str:
        issues = [i for i in issues if i.code not in self.ignore]
        if not issues:
            return None
        if isinstance(record, dict):
            set_signals(record, self.label, validation=[i.code for i in issues],
                        validation_fields=[i.field for i in issues])
        for i in issues:
            if i.severity == ERROR:
                return i.code
        return issues[0].code if self.drop_warnings else None
