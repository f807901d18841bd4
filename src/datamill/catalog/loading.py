"""Read what is being registered (a pipeline output folder, post-training files, an annotation
export) into one Arrow table, and say what it is.

Parquet parts are read as they are; JSON Lines (plain, .gz, .zst) and JSON arrays row by row.
Schemas of several files are merged (a metadata key present in one file only becomes a column,
null elsewhere). A top-level field whose values have no common Arrow type (an int here, a
string there) is stored as JSON text and listed in the table's ``datamill.json_columns``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import fsspec
import orjson

from datamill.core.errors import DatamillError, InputError
from datamill.io.formats import discover
from datamill.io.json_rows import iter_json_objects
from datamill.io.layout import find_stats

CHUNK = 50_000


@dataclass
class Source:
    """What a path holds: its record files, and the run's stats and plan when it is a run."""

    path: str
    kind: str  # "pipeline-output" or "files"
    files: list[str]
    stats: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    json_columns: list[str] = field(default_factory=list)


def inspect_source(path: str) -> Source:
    fs, p = fsspec.core.url_to_fs(path)
    if not fs.exists(p):
        raise InputError(f"{path!r}: no such file or directory")
    run_json = f"{p.rstrip('/')}/.datamill/run.json"
    if fs.isdir(p) and fs.exists(run_json):
        stats_path = find_stats(p)
        if stats_path is None:
            raise DatamillError(f"{path}: this run has not finished (no stats.json); finish or resume it first")
        with fs.open(stats_path, "rb") as fh:
            stats = orjson.loads(fh.read())
        with fs.open(run_json, "rb") as fh:
            run = orjson.loads(fh.read())
        files = [s.path for s in discover([path])]
        return Source(path, "pipeline-output", files, stats=stats, run=run)
    files = [s.path for s in discover([path]) if s.format in ("jsonl", "parquet")
             and os.path.basename(s.path) not in ("dataset_info.json", "stats.json")]
    if not files:
        raise InputError(f"{path!r}: holds no JSON Lines, JSON or Parquet records")
    return Source(path, "files", files)


def _rows(path: str):
    """Rows of a JSON Lines or JSON-array file; a bad line is an error naming file and line."""
    return iter_json_objects(path)


def _clean(row: dict) -> dict:
    """Empty dicts cannot become Arrow structs: store them as nulls (as the Parquet writer does)."""
    return {k: (None if isinstance(v, dict) and not v else v) for k, v in row.items()}


def _to_table(rows: list[dict], json_columns: set[str]):
    import pyarrow as pa

    rows = [_clean(r) for r in rows]
    if json_columns:
        rows = [{k: (orjson.dumps(v).decode() if k in json_columns and v is not None else v)
                 for k, v in r.items()} for r in rows]
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    keys = list(dict.fromkeys(k for r in rows for k in r))
    columns = {}
    for key in keys:
        values = [r.get(key) for r in rows]
        try:
            columns[key] = pa.array(values) if key not in json_columns else pa.array(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            json_columns.add(key)
            columns[key] = pa.array([orjson.dumps(v).decode() if v is not None else None for v in values],
                                    pa.string())
    return pa.table(columns)


def load_table(source: Source, *, progress: bool = False):
    """All records of ``source`` as one Arrow table (schemas merged)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm import tqdm

    tables = []
    json_columns: set[str] = set()
    for path in tqdm(source.files, desc="reading", unit="file", disable=not progress):
        if path.lower().endswith((".parquet", ".pq")):
            with fsspec.open(path, "rb") as fh:
                tables.append(pq.read_table(fh))
            continue
        chunk: list[dict] = []
        for row in _rows(path):
            chunk.append(row)
            if len(chunk) >= CHUNK:
                tables.append(_to_table(chunk, json_columns))
                chunk = []
        if chunk:
            tables.append(_to_table(chunk, json_columns))
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({"id": pa.array([], pa.string())}), []
    for col in sorted(json_columns):  # a column that became JSON late: make it JSON everywhere
        tables = [_as_json(t, col) for t in tables]
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatamillError(f"{source.path}: the files' columns have conflicting types ({exc})") from None
    if "id" not in table.column_names:
        table = table.add_column(0, "id", content_ids(table))
    elif not pa.types.is_string(table.schema.field("id").type):
        table = table.set_column(table.column_names.index("id"), "id", table.column("id").cast(pa.string()))
    return table, sorted(json_columns)


def content_ids(table):
    """Ids for rows that have none (raw post-training files): a hash of the row's content, so
    the same row keeps its id from one version to the next."""
    import pyarrow as pa
    import xxhash

    ids = [xxhash.xxh3_64_hexdigest(orjson.dumps(row, option=orjson.OPT_SORT_KEYS, default=str))
           for row in table.to_pylist()]
    return pa.array(ids, pa.string())


def _as_json(table, column: str):
    import pyarrow as pa

    if column not in table.column_names or pa.types.is_string(table.schema.field(column).type):
        return table
    values = [orjson.dumps(v).decode() if v is not None else None for v in table.column(column).to_pylist()]
    idx = table.column_names.index(column)
    return table.set_column(idx, column, pa.array(values, pa.string()))
