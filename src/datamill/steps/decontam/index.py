"""The n-gram index of benchmark test sets that decontamination looks records up in.

Text on both sides goes through the same :func:`tokenize`: NFKC, lower case, every
punctuation mark or symbol replaced by a space, whitespace collapsed; then words. Text without
CJK characters is split on whitespace; text with Han, kana or hangul is cut into script runs
(every Han character a word, kana and hangul runs, Latin/digit runs), which matches the same
passage whatever surrounds it. Passing ``language`` (``"zh"``, ``"ja"``...) uses
:func:`datamill.text.words.split_words` (jieba, SudachiPy) instead, on both sides.

**n adapts to the item.** An item of ``L`` words is indexed with n-grams of
``min(ngram, L)`` words (13 by default, as GPT-3 and Llama 2's contamination studies): an item
shorter than ``ngram`` must appear whole, so a short question is still found, while a long one
is found by any 13 words in a row. Items shorter than ``min_ngram`` (8) words are too short to
tell a leak from a common phrase and are not indexed (the report counts them). An item whose
words are mostly single CJK characters counts characters and uses ``cjk_ngram`` /
``cjk_min_ngram`` (25 / 12): 13 Chinese characters are about six words, short enough to occur
by chance in unrelated text.

An n-gram is hashed to 64 bits: each word with xxh3, then a polynomial over the n word hashes
and a splitmix finaliser, computed with numpy over the whole text at once. The index keeps, per
n in use, two sorted arrays (n-gram hash, item number), and the item table (benchmark, item id,
n, n-gram count). An n-gram that occurs in more than ``max_item_frequency`` items is a template
(BBH repeats its task instructions in every item) and is left out: it says nothing about which
item leaked. Reading benchmark files is in :mod:`datamill.steps.decontam.benchmarks`.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np
import regex

from datamill.steps.decontam.benchmarks import (BUILTIN_BENCHMARKS, BenchmarkError, BenchmarkItem,
                                                LoadStats, benchmark_names, load_builtin,
                                                load_user_file, resolve_benchmarks_dir)

__all__ = ["BUILTIN_BENCHMARKS", "BenchmarkError", "BenchmarkItem", "LoadStats", "Match",
           "NgramIndex", "build_index", "load_builtin", "load_user_file", "ngram_hashes",
           "normalize_text", "resolve_benchmarks_dir", "tokenize"]

_PUNCT = regex.compile(r"[\p{P}\p{S}]+")
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")
_CJK_CHAR = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")
_RUNS = regex.compile(
    r"\p{Han}|[\p{Hiragana}ー]+|[\p{Katakana}ー]+|\p{Hangul}+"
    r"|[^\s\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+"
)
_P = np.uint64(0x100000001B3)  # odd multiplier of the polynomial over word hashes


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


def is_cjk_tokens(tokens: list[str]) -> bool:
    """Whether most words are single Han/kana characters (CJK text counted by characters)."""
    if not tokens:
        return False
    k = sum(1 for t in tokens if len(t) == 1 and _CJK_CHAR.match(t))
    return k * 2 >= len(tokens)


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def token_hashes(tokens: list[str]) -> np.ndarray:
    import xxhash

    cache: dict[str, int] = {}
    h64 = xxhash.xxh3_64_intdigest
    return np.fromiter((cache[t] if t in cache else cache.setdefault(t, h64(t.encode("utf-8", "surrogatepass")))
                        for t in tokens), dtype=np.uint64, count=len(tokens))


def ngram_hashes(tokens: list[str], n: int, th: np.ndarray | None = None) -> np.ndarray:
    """64-bit hashes of every n-gram of ``tokens`` in order (empty if fewer than n words)."""
    if len(tokens) < n:
        return np.zeros(0, dtype=np.uint64)
    if th is None:
        th = token_hashes(tokens)
    m = len(tokens) - n + 1
    acc = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            acc = acc * _P + th[j:j + m]
    return _splitmix(acc)


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
    """Sorted n-gram hashes of benchmark items (one table per n in use), and which items each
    belongs to."""

    def __init__(self, n: int, tables: dict[int, tuple[np.ndarray, np.ndarray]],
                 items: list[dict[str, Any]], stats: dict[str, Any], language: str | None = None):
        self.n = n
        self.tables = tables  # n -> (sorted keys, item numbers)
        self.items = items  # {"benchmark", "item", "n", "ngrams", "indexed_ngrams"}
        self.stats = stats
        self.language = language

    @property
    def keys(self) -> np.ndarray:
        """Every indexed n-gram hash (all tables)."""
        parts = [k for k, _ in self.tables.values()]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)

    @classmethod
    def build(cls, items: Iterable[BenchmarkItem], n: int = 13, *, min_ngram: int | None = None,
              cjk_ngram: int | None = None, cjk_min_ngram: int | None = None,
              max_item_frequency: int = 10, language: str | None = None,
              load_stats: LoadStats | None = None) -> "NgramIndex":
        """``min_ngram`` defaults to ``n`` (fixed n, the behaviour before adaptive n), the CJK
        values to the word values."""
        min_ngram = n if min_ngram is None else min(min_ngram, n)
        cjk_ngram = n if cjk_ngram is None else cjk_ngram
        cjk_min_ngram = min_ngram if cjk_min_ngram is None else min(cjk_min_ngram, cjk_ngram)
        table: list[dict[str, Any]] = []
        parts: dict[int, tuple[list, list]] = {}
        per: dict[str, Counter] = {}
        for it in items:
            c = per.setdefault(it.benchmark, Counter())
            c["texts"] += 1
            tokens = tokenize(it.text, language)
            cjk = is_cjk_tokens(tokens)
            hi, lo = (cjk_ngram, cjk_min_ngram) if cjk else (n, min_ngram)
            if cjk:
                c["cjk_texts"] += 1
            if len(tokens) < lo:
                c["items_too_short"] += 1
                continue
            k = min(hi, len(tokens))
            if k < hi:
                c["items_short_whole"] += 1  # indexed as one n-gram: the whole item
            h = np.unique(ngram_hashes(tokens, k))
            keys, idx = parts.setdefault(k, ([], []))
            keys.append(h)
            idx.append(np.full(len(h), len(table), dtype=np.int32))
            table.append({"benchmark": it.benchmark, "item": it.item, "n": k, "ngrams": int(len(h))})
        tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        template_of: dict[str, set] = {}
        for k, (kp, ip) in sorted(parts.items()):
            keys, idx = np.concatenate(kp), np.concatenate(ip)
            order = np.lexsort((idx, keys))
            keys, idx = keys[order], idx[order]
            # drop template n-grams: shared by more than max_item_frequency items
            starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
            counts = np.diff(np.r_[starts, len(keys)])
            template = np.repeat(counts, counts) > max_item_frequency
            for key, i in zip(keys[template].tolist(), idx[template].tolist()):
                template_of.setdefault(table[i]["benchmark"], set()).add((k, key))
            tables[k] = (keys[~template], idx[~template])
        for b, t in template_of.items():
            per[b]["template_ngrams"] = len(t)
        for t in table:
            t["indexed_ngrams"] = 0
        for _, idx in tables.values():
            if len(idx):
                for i, c in zip(*np.unique(idx, return_counts=True)):
                    table[int(i)]["indexed_ngrams"] += int(c)
        for t in table:
            per[t["benchmark"]]["ngrams"] += t["indexed_ngrams"]
            if not t["indexed_ngrams"]:
                per[t["benchmark"]]["items_only_template_ngrams"] += 1
        if load_stats is not None:
            for b, k in load_stats.items.items():
                per.setdefault(b, Counter())["items"] = k
        for b, c in per.items():
            c.setdefault("items", c["texts"])
        stats: dict[str, Any] = {"n": n, "min_ngram": min_ngram, "cjk_ngram": cjk_ngram,
                                 "cjk_min_ngram": cjk_min_ngram, "max_item_frequency": max_item_frequency,
                                 "benchmarks": {b: dict(c) for b, c in per.items()},
                                 "ngrams": int(sum(len(k) for k, _ in tables.values()))}
        if load_stats is not None:
            for b, k in load_stats.skipped_missing_field.items():
                stats["benchmarks"].setdefault(b, {})["skipped_missing_field"] = k
            if load_stats.examples:
                stats["skipped_examples"] = load_stats.examples
        return cls(n, tables, table, stats, language)

    # --- persistence ---
    def save(self, directory: str) -> None:
        """Into a folder or fsspec URL (a global step's state store)."""
        from datamill.io.state import StateStore

        store = StateStore(directory)
        arrays = {}
        for k, (keys, idx) in self.tables.items():
            arrays[f"keys_{k}"], arrays[f"idx_{k}"] = keys, idx
        store.save_npz("index.npz", **arrays)
        meta = {"n": self.n, "tables": sorted(self.tables), "language": self.language,
                "items": self.items, "stats": self.stats}
        store.write_bytes("index.json", json.dumps(meta).encode())

    @classmethod
    def load(cls, directory: str) -> "NgramIndex":
        from datamill.io.state import StateStore

        store = StateStore(directory)
        meta = json.loads(store.read_bytes("index.json").decode("utf-8"))
        z = store.load_npz("index.npz")
        tables = {int(k): (z[f"keys_{k}"], z[f"idx_{k}"]) for k in meta["tables"]}
        return cls(meta["n"], tables, meta["items"], meta["stats"], meta.get("language"))

    # --- lookup ---
    def overlaps(self, text: str) -> dict[int, int]:
        """item number -> how many distinct indexed n-grams of that item ``text`` contains."""
        if not self.tables or not text:
            return {}
        tokens = tokenize(text, self.language)
        if not tokens:
            return {}
        th = token_hashes(tokens)
        found: dict[int, int] = {}
        for k, (keys, idx) in self.tables.items():
            if not len(keys) or len(tokens) < k:
                continue
            h = np.unique(ngram_hashes(tokens, k, th))
            lo = np.searchsorted(keys, h, "left")
            hi = np.searchsorted(keys, h, "right")
            hit = hi > lo
            if not hit.any():
                continue
            lo, hi = lo[hit], hi[hit]
            counts = hi - lo
            rows = np.repeat(lo - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
            items, c = np.unique(idx[rows], return_counts=True)
            for i, v in zip(items.tolist(), c.tolist()):
                found[i] = found.get(i, 0) + v
        return found

    def matches(self, text: str, min_overlap: int = 1, min_fraction: float = 0.0) -> list[Match]:
        """Items whose overlap with ``text`` reaches both thresholds, most overlap first. An item
        whose whole text is one n-gram (shorter than ``ngram``) needs just that one. An item
        indexed as several texts (list fields) is one match, its best text's."""
        best: dict[tuple[str, str], Match] = {}
        for i, k in self.overlaps(text).items():
            t = self.items[i]
            frac = k / t["ngrams"] if t["ngrams"] else 0.0
            if (k >= min_overlap or k == t["ngrams"]) and frac >= min_fraction:
                m = Match(t["benchmark"], t["item"], k, frac)
                key = (m.benchmark, m.item)
                if key not in best or (m.overlap, m.fraction) > (best[key].overlap, best[key].fraction):
                    best[key] = m
        out = sorted(best.values(), key=lambda m: (-m.overlap, m.benchmark, m.item))
        return out


def build_index(benchmarks: Iterable[str] = BUILTIN_BENCHMARKS, *, benchmarks_dir: str | None = None,
                extra_files: Iterable[str] | None = None, extra_field: str | Iterable[str] = "text",
                extra_id_field: str | None = None, n: int = 13, min_ngram: int | None = None,
                cjk_ngram: int | None = None, cjk_min_ngram: int | None = None,
                max_item_frequency: int = 10, language: str | None = None,
                missing_field: str = "error") -> NgramIndex:
    """The Python API of the index: built-in benchmarks by name plus user files."""
    stats = LoadStats()
    benchmarks = list(benchmarks)
    extra_files = list(extra_files or ())
    names = benchmark_names(extra_files)
    for path, name in names.items():  # a file named like a built-in benchmark keeps apart
        if name in benchmarks:
            names[path] = os.path.basename(os.path.dirname(os.path.abspath(path))) + "/" + name

    def items() -> Iterator[BenchmarkItem]:
        if benchmarks:
            root = resolve_benchmarks_dir(benchmarks_dir)
            for name in benchmarks:
                yield from load_builtin(name, root, stats, missing_field)
        for path in extra_files:
            yield from load_user_file(path, extra_field, stats, id_field=extra_id_field,
                                      benchmark=names[path], missing_field=missing_field)

    return NgramIndex.build(items(), n, min_ngram=min_ngram, cjk_ngram=cjk_ngram,
                            cjk_min_ngram=cjk_min_ngram, max_item_frequency=max_item_frequency,
                            language=language, load_stats=stats)
