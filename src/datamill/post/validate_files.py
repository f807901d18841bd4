"""Validation of streams and files: :func:`validate_records` (counting tokens in batches, duplicate
ids), :func:`read_for_validation` (any format the readers know, unreadable rows kept as issues),
:func:`validate_file` and its :class:`Report` (``datamill validate``). The per-record rules are in
:mod:`datamill.post.validate`."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from datamill.post.issues import _TRUNCATION_CODE, CODES, ERROR, WARNING, Issue, ValidationError
from datamill.post.token_limits import resolve_counter, token_issues
from datamill.post.validate import validate_record

def validate_records(records: Iterable[Any], *, max_tokens: int | None = None, tokenizer=None,
                     truncation: bool = True, ignore: Iterable[str] = (), file: str | None = None,
                     batch_size: int = 1024) -> Iterator[tuple[int, Any, list[Issue]]]:
    """Yield ``(index, record, issues)`` for each record (0-based index in the stream; issues
    carry it as ``index``). ``tokenizer``: a :class:`~datamill.post.tokenizer.TokenCounter`, a
    path to a ``tokenizer.json``, or None for the default one (loaded only with ``max_tokens``)."""
    items = (({"index": i}, rec) for i, rec in enumerate(records))
    for where, rec, issues in _validate_stream(items, max_tokens=max_tokens, tokenizer=tokenizer,
                                               truncation=truncation, ignore=ignore, file=file,
                                               batch_size=batch_size):
        yield where["index"], rec, issues


def _validate_stream(items: Iterable[tuple[dict, Any]], *, max_tokens, tokenizer, truncation, ignore,
                     file, batch_size) -> Iterator[tuple[dict, Any, list[Issue]]]:
    ignore = frozenset(ignore)
    unknown = sorted(ignore - set(CODES))
    if unknown:
        raise ValidationError(f"unknown issue code(s) {', '.join(unknown)}; codes are {', '.join(CODES)}")
    counter = resolve_counter(tokenizer) if max_tokens is not None else None
    seen_ids: dict[str, str] = {}
    batch: list[tuple[dict, Any, list[Issue]]] = []

    def flush():
        if counter is not None and "too_many_tokens" not in ignore:
            readable = [(k, rec) for k, (_, rec, _) in enumerate(batch) if not isinstance(rec, _Unreadable)]
            extra = token_issues([rec for _, rec in readable], counter, max_tokens)
            for (k, _), more in zip(readable, extra):
                batch[k][2].extend(more)
        for where, rec, issues in batch:
            kept = [i for i in issues if i.code not in ignore] if ignore else issues
            for i in kept:
                i.file, i.line, i.index = file, where.get("line"), where.get("index")
            yield where, rec, kept
        batch.clear()

    for where, rec in items:
        if isinstance(rec, _Unreadable):
            issues = [Issue(rec.record_id, rec.field, rec.code, rec.message, CODES[rec.code][0])]
        else:
            issues = validate_record(rec, truncation=truncation and _TRUNCATION_CODE not in ignore)
            rid = rec.get("id") if isinstance(rec, dict) else None
            if rid is not None:
                rid = str(rid)
                here = _where_text(where)
                if rid in seen_ids:
                    issues.append(Issue(rid, "id", "duplicate_id",
                                        f"id {rid!r} was already used by the record at {seen_ids[rid]}", WARNING))
                else:
                    seen_ids[rid] = here
        batch.append((where, rec, issues))
        if len(batch) >= batch_size:
            yield from flush()
    if batch:
        yield from flush()


def _where_text(where: dict) -> str:
    if where.get("line") is not None:
        return f"line {where['line']}"
    return f"index {where.get('index')}"


# --- files and reports ----------------------------------------------------------------------------

@dataclass
class Report:
    """What ``validate_file`` found. ``issues`` keeps the first ``max_issues``; ``counts``
    counts every issue by code."""

    file: str
    records: int = 0
    invalid_records: int = 0     # records with at least one error
    warned_records: int = 0      # records with warnings only
    counts: Counter = field(default_factory=Counter)
    issues: list[Issue] = field(default_factory=list)
    strict: bool = False
    max_tokens: int | None = None
    tokenizer: str | None = None
    seconds: float = 0.0
    truncated_issues: int = 0    # issues not kept in ``issues`` because of max_issues

    @property
    def errors(self) -> int:
        return sum(n for c, n in self.counts.items() if CODES[c][0] == ERROR)

    @property
    def warnings(self) -> int:
        return sum(n for c, n in self.counts.items() if CODES[c][0] == WARNING)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def failed(self) -> bool:
        """True when validation was strict and found errors (the CLI then exits 1)."""
        return self.strict and not self.ok

    def summary(self, show: int = 20) -> str:
        lines = [f"{self.file}: {self.records:,} records, {self.invalid_records:,} with errors, "
                 f"{self.warned_records:,} with warnings only "
                 f"({self.errors:,} errors, {self.warnings:,} warnings"
                 + (f"; token limit {self.max_tokens:,} with {self.tokenizer}" if self.max_tokens else "")
                 + f") in {self.seconds:.1f}s"]
        if self.counts:
            lines.append("  issues by code:")
            for code, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"    {n:>9,}  {CODES[code][0]:<7}  {code}")
        if self.issues and show:
            shown = self.issues[:show]
            lines.append(f"  first {len(shown)} of {sum(self.counts.values()):,} issues:")
            lines.extend(f"    {i}" for i in shown)
        if not self.counts:
            lines.append("  no issues")
        elif self.strict:
            lines.append("  FAILED (--strict): errors found" if self.failed else "  passed (warnings only)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "records": self.records, "invalid_records": self.invalid_records,
                "warned_records": self.warned_records, "errors": self.errors,
                "warnings": self.warnings, "counts": dict(self.counts), "strict": self.strict,
                "failed": self.failed, "max_tokens": self.max_tokens, "tokenizer": self.tokenizer,
                "seconds": round(self.seconds, 3), "issues": [i.to_dict() for i in self.issues]}


_TOOL_CALL_WHY = re.compile(r"(?:an? |the )?(?:function|tool)[ _]call", re.I)


@dataclass
class _Unreadable:
    message: str
    field: str = ""
    record_id: str | None = None
    code: str = "unreadable"


def read_for_validation(path: str, fmt: str | None = None) -> Iterator[tuple[dict, Any]]:
    """``(where, record)`` for each row of ``path``, converted to the internal schema by the
    format readers (:mod:`datamill.post.formats`; ``fmt`` or detected from the first rows).
    ``where`` holds ``line`` (JSONL) or ``index`` (JSON array). A row that does not parse or
    convert comes as an ``_Unreadable`` with the reason, so the run goes on."""
    from datamill.post.formats import BadRecord, FormatError, detect_rows, iter_rows
    from datamill.post.formats.io import FORMATS

    if not os.path.exists(path):
        raise ValidationError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValidationError(f"{path}: is a folder; validate one file at a time")
    if fmt in ("auto", "internal"):
        fmt = None if fmt == "auto" else "datamill"
    if fmt is not None and fmt not in FORMATS:
        raise ValidationError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    rows = iter_rows(path)
    if fmt is None:
        buffered = []
        for item in rows:
            buffered.append(item)
            if sum(1 for _, o in buffered if isinstance(o, dict)) >= 5:
                break
        fmt = detect_rows(o for _, o in buffered if isinstance(o, dict))
        if fmt is None and any(isinstance(o, dict) for _, o in buffered):
            raise ValidationError(f"{path}: no post-training format matches these rows; pass --from FMT "
                                  f"({', '.join(FORMATS)})")
        rows = itertools.chain(buffered, rows)
    reader = FORMATS[fmt].read if fmt else None
    name = os.path.basename(path)
    for where, obj in rows:
        if isinstance(obj, BadRecord):
            yield where, _Unreadable(f"{obj.kind}: {obj.reason}")
            continue
        if not isinstance(obj, dict):
            yield where, _Unreadable(f"expected a JSON object, got {type(obj).__name__}", code="not_a_record")
            continue
        line, index = where.get("line"), where.get("index")
        rid = f"{name}:{line}" if line is not None else f"{name}[{index}]"
        try:
            records = reader(obj, rid)
        except FormatError as exc:
            raw_id = obj.get("id")
            why = str(exc.why)
            code = "tool_call_malformed" if _TOOL_CALL_WHY.match(why) else "unreadable"
            yield where, _Unreadable(f"cannot read as {fmt}: {why}", exc.field or "",
                                     str(raw_id) if raw_id is not None else None, code)
            continue
        for rec in records:
            yield where, rec


def validate_file(path: str, fmt: str | None = None, max_tokens: int | None = None, tokenizer=None,
                  strict: bool = False, *, truncation: bool = True, ignore: Iterable[str] = (),
                  max_issues: int = 10_000) -> Report:
    """Validate every record of ``path`` (JSON array or JSONL, optionally .gz/.zst; any format
    ``datamill.post.formats`` reads, or ``fmt`` to say which). ``max_tokens`` checks each
    conversation's length with ``tokenizer`` (a ``tokenizer.json`` path, a TokenCounter, or
    None for datamill's BPE). ``strict`` makes :attr:`Report.failed` true when errors exist."""
    t0 = time.perf_counter()
    report = Report(file=path, strict=strict, max_tokens=max_tokens)
    counter = resolve_counter(tokenizer) if max_tokens is not None else None
    if counter is not None:
        report.tokenizer = counter.source
    items = read_for_validation(path, fmt)
    for _, _, issues in _validate_stream(items, max_tokens=max_tokens, tokenizer=counter,
                                         truncation=truncation, ignore=ignore, file=path,
                                         batch_size=1024):
        report.records += 1
        if not issues:
            continue
        has_error = False
        for i in issues:
            report.counts[i.code] += 1
            has_error = has_error or i.severity == ERROR
            if len(report.issues) < max_issues:
                report.issues.append(i)
            else:
                report.truncated_issues += 1
        if has_error:
            report.invalid_records += 1
        else:
            report.warned_records += 1
    report.seconds = time.perf_counter() - t0
    return report
