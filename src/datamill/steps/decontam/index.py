"""The n-gram index of benchmark test sets that decontamination looks records up in.

Text on both sides goes through the same :func:`tokenize`: NFKC, lower case, every
punctuation mark or symbol replaced by a space, whitespace collapsed; then words. Text without
CJK characters is split on whitespace; text with Han, kana or hangul is cut into script runs
(every Han character a word, kana and hangul runs, Latin/digit runs), which matches the same
passage whatever surrounds it. Passing ``language`` (``"zh"``, ``"ja"``...) uses
:func:`datamill.text.words.split_words` (jieba, SudachiPy) instead, on both sides.

An n-gram (13 words by default, as GPT-3 and Llama-2's contamination studies) is hashed to 64
bits: each word with xxh3, then a polynomial over the n word hashes and a splitmix finaliser,
computed with numpy over the whole text at once. The index is two sorted arrays (n-gram hash,
item number) and the item table (benchmark, item id, n-gram count). An n-gram that occurs in
more than ``max_item_frequency`` items is a template (BBH repeats its task instructions in
every item) and is left out: it says nothing about which item leaked.

Built-in benchmarks, read from ``benchmarks_dir`` (the ``benchmarks_dir`` argument, else
``$DATAMILL_BENCHMARKS_DIR``, else ``$DATAMILL_SHARED_DATA/benchmarks``, else
``../shared/data/benchmarks`` from the working directory):

=========== ========================== ======================================= =============
name        file                       text of an item                         item id
=========== ========================== ======================================= =============
gsm8k       gsm8k/test.jsonl           question + answer                       gsm8k/test/<line>
humaneval   humaneval/HumanEval.jsonl* prompt + canonical_solution             task_id
bbh         bbh/<task>.json            input + target (every example)          bbh/<task>/<i>
=========== ========================== ======================================= =============

User files: JSONL (optionally .gz/.zst), JSON (a list of objects), CSV or Parquet, with the
text in a chosen field. A row without that field is an error naming the file and line
(``missing_field="error"``) or a counted skip (``"skip"``).
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
import regex

from datamill.core.errors import DatamillError

BUILTIN_BENCHMARKS = ("gsm8k", "humaneval", "bbh")

_PUNCT = regex.compile(r"[\p{P}\p{S}]+")
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")
_RUNS = regex.compile(
    r"\p{Han}|[\p{Hiragana}ー]+|[\p{Katakana}ー]+|\p{Hangul}+"
    r"|[^\s\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+"
)
_P = np.uint64(0x100000001B3)  # odd multiplier of the polynomial over word hashes


class BenchmarkError(DatamillError):
    """A benchmark that cannot be read: names the file, the line and what is missing."""


# --- text ------------------------------------------------------------------------------

def normalize_text(text: str) -> str:
    """NFKC, lower case, punctuation and symbols to spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(_PUNCT.sub(" ", text).split())


def tokenize(text: str, language: str | None = None) -> list[str]:
    """The words n-grams are made of (see the module docstring)."""
    norm = normalize_text(text)
    if language:
        from datamill.text.words import split_words

        return split_words(norm, language)
    if _CJK.search(norm) is None:
        return norm.split()
    return _RUNS.findall(norm)


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def ngram_hashes(tokens: list[str], n: int) -> np.ndarray:
    """64-bit hashes of every n-gram of ``tokens`` in order (empty if fewer than n words)."""
    import xxhash

    if len(tokens) < n:
        return np.zeros(0, dtype=np.uint64)
    cache: dict[str, int] = {}
    h64 = xxhash.xxh3_64_intdigest
    th = np.fromiter((cache[t] if t in cache else cache.setdefault(t, h64(t.encode("utf-8", "surrogatepass")))
                      for t in tokens), dtype=np.uint64, count=len(tokens))
    m = len(tokens) - n + 1
    acc = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            acc = acc * _P + th[j:j + m]
    return _splitmix(acc)


# --- benchmark files -------------------------------------------------------------------

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
    """Where the built-in benchmarks are; a clear error naming every place tried."""
    tried = []
    candidates = [("benchmarks_dir", benchmarks_dir),
                  ("$DATAMILL_BENCHMARKS_DIR", os.environ.get("DATAMILL_BENCHMARKS_DIR"))]
    shared = os.environ.get("DATAMILL_SHARED_DATA")
    if shared:
        candidates.append(("$DATAMILL_SHARED_DATA/benchmarks", os.path.join(shared, "benchmarks")))
    candidates.append(("../shared/data/benchmarks", os.path.join(os.getcwd(), "..", "shared", "data", "benchmarks")))
    for how, path in candidates:
        if not path:
            continue
        if os.path.isdir(path):
            return os.path.abspath(path)
        tried.append(f"{how}={path}")
        if how == "benchmarks_dir":  # an explicit folder that is missing is an error, no fallback
            break
    raise BenchmarkError("benchmark folder not found (tried " + ", ".join(tried) +
                         "): pass benchmarks_dir or set DATAMILL_BENCHMARKS_DIR")


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


