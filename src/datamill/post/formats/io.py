"""Read post-training files into internal records and write them out in any format.

    from datamill.post.formats import read_records, write_records, convert

    bad = []
    records = list(read_records("alpaca_en_demo.json", errors=bad))        # format detected
    write_records(records, "out/sft.json", "sharegpt", dataset_info="my_sft")  # + dataset_info.json
    convert("hh-rlhf/test.jsonl.gz", "out/pairs.jsonl", to="trl")          # -> {"read", "written", "errors"}

Files: ``.json`` (one array, or JSON lines), ``.jsonl``/``.ndjson``, each optionally ``.gz``/``.zst``.
A row that cannot be read or converted becomes a :class:`BadRecord` (file, line or array index,
reason) in the ``errors`` list and reading goes on; without an ``errors`` list it is raised.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import fsspec
import orjson

from datamill.core.errors import DatamillError
from datamill.post.formats import alpaca, llamafactory, openai, sharegpt, trl
from datamill.post.formats.detect import detect_rows
from datamill.post.formats.errors import BadRecord, FormatError
from datamill.post.schema import KINDS, PostRecord


@dataclass(frozen=True)
class Format:
    name: str
    read: Callable[..., list[dict]] | None
    write: Callable[..., dict] | None
    holds: tuple[str, ...]
    description: str
    read_options: tuple[str, ...] = ()


def _datamill_read(obj: dict, rid: str) -> list[dict]:
    if obj.get("kind") not in KINDS or not isinstance(obj.get("messages"), list):
        raise FormatError("kind", f"a datamill record needs a kind in {KINDS} and a list of messages")
    rec = dict(obj)
    rec.setdefault("id", rid)
    rec["metadata"] = dict(rec.get("metadata") or {})
    return [rec]


def _datamill_write(record: dict, *, keep_extra: bool = True) -> dict:
    return record


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("alpaca", alpaca.to_internal, alpaca.from_internal, ("sft", "preference", "kto"),
           "instruction/input/output/system/history; chosen/rejected; kto_tag", ("columns", "ranking")),
    Format("sharegpt", sharegpt.to_internal, sharegpt.from_internal, ("sft", "preference", "kto"),
           "conversations of {from, value} with LLaMA-Factory's role tags; system, tools, chosen/rejected, kto_tag",
           ("columns", "tags", "ranking")),
    Format("openai", openai.to_internal, openai.from_internal, ("sft", "preference", "kto"),
           "{messages, tools}; KTO as messages+label; preference as OpenAI's input/preferred_output"),
    Format("trl", trl.to_internal, lambda r, **kw: trl.from_internal(r, variant="trl", **kw),
           ("sft", "preference", "kto"), "TRL conversational, explicit prompt (reads every TRL type)"),
    Format("trl_implicit", trl.to_internal, lambda r, **kw: trl.from_internal(r, variant="trl_implicit", **kw),
           ("sft", "preference", "kto"), "TRL conversational, implicit-prompt preferences"),
    Format("trl_standard", trl.to_internal, lambda r, **kw: trl.from_internal(r, variant="trl_standard", **kw),
           ("sft", "preference", "kto"), "TRL standard (strings), explicit prompt: single-turn only"),
    Format("trl_standard_implicit", trl.to_internal,
           lambda r, **kw: trl.from_internal(r, variant="trl_standard_implicit", **kw),
           ("sft", "preference", "kto"), "TRL standard, implicit prompt: single-turn only, boundary not kept"),
    Format("hh_rlhf", trl.hh_to_internal, trl.hh_from_internal, ("preference",),
           "Anthropic hh-rlhf chosen/rejected '\\n\\nHuman: … \\n\\nAssistant: …' dialogues"),
    Format("llamafactory_v1", llamafactory.v1_to_internal, llamafactory.v1_from_internal, ("sft", "preference"),
           "LLaMA-Factory v1: messages with typed content parts; chosen_messages/rejected_messages"),
    Format("self_instruct", alpaca.self_instruct_to_internal, alpaca.self_instruct_from_internal, ("sft",),
           "self-instruct seed tasks: instruction + instances [{input, output}]"),
    Format("datamill", _datamill_read, _datamill_write, KINDS, "the internal schema, as it is"),
]}
RECORD_FORMATS = ("auto", *FORMATS)  # what a recipe's `input: {records: …}` accepts


def _format(fmt: str) -> Format:
    spec = FORMATS.get(fmt)
    if spec is None:
        raise DatamillError(f"unknown post-training format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return spec


def to_internal(obj: dict[str, Any], fmt: str, *, id: str = "row", **options: Any) -> PostRecord:
    """One row of ``fmt`` as an internal record; :class:`FormatError` when it does not convert.
    (A self-instruct row with several instances makes several records: use :func:`read_records`.)"""
    if fmt == "auto":
        fmt = detect_rows([obj]) or ""
    if not isinstance(obj, dict):
        raise FormatError("", f"expected a JSON object, got {type(obj).__name__}")
    out = _format(fmt).read(obj, id, **options)
    if len(out) != 1:
        raise FormatError("instances", f"this row makes {len(out)} records; use read_records")
    return out[0]  # type: ignore[return-value]


def from_internal(record: PostRecord | dict[str, Any], fmt: str, *, keep_extra: bool = True,
                  **options: Any) -> dict[str, Any]:
    """An internal record as one row of ``fmt``; :class:`FormatError` (field, why) when ``fmt``
    cannot hold it. ``keep_extra`` writes back the input fields no format interpreted."""
    spec = _format(fmt)
    if spec.write is None:
        raise FormatError("format", f"{fmt} cannot be written")
    return spec.write(record, keep_extra=keep_extra, **options)


# --- reading ---------------------------------------------------------------------------------

def _open_bytes(path: str):
    raw = fsspec.open(path, "rb").open()
    lower = path.lower()
    if lower.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if lower.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))
    return raw


def iter_rows(path: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """``(where, row)`` for each row of a JSON array or JSON-lines file; ``row`` is a
    :class:`BadRecord` for a line or file that does not parse. ``where`` holds ``line`` (JSONL)
    or ``index`` (array, 0-based; Parquet rows too)."""
    if path.lower().endswith((".parquet", ".pq")):
        yield from _parquet_rows(path)
        return
    fh = _open_bytes(path)
    try:
        try:
            head = fh.peek(64)[:64] if hasattr(fh, "peek") else b""
        except (OSError, EOFError, zlib.error):
            head = b""
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
            try:
                data = orjson.loads(fh.read())
            except (orjson.JSONDecodeError, OSError, EOFError, zlib.error) as exc:
                yield {}, BadRecord("malformed_json", f"not a valid JSON array: {exc}", source=path)
                return
            for i, obj in enumerate(data):
                yield {"index": i}, obj
            return
    finally:
        fh.close()
    # JSON lines: through datamill.io.lines, which says when a .gz/.zst file was cut (zstandard's
    # own reader can return a short file, or half a line, without a word)
    from datamill.io.lines import CorruptError, TruncatedError, numbered_lines

    line = 0
    try:
        for line, raw in numbered_lines(path):
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                try:
                    raw.decode("utf-8")
                    kind, why = "malformed_json", f"malformed JSON: {exc}"
                except UnicodeDecodeError as uexc:
                    kind, why = "invalid_utf8", f"invalid UTF-8 at byte {uexc.start}"
                yield {"line": line}, BadRecord(kind, why, source=path, line=line)
                continue
            yield {"line": line}, obj
    except (TruncatedError, CorruptError, OSError) as exc:
        yield {"line": line + 1}, BadRecord("truncated_file", f"{type(exc).__name__}: {exc}", source=path,
                                            line=line + 1)


def _parquet_rows(path: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """Rows of a Parquet file (a catalog version, a Hugging Face export): fields that are null
    are left out, as a row of a merged schema has every column."""
    import pyarrow.parquet as pq

    try:
        with fsspec.open(path, "rb") as fh:
            table = pq.read_table(fh)
    except Exception as exc:  # noqa: BLE001 - any unreadable Parquet: one quarantined file
        yield {}, BadRecord("malformed_parquet", f"{type(exc).__name__}: {exc}", source=path)
        return
    i = 0
    for batch in table.to_batches():
        for row in batch.to_pylist():
            yield {"index": i}, {k: v for k, v in row.items() if v is not None}
            i += 1


@dataclass
class ReadReport:
    """What a read saw: records read, the format of each file, quarantined rows."""

    read: int = 0
    formats: dict[str, str] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)


def _files(path: str) -> list[str]:
    """The files of ``path``, found as the pipeline finds them (hidden files skipped; a datamill
    output folder gives only its ``part-*`` files, not its stats or side outputs; a registered
    URI such as ``catalog://name@v2`` stands for its version's files)."""
    from datamill.io.formats import discover, resolve_input

    out: list[str] = []
    for given in resolve_input(path):
        fs, p = fsspec.core.url_to_fs(given)
        if not fs.exists(p):
            raise DatamillError(f"input {path!r}: no such file or directory")
        if fs.isdir(p):
            out += [s.path for s in discover([given]) if os.path.basename(s.path) != "dataset_info.json"]
        else:
            out.append(given)
    return out


def read_records(path: str, fmt: str | None = None, *, dataset: str | None = None,
                 dataset_info: str | None = None, columns: dict[str, str] | None = None,
                 tags: dict[str, str] | None = None, ranking: bool | None = None,
                 errors: list[BadRecord] | None = None, report: ReadReport | None = None) -> Iterator[PostRecord]:
    """Internal records from a file or folder of post-training rows.

    ``fmt``: a name in :data:`FORMATS`, or ``None``/``"auto"`` to detect it per file.
    ``dataset`` (+ ``dataset_info``): load the LLaMA-Factory entry ``dataset`` of
    ``dataset_info`` (default ``path/dataset_info.json``); files are looked up in ``path`` when
    it is a folder, else beside ``dataset_info.json``. ``columns``/``tags``/``ranking``: the same
    options for alpaca or sharegpt without a dataset_info.json.
    Bad rows go to ``errors`` (a list of :class:`BadRecord`) when given, else are raised.
    """
    report = report if report is not None else ReadReport()
    options: dict[str, Any] = {}
    if dataset is not None:
        fs, p = fsspec.core.url_to_fs(path)
        is_dir = fs.isdir(p)
        info = dataset_info or (os.path.join(path, "dataset_info.json") if is_dir else path)
        files, fmt, options = llamafactory.resolve_entry(info, dataset, dataset_dir=path if is_dir else None)
    else:
        files = _files(path)
        for key, value in (("columns", columns), ("tags", tags), ("ranking", ranking)):
            if value is not None:
                options[key] = value
    if fmt not in (None, "auto"):
        spec = _format(fmt)
        bad = set(options) - set(spec.read_options)
        if bad:
            raise DatamillError(f"format {fmt!r} takes no option {sorted(bad)}")
    for file in files:
        yield from _read_file(file, fmt, options, errors, report)


def _quarantine(err: BadRecord, errors: list | None, report: ReadReport) -> None:
    report.errors[err.key] += 1
    if errors is None:
        raise err
    errors.append(err)


def _read_file(path: str, fmt: str | None, options: dict, errors: list | None, report: ReadReport) -> Iterator[dict]:
    rows = iter_rows(path)
    name = os.path.basename(path)
    if fmt in (None, "auto"):
        buffered: list[tuple[dict, Any]] = []
        for item in rows:
            buffered.append(item)
            if sum(1 for _, o in buffered if isinstance(o, dict)) >= 5:
                break
        fmt = detect_rows(o for _, o in buffered if isinstance(o, dict))
        if fmt is None:
            if any(isinstance(o, dict) for _, o in buffered):
                report.formats[path] = "unknown"
                _quarantine(BadRecord("unknown_format", "no post-training format matches these rows "
                                      "(pass a format with --from)", source=path), errors, report)
                return
        import itertools

        rows = itertools.chain(buffered, rows)
    report.formats[path] = fmt or "unknown"
    reader = _format(fmt).read if fmt else None
    for where, obj in rows:
        if isinstance(obj, BadRecord):
            _quarantine(obj, errors, report)
            continue
        line, index = where.get("line"), where.get("index")
        rid = f"{name}:{line}" if line is not None else f"{name}[{index}]"
        if not isinstance(obj, dict):
            _quarantine(BadRecord("malformed_json", f"expected a JSON object, got {type(obj).__name__}", source=path,
                                  line=line, index=index), errors, report)
            continue
        try:
            records = reader(obj, rid, **options)  # type: ignore[misc]
        except FormatError as exc:
            _quarantine(BadRecord("unconvertible", str(exc), source=path, line=line, index=index, field=exc.field,
                                  record_id=rid), errors, report)
            continue
        for rec in records:
            meta = rec["metadata"]
            meta.setdefault("source", path)
            meta.setdefault("format", fmt)
            meta.setdefault("line" if line is not None else "index", line if line is not None else index)
            report.read += 1
            yield rec  # type: ignore[misc]


def read_post_shard(shard, stats, quarantine, fmt: str = "auto") -> Iterator[dict]:
    """The pipeline's reader for ``input: {records: FMT}``: bad rows go to the run's quarantine."""
    if os.path.basename(shard.path) == "dataset_info.json":  # LLaMA-Factory's index, not data
        stats.skipped["dataset_info"] += 1
        return
    errors: list[BadRecord] = []
    report = ReadReport()
    stats.bytes += shard.size or 0
    for rec in _read_file(shard.path, fmt, {}, errors, report):
        for err in errors:
            quarantine.add(err.kind, err.source or shard.path, err.reason, line=err.line, index=err.index,
                           field=err.field)
        errors.clear()
        stats.read += 1
        yield rec
    for err in errors:
        quarantine.add(err.kind, err.source or shard.path, err.reason, line=err.line, index=err.index, field=err.field)


# --- writing ---------------------------------------------------------------------------------

@dataclass
class WriteReport:
    written: int = 0
    errors: Counter = field(default_factory=Counter)
    path: str = ""
    dataset_info: str | None = None
    warnings: list = field(default_factory=list)


def _out_kind(path: str) -> tuple[str, str]:
    lower = path.lower()
    comp = "gz" if lower.endswith(".gz") else "zst" if lower.endswith(".zst") else ""
    stem = lower[: -len(comp) - 1] if comp else lower
    if stem.endswith(".json"):
        return "array", comp
    if stem.endswith((".jsonl", ".ndjson")):
        return "lines", comp
    raise DatamillError(f"output {path!r}: expected a .json (array) or .jsonl file, optionally .gz or .zst")


def write_records(records: Iterable[PostRecord | dict[str, Any]], path: str, fmt: str = "datamill", *,
                  keep_extra: bool = True, errors: list[BadRecord] | None = None,
                  dataset_info: str | None = None, keep_empty: bool = True, **options: Any) -> WriteReport:
    """Write records as ``fmt`` to ``path`` (``.json``: one array; ``.jsonl[.gz|.zst]``: lines),
    atomically. A record the format cannot hold goes to ``errors`` as a ``cannot_write``
    :class:`BadRecord` when a list is given; otherwise the :class:`FormatError` is raised and
    nothing is written. ``dataset_info="name"`` also adds an entry for the file to
    ``dataset_info.json`` beside it, so LLaMA-Factory loads it as ``dataset: name``.
    ``keep_empty=False``: when no record could be written, no file is left (and none replaced)."""
    try:
        return _write_records(records, path, fmt, keep_extra=keep_extra, errors=errors,
                              dataset_info=dataset_info, keep_empty=keep_empty, **options)
    except _NothingWritten as nothing:
        return nothing.report


class _NothingWritten(Exception):
    def __init__(self, report):
        super().__init__("nothing written")
        self.report = report


def _boundary_shift(chosen: str, rejected: str, record: dict) -> int:
    """1 when the implicit strings' longest common prefix runs past the real prompt."""
    from datamill.post.formats.common import common_prefix

    prompt_len = len(chosen) - len(assistant_answer(record.get("chosen")))
    return int(common_prefix(chosen, rejected) > prompt_len)


def assistant_answer(msgs) -> str:
    if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict):
        c = msgs[-1].get("content")
        return c if isinstance(c, str) else ""
    return ""


