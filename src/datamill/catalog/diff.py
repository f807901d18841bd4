"""What changed between two versions: records added, removed and changed (by id, and by
text hash), and the change of every stat (per-step counts, drops, languages, signal means).

The record comparison runs in DuckDB over the two versions' Arrow datasets: it streams the
Parquet files and keeps only ids and 64-bit hashes, so two 1M-record versions diff in seconds
within a bounded memory (``memory_limit``).
"""

from __future__ import annotations

from typing import Any

from datamill.catalog.store import Catalog

CONTENT_COLUMNS = ("text", "messages", "prompt", "chosen", "rejected", "completion", "response")


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _source(con, name: str, ds, files: list[str] | None) -> None:
    """DuckDB reads local Parquet files itself (streaming row groups within its memory limit);
    other stores go through the Arrow dataset."""
    if files and all("://" not in f or f.startswith("file://") for f in files):
        paths = [f[len("file://"):] if f.startswith("file://") else f for f in files]
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{listed}], union_by_name=true)")
    else:
        con.register(name, ds)


def diff_records(a_ds, b_ds, *, a_files: list[str] | None = None, b_files: list[str] | None = None,
                 examples: int = 5, memory_limit: str = "1GB", threads: int = 2) -> dict[str, Any]:
    import tempfile

    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute(f"SET threads={int(threads)}")
    con.execute("SET enable_progress_bar=false")
    con.execute("SET preserve_insertion_order=false")
    con.execute(f"SET temp_directory='{tempfile.gettempdir()}/datamill-duckdb'")
    _source(con, "a_ds", a_ds, a_files if a_ds.count_rows() else None)
    _source(con, "b_ds", b_ds, b_files if b_ds.count_rows() else None)
    a_cols = set(a_ds.schema.names)
    b_cols = set(b_ds.schema.names)
    common = sorted((a_cols & b_cols) - {"id"})
    content = [c for c in CONTENT_COLUMNS if c in a_cols and c in b_cols] or common
    import pyarrow as pa

    def expr(col: str) -> str:
        """A nested column as text without its null fields, so that a field another version
        added (null here) does not count as a change."""
        types = {a_ds.schema.field(col).type, b_ds.schema.field(col).type}
        if any(pa.types.is_nested(t) for t in types):
            inner = f"regexp_replace(CAST({_quote(col)} AS VARCHAR), '''[^'']*'': NULL, ', '', 'g')"
            return f"regexp_replace({inner}, '(, )?''[^'']*'': NULL', '', 'g')"
        return _quote(col)

    row_expr = f"hash({', '.join(expr(c) for c in common)})" if common else "0"
    text_expr = f"hash({', '.join(expr(c) for c in content)})" if content else "0"
    for side in ("a", "b"):
        con.execute(f"CREATE TEMP TABLE {side} AS SELECT CAST(id AS VARCHAR) AS id, {row_expr} AS rh, "
                    f"{text_expr} AS th FROM {side}_ds")
    q = con.execute("""
        SELECT
          count(*) FILTER (WHERE a.id IS NULL) AS added,
          count(*) FILTER (WHERE b.id IS NULL) AS removed,
          count(*) FILTER (WHERE a.id IS NOT NULL AND b.id IS NOT NULL AND a.rh <> b.rh) AS changed,
          count(*) FILTER (WHERE a.id IS NOT NULL AND b.id IS NOT NULL AND a.th <> b.th) AS text_changed,
          count(*) FILTER (WHERE a.id IS NOT NULL AND b.id IS NOT NULL AND a.rh = b.rh) AS unchanged
        FROM a FULL OUTER JOIN b ON a.id = b.id""").fetchone()
    added, removed, changed, text_changed, unchanged = q
    ex = {}
    for key, where in (("added", "a.id IS NULL"), ("removed", "b.id IS NULL"),
                       ("changed", "a.id IS NOT NULL AND b.id IS NOT NULL AND a.rh <> b.rh")):
        rows = con.execute(f"SELECT coalesce(a.id, b.id) FROM a FULL OUTER JOIN b ON a.id = b.id WHERE {where} "
                           f"ORDER BY 1 LIMIT {int(examples)}").fetchall()
        ex[key] = [r[0] for r in rows]
    texts = con.execute("""
        SELECT (SELECT count(*) FROM (SELECT DISTINCT th FROM b EXCEPT SELECT DISTINCT th FROM a)),
               (SELECT count(*) FROM (SELECT DISTINCT th FROM a EXCEPT SELECT DISTINCT th FROM b)),
               (SELECT count(*) FROM a), (SELECT count(*) FROM b)""").fetchone()
    con.close()
    return {"records_a": texts[2], "records_b": texts[3], "added": added, "removed": removed,
            "changed": changed, "text_changed": text_changed, "unchanged": unchanged,
            "texts_added": texts[0], "texts_removed": texts[1], "content_columns": content,
            "schema_added": sorted(b_cols - a_cols), "schema_removed": sorted(a_cols - b_cols), "examples": ex}