def _fields(path: str, line: int, row: Any, names: tuple[str, ...], stats: LoadStats, benchmark: str,
            missing_field: str) -> list[str] | None:
    if not isinstance(row, dict):
        missing = names
    else:
        missing = tuple(n for n in names if not isinstance(row.get(n), str) and row.get(n) is None)
    if missing:
        where = f"{path}:{line}: no field {missing[0]!r}"
        if isinstance(row, dict):
            where += f" (fields: {', '.join(sorted(map(str, row))[:12]) or 'none'})"
        if missing_field == "error":
            raise BenchmarkError(where + "; pass missing_field='skip' to skip such rows")
        stats.skipped_missing_field[benchmark] += 1
        if len(stats.examples) < 20:
            stats.examples.append(where)
        return None
    return [v if isinstance(v, str) else str(v) for v in (row[n] for n in names)]


def load_builtin(name: str, benchmarks_dir: str, stats: LoadStats,
                 missing_field: str = "error") -> Iterator[BenchmarkItem]:
    """Items of a built-in benchmark (gsm8k, humaneval, bbh)."""
    if name == "gsm8k":
        path = os.path.join(benchmarks_dir, "gsm8k", "test.jsonl")
        _need(path, name)
        for line, row in _rows(path):
            got = _fields(path, line, row, ("question", "answer"), stats, name, missing_field)
            if got:
                stats.items[name] += 1
                yield BenchmarkItem(name, f"gsm8k/test/{line - 1}", "\n".join(got))
    elif name == "humaneval":
        paths = sorted(glob.glob(os.path.join(benchmarks_dir, "humaneval", "HumanEval.jsonl*")))
        _need(paths[0] if paths else os.path.join(benchmarks_dir, "humaneval", "HumanEval.jsonl.gz"), name)
        for line, row in _rows(paths[0]):
            got = _fields(paths[0], line, row, ("prompt", "canonical_solution"), stats, name, missing_field)
            if got:
                stats.items[name] += 1
                item = row.get("task_id") or f"humaneval/{line - 1}"
                yield BenchmarkItem(name, str(item), "".join(got))
    elif name == "bbh":
        paths = sorted(glob.glob(os.path.join(benchmarks_dir, "bbh", "*.json")))
        if not paths:
            _need(os.path.join(benchmarks_dir, "bbh", "<task>.json"), name)
        for path in paths:
            task = os.path.splitext(os.path.basename(path))[0]
            for i, row in _rows(path):
                got = _fields(path, i, row, ("input", "target"), stats, name, missing_field)
                if got:
                    stats.items[name] += 1
                    yield BenchmarkItem(name, f"bbh/{task}/{i - 1}", "\n".join(got))
    else:
        raise BenchmarkError(f"unknown benchmark {name!r}: built-in ones are {', '.join(BUILTIN_BENCHMARKS)} "
                             f"(use extra_files for your own)")


def _need(path: str, name: str) -> None:
    if not os.path.exists(path):
        raise BenchmarkError(f"benchmark {name!r}: {path} not found")


def load_user_file(path: str, text_field: str, stats: LoadStats, *, id_field: str | None = None,
                   benchmark: str | None = None, missing_field: str = "error") -> Iterator[BenchmarkItem]:
    """Items of a user file; the benchmark is named after the file unless given. Several
    fields may be joined with commas: ``"question,answer"``."""
    if not os.path.exists(path):
        raise BenchmarkError(f"benchmark file {path} not found")
    name = benchmark or os.path.basename(path).split(".")[0]
    names = tuple(f.strip() for f in text_field.split(",") if f.strip())
    for line, row in _rows(path):
        got = _fields(path, line, row, names, stats, name, missing_field)
        if got:
            stats.items[name] += 1
            item = row.get(id_field) if id_field and isinstance(row, dict) else None
            yield BenchmarkItem(name, str(item) if item is not None else f"{name}/{line}", "\n".join(got))


# --- the index -------------------------------------------------------------------------

@dataclass
class Match:
    benchmark: str
    item: str
    overlap: int
    fraction: float

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "item": self.item, "overlap": self.overlap,
                "fraction": round(self.fraction, 4)}