def _write_records(records, path, fmt, *, keep_extra, errors, dataset_info, keep_empty, **options) -> WriteReport:
    from datamill.io.atomic import atomic_open

    shifted = 0

    spec = _format(fmt)
    layout, comp = _out_kind(path)
    report = WriteReport(path=path)
    kinds: set[str] = set()
    keys: set[str] = set()
    uses_tools = False
    with atomic_open(path, "wb") as raw:
        if comp == "gz":
            fh: Any = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)
        elif comp == "zst":
            import zstandard

            fh = zstandard.ZstdCompressor().stream_writer(raw, closefd=False)
        else:
            fh = raw
        opt = orjson.OPT_INDENT_2 if layout == "array" else 0
        if layout == "array":
            fh.write(b"[")
        for rec in records:
            try:
                row = spec.write(rec, keep_extra=keep_extra, **options)
                data = orjson.dumps(row, option=opt)
            except (FormatError, TypeError) as exc:
                rid = rec.get("id") if isinstance(rec, dict) else None
                fld = exc.field if isinstance(exc, FormatError) else ""
                err = BadRecord("cannot_write", f"{fmt}: {exc}", source=str(rid or ""), field=fld or None,
                                record_id=rid)
                report.errors[err.key] += 1
                if errors is None:
                    raise FormatError(fld, f"record {rid!r} as {fmt}: {getattr(exc, 'why', exc)}") from None
                errors.append(err)
                continue
            if fmt == "trl_standard_implicit" and rec.get("kind") == "preference" \
                    and isinstance(row.get("chosen"), str) and isinstance(row.get("rejected"), str):
                shifted += _boundary_shift(row["chosen"], row["rejected"], rec)
            if layout == "array":
                fh.write(b"\n" if report.written == 0 else b",\n")
                fh.write(data)
            else:
                fh.write(data + b"\n")
            report.written += 1
            if dataset_info:
                kinds.add(rec.get("kind", "sft"))
                keys.update(row)
                uses_tools = uses_tools or any(m.get("tool_calls") or m.get("role") == "tool"
                                               for m in rec.get("messages") or [])
        if shifted:
            report.warnings.append(
                f"{shifted:,} of {report.written:,} pairs: chosen and rejected answers begin with the same "
                "text, so a reader of trl_standard_implicit (which splits at the longest common prefix, as TRL "
                "does) will move the prompt boundary into the answers; write trl_standard (explicit prompt) "
                "to keep it")
        if not report.written and not keep_empty:
            raise _NothingWritten(report)  # atomic_open drops the temporary file
        if layout == "array":
            fh.write(b"\n]\n" if report.written else b"]\n")
        if dataset_info:
            entry = llamafactory.dataset_info_entry(os.path.basename(path), fmt, kinds, keys, uses_tools)
        if fh is not raw:
            fh.close()
    if dataset_info:
        report.dataset_info = llamafactory.write_dataset_info(os.path.dirname(path) or ".", dataset_info, entry)
    return report


