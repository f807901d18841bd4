"""One round of the data flywheel: logs in, cleaned training records out, uncertain items to
people, a catalog version per kind whose lineage names the log batch.

    OUTPUT/raw/{sft,preference,kto}.jsonl   derived records, with metadata.flywheel provenance
    OUTPUT/raw/uncertain.jsonl              items whose feedback disagrees (sent with --annotate)
    OUTPUT/raw/labels-*.jsonl               the annotation export read back (--labels-from)
    OUTPUT/quarantine.jsonl                 log lines that could not be used: file, line, reason
    OUTPUT/clean/{sft,preference,kto}/      each kind through recipes/flywheel.yaml (a datamill run)
    OUTPUT/flywheel.json                    the round's counts

With ``register``, each kind's version holds the previous version's records plus the round's
(a record id seen again is replaced), so ``catalog diff NAME-sft@N-1 NAME-sft@N`` is the round.

Python twin of ``datamill flywheel ingest``: :func:`ingest`.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import orjson

from datamill.core.errors import DatamillError
from datamill.flywheel.derive import derive_records, route_unsure
from datamill.flywheel.logs import read_logs
from datamill.io.atomic import atomic_open, atomic_write_bytes

KINDS = ("sft", "preference", "kto")


def default_recipe() -> str | None:
    """recipes/flywheel.yaml of this checkout, when there is one."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.normpath(os.path.join(here, "..", "..", "..", "recipes", "flywheel.yaml"))
    return path if os.path.exists(path) else None


def _write_jsonl(path: str, rows: list[dict[str, Any]]) -> None:
    with atomic_open(path, "wb") as fh:
        for r in rows:
            fh.write(orjson.dumps(r, default=str) + b"\n")


def _labels(label_files: list[str], project: str | None, db_url: str | None) -> dict[str, list[dict]]:
    """Records from the annotation app: its export files, or straight from a project."""
    from datamill.post.formats import read_records

    out: dict[str, list[dict]] = {k: [] for k in KINDS}
    for path in label_files:
        bad: list = []
        for rec in read_records(path, errors=bad):
            if rec.get("kind") in out:
                rec.setdefault("metadata", {}).setdefault("flywheel", {"source": "annotation", "export": path})
                out[rec["kind"]].append(rec)
        if bad:
            raise DatamillError(f"{path}: {len(bad)} rows could not be read, first: {bad[0]}")
    if project:
        from datamill.flywheel.annotation import export_labels

        for kind, recs in export_labels(project, db_url).items():
            for rec in recs:
                rec.setdefault("metadata", {})["flywheel"] = {"source": "annotation", "project": project}
            out[kind].extend(recs)
    return out


