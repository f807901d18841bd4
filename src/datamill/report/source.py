"""What a report is about: a run's output folder or a catalog version, read into Arrow with its
stats, lineage and dropped examples. Large datasets are sampled for the record-level sections
(the funnel and counts always come from the full stats)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import fsspec
import orjson

DEFAULT_SAMPLE = 200_000


@dataclass
class ReportSource:
    title: str
    path: str
    table: Any  # pyarrow.Table (sampled when large)
    total_records: int
    stats: dict[str, Any] | None = None
    lineage: dict[str, Any] | None = None
    ref: str | None = None
    dropped: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sampled: bool = False

    @property
    def is_post_training(self) -> bool:
        return "messages" in self.table.column_names


def _sample(table, limit: int, seed: int):
    import numpy as np

    if limit <= 0 or table.num_rows <= limit:
        return table, False
    idx = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=limit, replace=False))
    return table.take(idx), True


def _dropped_examples(path: str, per_reason: int) -> dict[str, list[dict[str, Any]]]:
    """Up to ``per_reason`` dropped records per (step, reason), from the run's dropped/ folder."""
    from datamill.io.lines import open_lines

    from datamill.io.layout import find_dropped_dir

    fs, p = fsspec.core.url_to_fs(path)
    out: dict[str, list[dict[str, Any]]] = {}
    folder = find_dropped_dir(p)
    if folder is None:
        return out
    for file in sorted(fs.ls(folder, detail=False)):
        if os.path.basename(file).startswith("."):
            continue
        for raw in open_lines(file):
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            key = f"{rec.get('dropped_by', '?')}: {rec.get('drop_reason', '?')}"
            bucket = out.setdefault(key, [])
            if len(bucket) < per_reason:
                bucket.append({"id": rec.get("id"), "text": str(rec.get("text") or rec.get("messages") or "")[:600],
                               "url": (rec.get("metadata") or {}).get("url")})
    return out


def load_source(spec: str, *, sample: int = DEFAULT_SAMPLE, seed: int = 0, catalog_root: str | None = None,
                dropped_per_reason: int = 3, progress: bool = False) -> ReportSource:
    """A run's output folder, a folder/file of records, or ``catalog://NAME@V``."""
    from datamill.catalog.loading import inspect_source, load_table
    from datamill.catalog.refs import is_catalog_uri

    if is_catalog_uri(spec):
        from datamill.catalog import Catalog

        cat = Catalog(catalog_root)
        version = cat.version(spec)
        ds = cat.dataset(version.ref)
        total = ds.count_rows()
        table = ds.to_table()
        table, sampled = _sample(table, sample, seed)
        return ReportSource(version.ref, spec, table, total, stats=version.lineage.get("stats"),
                            lineage=version.lineage, ref=version.ref, sampled=sampled)
    source = inspect_source(spec)
    table, _ = load_table(source, progress=progress)
    total = table.num_rows
    table, sampled = _sample(table, sample, seed)
    dropped = _dropped_examples(spec, dropped_per_reason) if source.kind == "pipeline-output" else {}
    title = (source.stats or {}).get("pipeline") or os.path.basename(spec.rstrip("/"))
    return ReportSource(title, spec, table, total, stats=source.stats, dropped=dropped, sampled=sampled)