def convert(src: str, dst: str, *, from_: str | None = None, to: str = "datamill", dataset: str | None = None,
            dataset_info: str | None = None, register: str | None = None,
            errors: list[BadRecord] | None = None, ranking_to: str | None = None,
            to_kto: bool = False) -> dict[str, Any]:
    """``src`` (file, folder, or a LLaMA-Factory dataset) to ``dst`` as ``to``. Bad rows are
    counted and kept in ``errors``; returns ``{"read", "written", "formats", "errors", "output"}``.
    ``ranking_to`` (``pairs`` or ``best-worst``) turns ranking records into preference pairs and
    ``to_kto`` pairs into KTO samples (:mod:`datamill.post.rankings`). When nothing can be
    written, no output file is made (``written`` is 0)."""
    errors = errors if errors is not None else []
    report = ReadReport()
    records = read_records(src, from_, dataset=dataset, dataset_info=dataset_info, errors=errors, report=report)
    if ranking_to or to_kto:
        from datamill.post.rankings import reshape

        records = reshape(records, ranking_to=ranking_to, to_kto=to_kto)
    wrote = write_records(records, dst, to, errors=errors, dataset_info=register, keep_empty=False)
    counts = report.errors + wrote.errors
    return {"read": report.read, "written": wrote.written, "formats": report.formats, "to": to,
            "errors": dict(counts.most_common()), "output": dst, "dataset_info": wrote.dataset_info,
            "warnings": list(wrote.warnings)}