def signal_means(ds) -> dict[str, float]:
    """Mean of every numeric leaf under ``signals`` (dotted paths, as signal_filter names them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if "signals" not in ds.schema.names:
        return {}
    table = ds.to_table(columns=["signals"])
    out: dict[str, float] = {}
    cols = {"signals": table.column("signals")}
    while cols:
        name, col = cols.popitem()
        typ = col.type
        if pa.types.is_struct(typ):
            for i in range(typ.num_fields):
                child = pc.struct_field(col, [i])
                cols[f"{name}.{typ.field(i).name}"] = child
        elif (pa.types.is_integer(typ) or pa.types.is_floating(typ)) and not pa.types.is_boolean(typ):
            mean = pc.mean(col).as_py()
            if mean is not None:
                out[name[len("signals."):]] = float(mean)
        elif pa.types.is_boolean(typ):
            mean = pc.mean(pc.cast(col, pa.int8())).as_py()
            if mean is not None:
                out[name[len("signals."):]] = float(mean)
    return dict(sorted(out.items()))


def _step_counts(stats: dict | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in (stats or {}).get("steps", []):
        out[f"{s['step']}.in"] = s["in"]
        out[f"{s['step']}.out"] = s["out"]
        for reason, n in s.get("dropped", {}).items():
            out[f"{s['step']}.dropped.{reason}"] = n
    for lang, n in (stats or {}).get("languages", {}).items():
        out[f"languages.{lang}"] = n
    for reason, n in (stats or {}).get("quarantine", {}).items():
        out[f"quarantine.{reason}"] = n
    return out


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va != vb:
            delta = (vb or 0) - (va or 0) if isinstance(va or 0, (int, float)) and isinstance(vb or 0, (int, float)) else None
            rows.append({"key": key, "a": va, "b": vb, "delta": delta})
    return rows


def diff(catalog: Catalog, ref_a: str, ref_b: str, **kwargs) -> dict[str, Any]:
    """Python twin of ``datamill catalog diff A B``."""
    va, vb = catalog.version(ref_a), catalog.version(ref_b)
    da, db = catalog.dataset(va.ref), catalog.dataset(vb.ref)
    out = {"a": va.ref, "b": vb.ref}
    out["records"] = diff_records(da, db, a_files=catalog.files(va.ref), b_files=catalog.files(vb.ref), **kwargs)
    out["stats"] = _changes(_step_counts(va.lineage.get("stats")), _step_counts(vb.lineage.get("stats")))
    out["signals"] = _changes(signal_means(da), signal_means(db))
    ra, rb = (va.lineage.get("recipe") or {}), (vb.lineage.get("recipe") or {})
    out["recipe_changed"] = ra.get("sha256") != rb.get("sha256")
    return out


def format_diff(d: dict[str, Any]) -> str:
    r = d["records"]
    lines = [f"diff {d['a']} -> {d['b']}",
             f"  records   {r['records_a']:,} -> {r['records_b']:,}",
             f"  by id     +{r['added']:,} added  -{r['removed']:,} removed  ~{r['changed']:,} changed "
             f"({r['text_changed']:,} in their text)  ={r['unchanged']:,} unchanged",
             f"  by text   +{r['texts_added']:,} new texts  -{r['texts_removed']:,} texts gone "
             f"(hash of {', '.join(r['content_columns']) or 'all columns'})"]
    if r["schema_added"] or r["schema_removed"]:
        lines.append(f"  columns   +{r['schema_added']} -{r['schema_removed']}")
    for key in ("added", "removed", "changed"):
        if r["examples"].get(key):
            lines.append(f"  e.g. {key}: {', '.join(r['examples'][key])}")
    lines.append(f"  recipe    {'changed' if d['recipe_changed'] else 'same'}")
    if d["stats"]:
        lines.append("  stats that changed:")
        for c in d["stats"]:
            lines.append(f"    {c['key']:<48} {_fmt(c['a']):>12} -> {_fmt(c['b']):<12}"
                         + (f" ({c['delta']:+,})" if isinstance(c["delta"], int) else ""))
    if d["signals"]:
        lines.append("  signal means that changed:")
        for c in d["signals"]:
            lines.append(f"    {c['key']:<48} {_fmt(c['a']):>12} -> {_fmt(c['b']):<12}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
