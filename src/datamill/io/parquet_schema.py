"""One Arrow schema for every Parquet part of a run's output.

Each task infers its part's schema from its own records, so parts differ: one shard's
``signals`` struct has ``pii_ips``, another's ``minhash_cluster``; a metadata key holds ints in
one shard and floats in another; a column is all-null (Arrow type ``null``) in a third. HF
``datasets`` then fails with ``DatasetGenerationError``, Polars with a schema mismatch, and
DuckDB needs ``union_by_name``.

When every part is written, :func:`unify_parts` reads each part's footer (cheap), merges the
schemas (:func:`unify_types`: struct fields by name in order of first appearance, ``null``
gives way to any type, integers widen to floats, other conflicts become strings), and rewrites
only the parts whose schema differs, each atomically. It is idempotent, so a run killed during
it simply does it again.

Why not a schema known before the first record: that needs every step to declare the type
of every signal and metadata key it may write, and input records carry metadata of their own
that no step declares. A final unification covers both.
"""

from __future__ import annotations

import json
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datamill.io.atomic import tmp_name


def unify_types(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """The type both ``a`` and ``b`` values convert to without loss (strings as a last resort)."""
    if a.equals(b):
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields: dict[str, pa.DataType] = {f.name: f.type for f in a}
        for f in b:
            fields[f.name] = unify_types(fields[f.name], f.type) if f.name in fields else f.type
        return pa.struct([pa.field(k, v) for k, v in fields.items()])
    if _is_list(a) and _is_list(b):
        return pa.list_(unify_types(a.value_type, b.value_type))
    if pa.types.is_boolean(a) and pa.types.is_boolean(b):
        return a
    if _is_number(a) and _is_number(b):
        if pa.types.is_integer(a) and pa.types.is_integer(b):
            return pa.int64()
        return pa.float64()
    if _is_string(a) and _is_string(b):
        return pa.large_string() if pa.types.is_large_string(a) or pa.types.is_large_string(b) else pa.string()
    return pa.string()


def unify_schemas(schemas: list[pa.Schema]) -> pa.Schema:
    fields: dict[str, pa.DataType] = {}
    for schema in schemas:
        for f in schema:
            fields[f.name] = unify_types(fields[f.name], f.type) if f.name in fields else f.type
    return pa.schema([pa.field(k, v) for k, v in fields.items()])


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def conform(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """``arr`` as an array of type ``target`` (a type :func:`unify_types` returned for it)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if arr.type.equals(target):
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if pa.types.is_struct(target) and pa.types.is_struct(arr.type):
        have = {arr.type.field(i).name: i for i in range(arr.type.num_fields)}
        children = []
        for f in target:
            if f.name in have:
                children.append(conform(arr.field(have[f.name]), f.type))
            else:
                children.append(pa.nulls(len(arr), f.type))
        mask = arr.is_null() if arr.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    if _is_list(target) and _is_list(arr.type):
        values = conform(arr.values, target.value_type)  # offsets index the unsliced values
        offsets = pc.cast(arr.offsets, pa.int32())
        return pa.ListArray.from_arrays(offsets, values, type=target,
                                        mask=arr.is_null() if arr.null_count else None)
    if _is_string(target) and not _is_string(arr.type):
        if _is_number(arr.type) or pa.types.is_boolean(arr.type) or pa.types.is_temporal(arr.type):
            return pc.cast(arr, target)
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                         for v in arr.to_pylist()], type=target)
    return pc.cast(arr, target)


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = []
    for f in schema:
        if f.name in table.column_names:
            columns.append(conform(table.column(f.name), f.type))
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def unify_parts(paths: list[str], row_group_size: int = 10_000) -> dict[str, Any]:
    """Give every Parquet file in ``paths`` one schema; rewrite (atomically) those that differ.
    Returns counters for the run's stats."""
    schemas = []
    for path in paths:
        with fsspec.open(path, "rb") as fh:
            schemas.append(pq.read_schema(fh).remove_metadata())
    if not schemas:
        return {"parts": 0, "rewritten": 0}
    target = unify_schemas(schemas)
    rewritten = 0
    for path, schema in zip(paths, schemas):
        if schema.equals(target):
            continue
        fs, p = fsspec.core.url_to_fs(path)
        tmp = tmp_name(p)
        try:  # row group by row group: memory stays bounded whatever the part's size
            with fs.open(p, "rb") as src, fs.open(tmp, "wb") as dst:
                reader = pq.ParquetFile(src)
                with pq.ParquetWriter(dst, target, compression="zstd") as writer:
                    for i in range(reader.metadata.num_row_groups):
                        group = reader.read_row_group(i).replace_schema_metadata(None)
                        writer.write_table(conform_table(group, target), row_group_size=row_group_size)
            fs.mv(tmp, p)
        except BaseException:
            if fs.exists(tmp):
                fs.rm(tmp)
            raise
        rewritten += 1
    return {"parts": len(paths), "rewritten": rewritten, "columns": len(target)}