class NgramIndex:
    """Sorted n-gram hashes of benchmark items, and which items each belongs to."""

    def __init__(self, n: int, keys: np.ndarray, item_idx: np.ndarray, items: list[dict[str, Any]],
                 stats: dict[str, Any], language: str | None = None):
        self.n = n
        self.keys = keys
        self.item_idx = item_idx
        self.items = items  # {"benchmark", "item", "ngrams"}
        self.stats = stats
        self.language = language

    @classmethod
    def build(cls, items: Iterable[BenchmarkItem], n: int = 13, *, max_item_frequency: int = 10,
              language: str | None = None, load_stats: LoadStats | None = None) -> "NgramIndex":
        table: list[dict[str, Any]] = []
        keys_parts, idx_parts = [], []
        per: dict[str, Counter] = {}
        for it in items:
            c = per.setdefault(it.benchmark, Counter())
            c["items"] += 1
            h = np.unique(ngram_hashes(tokenize(it.text, language), n))
            if len(h) == 0:
                c["items_too_short"] += 1
                continue
            keys_parts.append(h)
            idx_parts.append(np.full(len(h), len(table), dtype=np.int32))
            table.append({"benchmark": it.benchmark, "item": it.item, "ngrams": int(len(h))})
        keys = np.concatenate(keys_parts) if keys_parts else np.zeros(0, dtype=np.uint64)
        idx = np.concatenate(idx_parts) if idx_parts else np.zeros(0, dtype=np.int32)
        order = np.lexsort((idx, keys))
        keys, idx = keys[order], idx[order]
        # drop template n-grams: shared by more than max_item_frequency items
        if len(keys):
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            counts = np.diff(np.r_[starts, len(keys)])
            freq = np.repeat(counts, counts)
            template = freq > max_item_frequency
            for b in {table[i]["benchmark"] for i in idx[template]}:
                sel = template & np.isin(idx, [i for i, t in enumerate(table) if t["benchmark"] == b])
                per[b]["template_ngrams"] = int(len(np.unique(keys[sel])))
            keys, idx = keys[~template], idx[~template]
        for t in table:
            t["indexed_ngrams"] = 0
        if len(idx):
            for i, c in zip(*np.unique(idx, return_counts=True)):
                table[int(i)]["indexed_ngrams"] = int(c)
        for t in table:
            per[t["benchmark"]]["ngrams"] += t["indexed_ngrams"]
            if not t["indexed_ngrams"]:
                per[t["benchmark"]]["items_only_template_ngrams"] += 1
        stats: dict[str, Any] = {"n": n, "max_item_frequency": max_item_frequency,
                                 "benchmarks": {b: dict(c) for b, c in per.items()},
                                 "ngrams": int(len(keys))}
        if load_stats is not None:
            for b, k in load_stats.skipped_missing_field.items():
                stats["benchmarks"].setdefault(b, {})["skipped_missing_field"] = k
            if load_stats.examples:
                stats["skipped_examples"] = load_stats.examples
        return cls(n, keys, idx, table, stats, language)

    # --- persistence ---
    def save(self, directory: str) -> None:
        """Into a folder or fsspec URL (a global step's state store)."""
        from datamill.io.state import StateStore

        store = StateStore(directory)
        store.save_npz("index.npz", keys=self.keys, item_idx=self.item_idx)
        meta = {"n": self.n, "language": self.language, "items": self.items, "stats": self.stats}
        store.write_bytes("index.json", json.dumps(meta).encode())

    @classmethod
    def load(cls, directory: str) -> "NgramIndex":
        from datamill.io.state import StateStore

        store = StateStore(directory)
        z = store.load_npz("index.npz")
        keys, idx = z["keys"], z["item_idx"]
        meta = json.loads(store.read_bytes("index.json").decode("utf-8"))
        return cls(meta["n"], keys, idx, meta["items"], meta["stats"], meta.get("language"))

    # --- lookup ---
    def overlaps(self, text: str) -> dict[int, int]:
        """item number -> how many distinct indexed n-grams of that item ``text`` contains."""
        if not len(self.keys) or not text:
            return {}
        h = np.unique(ngram_hashes(tokenize(text, self.language), self.n))
        if not len(h):
            return {}
        lo = np.searchsorted(self.keys, h, "left")
        hi = np.searchsorted(self.keys, h, "right")
        hit = hi > lo
        if not hit.any():
            return {}
        lo, hi = lo[hit], hi[hit]
        counts = hi - lo
        rows = np.repeat(lo - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
        items, c = np.unique(self.item_idx[rows], return_counts=True)
        return dict(zip(items.tolist(), c.tolist()))

    def matches(self, text: str, min_overlap: int = 1, min_fraction: float = 0.0) -> list[Match]:
        """Items whose overlap with ``text`` reaches both thresholds, most overlap first."""
        out = []
        for i, k in self.overlaps(text).items():
            t = self.items[i]
            frac = k / t["ngrams"] if t["ngrams"] else 0.0
            if k >= min_overlap and frac >= min_fraction:
                out.append(Match(t["benchmark"], t["item"], k, frac))
        out.sort(key=lambda m: (-m.overlap, m.benchmark, m.item))
        return out


def build_index(benchmarks: Iterable[str] = BUILTIN_BENCHMARKS, *, benchmarks_dir: str | None = None,
                extra_files: Iterable[str] | None = None, extra_field: str = "text",
                extra_id_field: str | None = None, n: int = 13, max_item_frequency: int = 10,
                language: str | None = None, missing_field: str = "error") -> NgramIndex:
    """The Python API of the index: built-in benchmarks by name plus user files."""
    stats = LoadStats()
    benchmarks = list(benchmarks)

    def items() -> Iterator[BenchmarkItem]:
        if benchmarks:
            root = resolve_benchmarks_dir(benchmarks_dir)
            for name in benchmarks:
                yield from load_builtin(name, root, stats, missing_field)
        for path in extra_files or ():
            yield from load_user_file(path, extra_field, stats, id_field=extra_id_field,
                                      missing_field=missing_field)

    return NgramIndex.build(items(), n, max_item_frequency=max_item_frequency, language=language,
                            load_stats=stats)