def ingest(logs: list[str], output: str, *, recipe: str | None = "default", annotate: str | None = None,
           annotate_db: str | None = None, labels_from: list[str] | None = None, labels_project: str | None = None,
           register: str | None = None, catalog_root: str | None = None, round_name: str | None = None,
           workers: int = 1, progress: bool = False, review_rounds: int = 1, quality_model: Any = None,
           unsure_band: tuple[float, float] = (0.4, 0.6)) -> dict[str, Any]:
    """Run one flywheel round; returns its summary (also OUTPUT/flywheel.json).

    ``quality_model`` (a path or a loaded :class:`datamill.post.quality_model.QualityModel`):
    KTO records it scores inside ``unsure_band`` go to the uncertain items too."""
    batch = read_logs(list(logs))
    records, counts = derive_records(batch)
    if quality_model is not None:
        if isinstance(quality_model, (str, os.PathLike)):
            from datamill.post.quality_model import load_quality_model

            quality_model = load_quality_model(quality_model)
        route_unsure(records, quality_model, unsure_band, counts)
    raw = os.path.join(output, "raw")
    labels = _labels(list(labels_from or []), labels_project, annotate_db)
    label_counts = Counter()
    for kind, recs in labels.items():
        if recs:
            records[kind].extend(recs)
            label_counts[kind] += len(recs)
            _write_jsonl(os.path.join(raw, f"labels-{kind}.jsonl"), recs)
    for kind in KINDS + ("uncertain",):
        _write_jsonl(os.path.join(raw, f"{kind}.jsonl"), records[kind])
    _write_jsonl(os.path.join(output, "quarantine.jsonl"), batch.quarantine)
    summary: dict[str, Any] = {
        "round": round_name or os.path.basename(os.path.abspath(output)),
        "logs": batch.files, "lines": batch.lines, "completions": len(batch.completions),
        "feedback_events": len(batch.feedback), "quarantined": len(batch.quarantine),
        "quarantine_examples": batch.quarantine[:5], "derived": dict(sorted(counts.items())),
        "labels_read": dict(label_counts), "records": {k: len(records[k]) for k in KINDS + ("uncertain",)},
        "clean": {}, "catalog": {}}
    recipe = default_recipe() if recipe == "default" else recipe
    if recipe:
        from datamill.core.pipeline import Pipeline

        for kind in KINDS:
            if not records[kind]:
                continue
            out_dir = os.path.join(output, "clean", kind)
            stats = Pipeline.from_recipe(recipe).run([os.path.join(raw, f"{kind}.jsonl")], out_dir, workers=workers,
                                                    keep_dropped=True, overwrite=True, progress=progress)
            summary["clean"][kind] = {"in": len(records[kind]), "out": stats["output"]["records"], "dir": out_dir}
    if annotate and records["uncertain"]:
        from datamill.flywheel.annotation import send_to_annotation

        summary["annotation"] = send_to_annotation(records["uncertain"], annotate, annotate_db,
                                                   review_rounds=review_rounds)
    if register:
        from datamill.catalog import Catalog

        cat = Catalog(catalog_root)
        inputs = list(batch.files) + list(labels_from or [])
        for kind in KINDS:
            path = summary["clean"].get(kind, {}).get("dir") or (os.path.join(raw, f"{kind}.jsonl")
                                                                 if records[kind] else None)
            if not path:
                continue
            v = cat.add(f"{register}-{kind}", path, recipe=recipe, inputs=inputs, accumulate=True,
                        message=f"flywheel round {summary['round']}",
                        extra={"flywheel": {"round": summary["round"], "log_batch": batch.files,
                                            "derived": summary["derived"], "labels_read": dict(label_counts),
                                            "annotation_project": labels_project}})
            summary["catalog"][kind] = v.ref
    atomic_write_bytes(os.path.join(output, "flywheel.json"),
                       orjson.dumps(summary, option=orjson.OPT_INDENT_2, default=str))
    return summary


def format_round(s: dict[str, Any]) -> str:
    lines = [f"flywheel round {s['round']}: {s['lines']:,} log lines in {len(s['logs'])} files -> "
             f"{s['completions']:,} completions, {s['feedback_events']:,} feedback events"
             + (f"; quarantined {s['quarantined']:,} lines" if s["quarantined"] else "")]
    for q in s.get("quarantine_examples", [])[:3]:
        lines.append(f"  e.g. {q['file']}:{q['line']}: {q['reason']}")
    lines.append("  derived: " + ", ".join(f"{k} {v:,}" for k, v in s["derived"].items()))
    if s.get("labels_read"):
        lines.append("  labels from annotation: " + ", ".join(f"{k} {v:,}" for k, v in s["labels_read"].items()))
    for kind, c in s.get("clean", {}).items():
        lines.append(f"  {kind:<11} {c['in']:>7,} records -> {c['out']:>7,} after cleaning ({c['dir']})")
    lines.append(f"  uncertain   {s['records']['uncertain']:>7,} records")
    if s.get("annotation"):
        a = s["annotation"]
        lines.append(f"  sent {a['items']:,} items to annotation project {a['project']!r} (id {a['project_id']})")
    for kind, ref in s.get("catalog", {}).items():
        lines.append(f"  registered {ref}")
    return "\n".join(lines)
