"""Reading benchmark test sets into items for the decontamination index.

Built-in benchmarks ship inside the package (``datamill/steps/decontam/data``, MIT-licensed
copies, see its SOURCES.txt); ``benchmarks_dir`` (a recipe's relative path is relative to the
recipe file) or ``$DATAMILL_BENCHMARKS_DIR`` points to another copy of the same layout:

=========== ============================ ======================================= ==============
name        file                         text of an item                         item id
=========== ============================ ======================================= ==============
gsm8k       gsm8k/test.jsonl[.gz]        question + answer                       gsm8k/test/<n>
humaneval   humaneval/HumanEval.jsonl*   prompt + canonical_solution             task_id
bbh         bbh/<task>.json[.gz]         input + target (every example)          bbh/<task>/<i>
=========== ============================ ======================================= ==============

User files: JSONL (optionally .gz/.zst), JSON (a list of objects), CSV/TSV or Parquet. The
text of an item is the ``text_fields`` a row has (several names may be given: ``Question`` in
one file and ``question`` in another; a name also matches case-insensitively). A field holding
a list of strings (MT-Bench ``turns``) gives one text per element, each indexed on its own under
the row's item id. A row with none of the fields is an error naming the file and line
(``missing_field="error"``) or a counted skip (``"skip"``).

A user file's benchmark is named after the file; files that share a name get as many parent
folders as it takes to tell them apart (``cmmlu/dev/anatomy`` and ``cmmlu/test/anatomy``).
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from datamill.core.errors import DatamillError

BUILTIN_BENCHMARKS = ("gsm8k", "humaneval", "bbh")
PACKAGE_DIR = str(Path(__file__).resolve().parent / "data")


class BenchmarkError(DatamillError):
    """A benchmark that cannot be read: names the file, the line and what is missing."""


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    item: str
    text: str


@dataclass
class LoadStats:
    """Per benchmark: items read and rows skipped for a missing field (with examples)."""

    items: Counter = field(default_factory=Counter)
    skipped_missing_field: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


def resolve_benchmarks_dir(benchmarks_dir: str | None = None) -> str:
    """Where the built-in benchmarks are: ``benchmarks_dir``, else ``$DATAMILL_BENCHMARKS_DIR``,
    else the copy inside the package. A folder given but missing is an error naming it."""
    for how, path in (("benchmarks_dir", benchmarks_dir),
                      ("$DATAMILL_BENCHMARKS_DIR", os.environ.get("DATAMILL_BENCHMARKS_DIR"))):
        if path:
            if os.path.isdir(path):
                return os.path.abspath(path)
            raise BenchmarkError(f"benchmark folder not found: {how}={path} (a recipe's relative "
                                 "path is relative to the recipe file; leave it out to use the "
                                 "copies shipped in the package)")
    if os.path.isdir(PACKAGE_DIR):
        return PACKAGE_DIR
    raise BenchmarkError(f"benchmark folder not found: the package copy {PACKAGE_DIR} is missing; "
                         "pass benchmarks_dir or set DATAMILL_BENCHMARKS_DIR")


def _open_text(path: str) -> io.TextIOBase:
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if path.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")),
                                encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _rows(path: str) -> Iterator[tuple[int, Any]]:
    """(line or row number, row) of a JSONL / JSON / CSV / Parquet file. Line numbers are
    1-based lines of the file (CSV: the header is line 1); Parquet rows are 1-based too."""
    low = path.lower()
    for ext in (".gz", ".zst"):
        if low.endswith(ext):
            low = low[: -len(ext)]
    if low.endswith(".parquet"):
        import pyarrow.parquet as pq

        n = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                n += 1
                yield n, row
        return
    with _open_text(path) as fh:
        if low.endswith(".csv") or low.endswith(".tsv"):
            reader = csv.DictReader(fh, delimiter="\t" if low.endswith(".tsv") else ",")
            for row in reader:
                yield reader.line_num, row
            return
        if low.endswith(".json"):
            data = json.load(fh)
            if isinstance(data, dict) and isinstance(data.get("examples"), list):
                data = data["examples"]
            if not isinstance(data, list):
                raise BenchmarkError(f"{path}: expected a JSON list of objects (or {{'examples': [...]}})")
            for i, row in enumerate(data, 1):
                yield i, row
            return
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"{path}:{i}: not valid JSON ({exc.msg})") from None


def _lookup(row: dict, name: str) -> Any:
    if name in row:
        return row[name]
    low = name.lower()
    for key, value in row.items():
        if isinstance(key, str) and key.lower() == low:
            return value
    return None


def _texts(value: Any) -> list[str]:
    """The strings a field holds: itself, the strings of a list, nothing for None."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, str) else str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)]


def row_texts(path: str, line: int, row: Any, names: tuple[str, ...], stats: LoadStats,
              benchmark: str, missing_field: str, *, require_all: bool = False) -> list[str] | None:
    """The texts of a row: its fields in ``names`` joined by newlines, with list fields giving
    one text per element. ``None`` (or an error) when a required field is missing."""
    values = {n: _lookup(row, n) for n in names} if isinstance(row, dict) else {}
    missing = [n for n in names if values.get(n) is None]
    if (require_all and missing) or len(missing) == len(names):
        where = f"{path}:{line}: no field {missing[0]!r}"
        if isinstance(row, dict):
            where += f" (fields: {', '.join(sorted(map(str, row))[:12]) or 'none'})"
        if missing_field == "error":
            raise BenchmarkError(where + "; pass missing_field='skip' to skip such rows")
        stats.skipped_missing_field[benchmark] += 1
        if len(stats.examples) < 20:
            stats.examples.append(where)
        return None
    scalars = [t for n in names if isinstance(values.get(n), (str, int, float)) for t in _texts(values[n])]
    lists = [_texts(values[n]) for n in names if isinstance(values.get(n), (list, tuple))]
    if not lists:
        return ["\n".join(scalars)]
    return [t for elements in lists for t in elements] + (["\n".join(scalars)] if scalars else [])


