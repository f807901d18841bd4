"""Training data for text classifiers: texts with labels, read from any datamill source.

Two ways in, as ``datamill classifier train`` takes them:

* ``positive``/``negative`` sources: files or folders in any format datamill reads (JSONL,
  Parquet, WET, or the output folder of an earlier run); every record's text is one example.
* a labels file (CSV, JSONL or Parquet) with a text column and a label column: binary labels
  (0/1, true/false, or two distinct strings) or graded scores (for example 0-5 from annotators
  or an LLM judge, the FineWeb-Edu way).

Every source is hashed (sha256 of its bytes) for the model card.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import fsspec

from datamill.core.errors import InputError
from datamill.core.stats import ReadStats
from datamill.io.formats import discover
from datamill.io.json_rows import iter_json_objects
from datamill.io.readers import Quarantine, read_shard

#: fewer rows than this (or fewer per class) cannot be split into training and held-out data
MIN_ROWS = 10
MIN_PER_CLASS = 3


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[Any]
    kind: str  # "binary" or "graded"
    sources: list[dict[str, Any]] = field(default_factory=list)
    classes: list[Any] = field(default_factory=list)  # binary: [negative, positive] as given

    def check(self) -> "LabelledTexts":
        n = len(self.texts)
        if n < MIN_ROWS:
            raise InputError(f"training set has {n} usable rows: need at least {MIN_ROWS} "
                             f"(rows with empty text are skipped)")
        if len(set(self.labels)) < 2:
            only = self.labels[0] if self.labels else None
            raise InputError(f"training set has one class only (every label is {only!r}): a classifier "
                             f"needs examples of at least two classes")
        if self.kind == "binary":
            for c in set(self.labels):
                k = sum(1 for y in self.labels if y == c)
                if k < MIN_PER_CLASS:
                    raise InputError(f"class {c!r} has {k} rows: need at least {MIN_PER_CLASS} per class")
        return self


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with fsspec.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_source_texts(sources: Sequence[str], text_field: str = "text",
                      limit: int | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Every non-empty text of ``sources`` (files, folders, globs; datamill output folders give
    their ``part-*`` files). Returns the texts and one ``{path, sha256, records}`` per file."""
    texts: list[str] = []
    described: list[dict[str, Any]] = []
    for shard in discover(list(sources)):
        if shard.format in ("warc", "arc", "wat"):
            raise InputError(f"{shard.path}: a {shard.format.upper()} file holds HTML, not text: extract "
                             f"it first (datamill run with extract_html) and train on that output folder")
        if shard.format not in ("jsonl", "parquet", "wet"):
            raise InputError(f"{shard.path}: cannot read {shard.format!r} files: expected JSONL, Parquet, "
                             f"WET or a datamill output folder")
        stats = ReadStats()
        n = 0
        for record in read_shard(shard, stats, Quarantine(stats), text_field=text_field):
            text = (record.get("text") or "").strip()
            if text:
                texts.append(text)
                n += 1
                if limit and len(texts) >= limit:
                    break
        described.append({"path": shard.path, "sha256": file_digest(shard.path), "records": n})
        if limit and len(texts) >= limit:
            break
    return texts, described


def from_sources(positive: Sequence[str], negative: Sequence[str], text_field: str = "text",
                 limit: int | None = None) -> LabelledTexts:
    pos, pos_files = read_source_texts(positive, text_field, limit)
    neg, neg_files = read_source_texts(negative, text_field, limit)
    for f in pos_files:
        f["label"] = 1
    for f in neg_files:
        f["label"] = 0
    return LabelledTexts(pos + neg, [1] * len(pos) + [0] * len(neg), "binary",
                         pos_files + neg_files, classes=[0, 1]).check()


def read_table(path: str) -> list[dict[str, Any]]:
    """Rows of a CSV, JSONL or Parquet file as dicts (errors name the file and line)."""
    name = path.lower()
    if not os.path.exists(path) and "://" not in path:
        raise InputError(f"labels file {path}: no such file")
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if name.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".json")):
        return list(iter_json_objects(path, what="labels file"))
    with fsspec.open(path, "rb", compression="infer") as fh:
        data = fh.read()
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        text = data.decode("utf-8-sig", errors="replace")
        return list(csv.DictReader(io.StringIO(text), delimiter="\t" if name.endswith(".tsv") else ","))
    raise InputError(f"labels file {path}: expected .csv, .tsv, .jsonl or .parquet")


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "yes"):
            return 1.0
        if v in ("false", "no"):
            return 0.0
        try:
            return float(v)
        except ValueError:
            return None
    return None


def from_labels_file(path: str, text_field: str = "text", label_field: str = "label",
                     kind: str = "auto", positive_label: str | None = None) -> LabelledTexts:
    """Texts and labels of a labels file. ``kind``: ``binary``, ``graded`` or ``auto`` (binary
    when there are exactly two distinct labels). ``positive_label`` names the positive class
    when the labels are strings."""
    rows = read_table(path)
    texts, raw = [], []
    for i, row in enumerate(rows, 1):
        if text_field not in row:
            raise InputError(f"labels file {path}, row {i}: no column {text_field!r} (columns: "
                             f"{', '.join(map(str, row))})")
        if label_field not in row:
            raise InputError(f"labels file {path}, row {i}: no column {label_field!r} (columns: "
                             f"{', '.join(map(str, row))})")
        text = str(row[text_field] or "").strip()
        label = row[label_field]
        if not text or label is None or label == "":
            continue
        texts.append(text)
        raw.append(label)
    distinct = sorted({str(v) for v in raw})
    if kind == "auto":
        kind = "binary" if len(distinct) <= 2 else "graded"
    if kind == "binary":
        if positive_label is not None:
            labels = [1 if str(v) == str(positive_label) else 0 for v in raw]
        else:
            nums = [_as_number(v) for v in raw]
            if all(n is not None for n in nums) and {n for n in nums} <= {0.0, 1.0}:
                labels = [int(n) for n in nums]
            elif len(distinct) == 2:
                labels = [1 if str(v) == distinct[1] else 0 for v in raw]
            else:
                raise InputError(f"labels file {path}: binary labels must be 0/1, true/false or two "
                                 f"distinct values (found {distinct[:5]}); name the positive one with "
                                 f"--positive-label")
    elif kind == "graded":
        labels = []
        for i, v in enumerate(raw, 1):
            n = _as_number(v)
            if n is None:
                raise InputError(f"labels file {path}: graded label {v!r} (row {i}) is not a number")
            labels.append(n)
    else:
        raise InputError(f"label kind must be binary, graded or auto, not {kind!r}")
    source = {"path": path, "sha256": file_digest(path), "records": len(texts),
              "text_field": text_field, "label_field": label_field}
    return LabelledTexts(texts, labels, kind, [source], classes=[0, 1] if kind == "binary" else []).check()