def load_builtin(name: str, benchmarks_dir: str, stats: LoadStats,
                 missing_field: str = "error") -> Iterator[BenchmarkItem]:
    """Items of a built-in benchmark (gsm8k, humaneval, bbh)."""
    def need(paths: list[str], what: str) -> str:
        if not paths:
            raise BenchmarkError(f"benchmark {name!r}: {os.path.join(benchmarks_dir, what)} not found")
        return paths[0]

    if name == "gsm8k":
        path = need(sorted(glob.glob(os.path.join(benchmarks_dir, "gsm8k", "test.jsonl*"))), "gsm8k/test.jsonl")
        for line, row in _rows(path):
            got = row_texts(path, line, row, ("question", "answer"), stats, name, missing_field, require_all=True)
            if got:
                stats.items[name] += 1
                yield BenchmarkItem(name, f"gsm8k/test/{line - 1}", got[0])
    elif name == "humaneval":
        path = need(sorted(glob.glob(os.path.join(benchmarks_dir, "humaneval", "HumanEval.jsonl*"))),
                    "humaneval/HumanEval.jsonl.gz")
        for line, row in _rows(path):
            got = row_texts(path, line, row, ("prompt", "canonical_solution"), stats, name, missing_field,
                            require_all=True)
            if got:
                stats.items[name] += 1
                item = row.get("task_id") or f"humaneval/{line - 1}"
                yield BenchmarkItem(name, str(item), row["prompt"] + row["canonical_solution"])
    elif name == "bbh":
        paths = sorted(glob.glob(os.path.join(benchmarks_dir, "bbh", "*.json"))
                       + glob.glob(os.path.join(benchmarks_dir, "bbh", "*.json.gz")))
        need(paths, "bbh/<task>.json")
        for path in paths:
            task = os.path.basename(path).split(".")[0]
            for i, row in _rows(path):
                got = row_texts(path, i, row, ("input", "target"), stats, name, missing_field, require_all=True)
                if got:
                    stats.items[name] += 1
                    yield BenchmarkItem(name, f"bbh/{task}/{i - 1}", got[0])
    else:
        raise BenchmarkError(f"unknown benchmark {name!r}: built-in ones are {', '.join(BUILTIN_BENCHMARKS)} "
                             f"(use extra_files for your own)")


def benchmark_names(paths: Iterable[str]) -> dict[str, str]:
    """path -> benchmark name: the file name without extensions, with as many parent folders as
    it takes to keep names of different files apart."""
    paths = list(dict.fromkeys(paths))
    parts = {p: Path(os.path.abspath(p)).parts for p in paths}
    stem = {p: parts[p][-1].split(".")[0] for p in paths}
    folder = Counter((parts[p][:-1], stem[p]) for p in paths)
    for p in paths:  # mine.jsonl and mine.csv in one folder: the full file names
        if folder[(parts[p][:-1], stem[p])] > 1:
            stem[p] = parts[p][-1]
    depth = {p: 1 for p in paths}
    while True:
        names: dict[str, list[str]] = {}
        for p in paths:
            folders = list(parts[p][-depth[p]:-1]) if depth[p] > 1 else []
            names.setdefault("/".join(folders + [stem[p]]), []).append(p)
        clashes = [ps for ps in names.values() if len(ps) > 1]
        if not clashes:
            return {p: n for n, ps in names.items() for p in ps}
        grew = False
        for ps in clashes:
            for p in ps:
                if depth[p] < len(parts[p]):
                    depth[p] += 1
                    grew = True
        if not grew:  # the same file twice under different spellings
            return {p: n + (f"#{i + 1}" if i else "") for n, ps in names.items() for i, p in enumerate(ps)}


def split_fields(text_field: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(text_field, str):
        return tuple(f.strip() for f in text_field.split(",") if f.strip())
    return tuple(str(f).strip() for f in text_field if str(f).strip())


def load_user_file(path: str, text_field: str | Iterable[str], stats: LoadStats, *,
                   id_field: str | None = None, benchmark: str | None = None,
                   missing_field: str = "error") -> Iterator[BenchmarkItem]:
    """Items of a user file (see the module docstring); the benchmark is named after the file
    unless given."""
    if not os.path.exists(path):
        raise BenchmarkError(f"benchmark file {path} not found")
    name = benchmark or os.path.basename(path).split(".")[0]
    names = split_fields(text_field)
    for line, row in _rows(path):
        got = row_texts(path, line, row, names, stats, name, missing_field)
        if got:
            stats.items[name] += 1
            item = _lookup(row, id_field) if id_field and isinstance(row, dict) else None
            item_id = str(item) if item is not None else f"{name}/{line}"
            for text in got:
                yield BenchmarkItem(name, item_id, text)
