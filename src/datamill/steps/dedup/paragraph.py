"""Paragraph and line dedup across the whole dataset, as CCNet and Dolma do it.

A document is cut into *units*: ``unit="line"`` splits on ``"\\n"`` (what Dolma calls a
paragraph, and what CCNet dedups); ``unit="paragraph"`` splits on blank lines. Blank units are
never units: they are kept as layout. Re-wrapping: line breaks inside a paragraph never change
its key; with ``rewrap=True`` line units become sentences of the text between blank lines
(lines joined, then cut after each sentence end), so a text wrapped at 60 or 80 columns or not
at all gives the same units. Each unit is hashed (xxh3, 64 or 128 bits) after an
optional CCNet-style normalisation (lower case, accents stripped, digits to ``0``, punctuation
removed, whitespace collapsed). A unit seen *earlier in input order* -- an earlier shard, an
earlier record of the shard, or earlier in the same record -- is a duplicate; the first
occurrence is kept, so the result does not depend on the number of workers.

Stages:

1. ``map`` (per shard): the hash, record position, unit index and length of every unit,
   cut into ``partitions`` files by hash and sorted by hash (``units-<shard>-p<part>.npz``).
2. ``reduce``:

   * ``method="exact"`` -- a ``partition`` stage: task *p* merges part *p* of every shard
     (sorted by hash, then by input order) and marks every unit that is not the first of its
     hash. Memory is bounded by one partition: about 32 bytes per unit / ``partitions``.
   * ``method="bloom"`` -- one ``single`` task that walks the shards in input order through a
     Bloom filter (numpy bit array) sized for the actual number of units and
     ``bloom_fp_rate``; a false positive removes a unit that was not seen before, with
     probability at most ``bloom_fp_rate``. It needs ``~1.44*log2(1/p)`` bits per unit
     (19 bits at 1e-4) instead of the exact reduce's 32 bytes.

   Both write, per shard, the (record, unit) pairs to remove (``remove-<shard>-p<part>.npy``).
3. ``apply`` (per shard): removes those units (or, with ``action="tag"``, only records their
   character spans), writes the signals ``units``, ``dup_units`` and ``dup_chars`` (and
   ``dup_spans`` with ``action="tag"``) under ``signals[<label>]``, and drops a record that lost units and is left with fewer than
   ``min_chars`` characters or ``min_words`` words (reason ``paragraph_dedup_too_short``).

Counters in ``stats.json``: ``units``, ``duplicate_units``, ``duplicate_chars`` (reduce) and,
per step, ``records_changed``, ``units_removed``, ``chars_removed``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Iterable, Iterator, Literal

import numpy as np
import regex

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, Stage, register
from datamill.io.state import StateStore
from datamill.text.languages import record_language

_PUNCT = regex.compile(r"[\p{P}\p{S}]+")
_DIGITS = regex.compile(r"\d")
_WS = re.compile(r"\s+")
_PARA_SEP = re.compile(r"\n[^\S\n]*\n\s*")
#: the end of a sentence, with closing quotes/brackets and the whitespace after it
_SENTENCE_END = regex.compile(r"[.!?…]+[\"”’」』)）\]]*(?:\s+|$)|[。！？]+[”’」』）]*\s*")
_CHUNK = 1 << 16  # units per step of the bloom pass


def normalize_unit(text: str) -> str:
    """CCNet's normalisation for dedup: lower case, no accents, digits -> 0, no punctuation,
    whitespace collapsed."""
    text = text.strip().lower()
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = _DIGITS.sub("0", text)
    text = _PUNCT.sub("", text)
    return _WS.sub(" ", text).strip()


def split_units(text: str, unit: str) -> list[tuple[int, int, str]]:
    """Cut ``text`` into spans that cover it: ``(start, end, content)``. ``content`` is the
    unit without its separator, or ``""`` for a blank piece (kept as layout, never a unit).
    For lines the span includes the trailing ``"\\n"`` (Dolma's spans do too)."""
    spans: list[tuple[int, int, str]] = []
    if unit == "line":
        start = 0
        n = len(text)
        while start < n:
            nl = text.find("\n", start)
            end = n if nl < 0 else nl + 1
            content = text[start:end - 1] if nl >= 0 else text[start:end]
            spans.append((start, end, content if content.strip() else ""))
            start = end
        return spans
    start = 0
    for m in _PARA_SEP.finditer(text):
        content = text[start:m.start()]
        spans.append((start, m.end(), content if content.strip() else ""))
        start = m.end()
    if start < len(text):
        content = text[start:]
        spans.append((start, len(text), content if content.strip() else ""))
    return spans


_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}、。，！？：；（）「」『』"  # not hangul: Korean has spaces
_CJK_BREAK = regex.compile(rf"(?<=[{_CJK}])[^\S\n]*\n\s*|[^\S\n]*\n\s*(?=[{_CJK}])")


def unwrap(text: str) -> str:
    """Line breaks as layout: none next to a CJK character (Chinese and Japanese wrap
    anywhere, without spaces), one space elsewhere; whitespace collapsed."""
    return _WS.sub(" ", _CJK_BREAK.sub("", text)).strip()


def join_wrapped(spans: list[tuple[int, int, str]], text: str | None = None) -> list[tuple[int, int, str]]:
    """Line spans re-cut so that wrapping does not matter: the lines of a block (lines between
    blank lines) are joined and cut again after each sentence end, so the same paragraph
    wrapped at 60 or 80 columns, or not at all, gives the same units. Blank lines stay as
    layout; the spans still cover the text."""
    out: list[tuple[int, int, str]] = []
    block: list[tuple[int, int, str]] = []

    def flush() -> None:
        if not block:
            return
        start, end = block[0][0], block[-1][1]
        body = text[start:end] if text is not None else "\n".join(b[2] for b in block)
        cut = start
        for m in _SENTENCE_END.finditer(body):
            stop = start + m.end()
            if stop > cut:
                piece = unwrap(body[cut - start:stop - start])
                out.append((cut, stop, piece))
                cut = stop
        if cut < end:
            out.append((cut, end, unwrap(body[cut - start:])))
        block.clear()

    for span in spans:
        if span[2]:
            block.append(span)
        else:
            flush()
            out.append(span)
    flush()
    return out


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def bloom_size(n: int, fp_rate: float) -> tuple[int, int]:
    """Bits ``m`` and hash count ``k`` of a Bloom filter for ``n`` items at ``fp_rate``."""
    n = max(int(n), 1)
    m = max(64, int(math.ceil(-n * math.log(fp_rate) / (math.log(2) ** 2))))
    k = max(1, int(round(m / n * math.log(2))))
    return m, k


class _NumpyBloom:
    """A Bloom filter on a packed numpy bit array, fed 128-bit hashes (double hashing)."""

    def __init__(self, n: int, fp_rate: float):
        self.m, self.k = bloom_size(n, fp_rate)
        self.bits = np.zeros((self.m + 7) // 8, dtype=np.uint8)

    def _positions(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        h2 = _splitmix(hi ^ lo) | np.uint64(1)
        i = np.arange(self.k, dtype=np.uint64)
        with np.errstate(over="ignore"):
            pos = (hi[:, None] + i[None, :] * h2[:, None]) % np.uint64(self.m)
        return pos.astype(np.int64)

    def contains(self, pos: np.ndarray) -> np.ndarray:
        bit = (self.bits[pos >> 3] >> (pos & 7).astype(np.uint8)) & 1
        return bit.all(axis=1)

    def add(self, pos: np.ndarray) -> None:
        flat = pos.ravel()
        np.bitwise_or.at(self.bits, flat >> 3, (np.uint8(1) << (flat & 7).astype(np.uint8)))


@register("paragraph_dedup")
class ParagraphDedup(GlobalStep):
    """Remove lines or paragraphs already seen elsewhere in the dataset (first kept)."""

    def __init__(self, unit: Literal["line", "paragraph"] = "line", normalize: bool = True,
                 method: Literal["exact", "bloom"] = "exact", bloom_fp_rate: float = 1e-4,
                 bloom_expected_units: int | None = None, hash_bits: Literal[64, 128] = 128,
                 partitions: int = 8, min_unit_chars: int = 0, min_chars: int = 50,
                 min_words: int = 0, action: Literal["remove", "tag"] = "remove",
                 field: str = "text", rewrap: bool = False):
        if unit not in ("line", "paragraph"):
            raise ValueError(f"unit must be 'line' or 'paragraph', not {unit!r}")
        if method not in ("exact", "bloom"):
            raise ValueError(f"method must be 'exact' or 'bloom', not {method!r}")
        if not 0.0 < bloom_fp_rate < 1.0:
            raise ValueError(f"bloom_fp_rate must be in (0, 1), got {bloom_fp_rate}")
        if hash_bits not in (64, 128):
            raise ValueError(f"hash_bits must be 64 or 128, not {hash_bits!r}")
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        if action not in ("remove", "tag"):
            raise ValueError(f"action must be 'remove' or 'tag', not {action!r}")
        if min(min_unit_chars, min_chars, min_words) < 0:
            raise ValueError("min_unit_chars, min_chars and min_words must be >= 0")
        if bloom_expected_units is not None and bloom_expected_units < 1:
            raise ValueError("bloom_expected_units must be >= 1")
        self.unit = unit
        self.normalize = normalize
        self.method = method
        self.bloom_fp_rate = bloom_fp_rate
        self.bloom_expected_units = bloom_expected_units
        self.hash_bits = hash_bits
        self.partitions = partitions
        self.min_unit_chars = min_unit_chars
        self.min_chars = min_chars
        self.min_words = min_words
        self.action = action
        self.field = field
        self.rewrap = rewrap

    # --- stages ------------------------------------------------------------------------
    @property
    def _parts(self) -> int:
        return self.partitions if self.method == "exact" else 1

    def stages(self) -> list[Stage]:
        if self.method == "exact":
            return [Stage("map", "shard"), Stage("reduce", "partition", self._parts)]
        return [Stage("map", "shard"), Stage("reduce", "single")]

    def run_stage(self, stage: str, index: int, state_dir: str, n_shards: int,
                  records: Iterable[Record] | None = None) -> dict[str, Any] | None:
        if stage == "map":
            return self.map_shard(records if records is not None else (), index, state_dir)
        if stage == "reduce":
            if self.method == "exact":
                return self._reduce_partition(index, n_shards, state_dir)
            return self._reduce_bloom(n_shards, state_dir)
        raise ValueError(f"paragraph_dedup has no stage {stage!r}")

    # --- units -------------------------------------------------------------------------
    def _text(self, record: Record) -> str | None:
        value = record.get(self.field)
        return value if isinstance(value, str) else None

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        spans = split_units(text, self.unit)
        return join_wrapped(spans, text) if self.rewrap and self.unit == "line" else spans

    def _key(self, content: str) -> str | None:
        """The dedup key of a unit's content, or None when it takes no part."""
        if not content:
            return None
        if self.normalize:
            key = normalize_unit(_CJK_BREAK.sub("", content))
        elif self.rewrap or self.unit == "paragraph":  # line breaks inside a unit are layout
            key = unwrap(content)
        else:
            key = content
        return key if key and len(key) >= self.min_unit_chars else None

    def _units(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, key) of every unit that takes part in dedup, in order."""
        for start, end, content in self._spans(text):
            key = self._key(content)
            if key is not None:
                yield start, end, key

    def map_shard(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any]:
        import xxhash

        digest = xxhash.xxh3_128_digest if self.hash_bits == 128 else xxhash.xxh3_64_digest
        raw: list[bytes] = []
        docs: list[int] = []
        idx: list[int] = []
        lens: list[int] = []
        n_records = no_text = 0
        for pos, record in enumerate(records):
            n_records += 1
            text = self._text(record)
            if text is None:
                no_text += 1
                continue
            for u, (start, end, key) in enumerate(self._units(text)):
                raw.append(digest(key.encode("utf-8", "surrogatepass")))
                docs.append(pos)
                idx.append(u)
                lens.append(end - start)
        width = self.hash_bits // 64
        if raw:
            h = np.frombuffer(b"".join(raw), dtype=">u8").reshape(-1, width).astype(np.uint64)
        else:
            h = np.zeros((0, width), dtype=np.uint64)
        hi = h[:, 0]
        lo = h[:, 1] if width == 2 else np.zeros(len(h), dtype=np.uint64)
        doc_a = np.asarray(docs, dtype=np.int64)
        unit_a = np.asarray(idx, dtype=np.int32)
        len_a = np.asarray(lens, dtype=np.int64)
        part = (hi % np.uint64(self._parts)).astype(np.int64) if self._parts > 1 else np.zeros(len(hi), np.int64)
        counts = np.bincount(doc_a, minlength=n_records).astype(np.int32) if n_records else np.zeros(0, np.int32)
        store = StateStore(state_dir)
        store.save_npy(f"counts-{shard:05d}.npy", counts)
        for p in range(self._parts):
            sel = np.flatnonzero(part == p)
            if self.method == "exact":  # sorted by hash, then input order
                sel = sel[np.lexsort((unit_a[sel], doc_a[sel], lo[sel], hi[sel]))]
            store.save_npz(f"units-{shard:05d}-p{p:03d}.npz", hi=hi[sel], lo=lo[sel], doc=doc_a[sel],
                           unit=unit_a[sel], nchars=len_a[sel])
        return {"records_mapped": n_records, "records_without_text": no_text, "units_mapped": len(raw)}

    # --- reduce ------------------------------------------------------------------------
    def _write_removals(self, state_dir: str, part: int, n_shards: int, shard_col: np.ndarray,
                        doc: np.ndarray, unit: np.ndarray, dup: np.ndarray) -> None:
        for s in range(n_shards):
            sel = dup & (shard_col == s)
            pairs = np.stack([doc[sel], unit[sel].astype(np.int64)], axis=1) if sel.any() \
                else np.zeros((0, 2), dtype=np.int64)
            StateStore(state_dir).save_npy(f"remove-{s:05d}-p{part:03d}.npy", pairs)

    def _load(self, state_dir: str, shard: int, part: int) -> dict[str, np.ndarray]:
        return StateStore(state_dir).load_npz(f"units-{shard:05d}-p{part:03d}.npz")

    def _reduce_partition(self, part: int, n_shards: int, state_dir: str) -> dict[str, Any]:
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("hi", "lo", "doc", "unit", "nchars", "shard")}
        for s in range(n_shards):
            arrs = self._load(state_dir, s, part)
            for k, v in arrs.items():
                cols[k].append(v)
            cols["shard"].append(np.full(len(arrs["hi"]), s, dtype=np.int32))
        a = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}
        n = len(a["hi"])
        order = np.lexsort((a["unit"], a["doc"], a["shard"], a["lo"], a["hi"]))
        a = {k: v[order] for k, v in a.items()}
        dup = np.zeros(n, dtype=bool)
        if n > 1:
            dup[1:] = (a["hi"][1:] == a["hi"][:-1]) & (a["lo"][1:] == a["lo"][:-1])
        self._write_removals(state_dir, part, n_shards, a["shard"], a["doc"], a["unit"], dup)
        return {"units": int(n), "duplicate_units": int(dup.sum()),
                "duplicate_chars": int(a["nchars"][dup].sum()) if n else 0}

    def _reduce_bloom(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        total = 0
        for s in range(n_shards):
            total += len(self._load(state_dir, s, 0)["hi"])
        expected = self.bloom_expected_units or total
        bloom = _NumpyBloom(expected, self.bloom_fp_rate)
        n_dup = dup_chars = 0
        for s in range(n_shards):
            a = self._load(state_dir, s, 0)
            order = np.lexsort((a["unit"], a["doc"]))  # input order within the shard
            a = {k: v[order] for k, v in a.items()}
            dup = np.zeros(len(a["hi"]), dtype=bool)
            for c0 in range(0, len(dup), _CHUNK):
                hi, lo = a["hi"][c0:c0 + _CHUNK], a["lo"][c0:c0 + _CHUNK]
                pos = bloom._positions(hi, lo)
                seen = bloom.contains(pos)
                # earlier in this chunk: exact (the filter holds units of earlier chunks)
                o = np.lexsort((np.arange(len(hi)), lo, hi))
                later = np.zeros(len(hi), dtype=bool)
                later[o[1:]] = (hi[o][1:] == hi[o][:-1]) & (lo[o][1:] == lo[o][:-1])
                d = seen | later
                bloom.add(pos[~d])
                dup[c0:c0 + _CHUNK] = d
            n_dup += int(dup.sum())
            dup_chars += int(a["nchars"][dup].sum())
            self._write_one(state_dir, s, a["doc"], a["unit"], dup)
        return {"units": int(total), "duplicate_units": n_dup, "duplicate_chars": dup_chars,
                "bloom_bits": bloom.m, "bloom_hashes": bloom.k, "bloom_fp_rate": self.bloom_fp_rate,
                "bloom_expected_units": int(expected)}

    def _write_one(self, state_dir: str, shard: int, doc: np.ndarray, unit: np.ndarray,
                   dup: np.ndarray) -> None:
        pairs = np.stack([doc[dup], unit[dup].astype(np.int64)], axis=1) if dup.any() \
            else np.zeros((0, 2), dtype=np.int64)
        StateStore(state_dir).save_npy(f"remove-{shard:05d}-p000.npy", pairs)

    # --- apply -------------------------------------------------------------------------
    def _removals(self, state_dir: str, shard: int) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {}
        for p in range(self._parts):
            pairs = StateStore(state_dir).load_npy(f"remove-{shard:05d}-p{p:03d}.npy")
            for d, u in pairs.tolist():
                out.setdefault(d, set()).add(u)
        return out

    def _too_short(self, text: str, record: Record) -> bool:
        if len(text.strip()) < self.min_chars:
            return True
        if self.min_words:
            from datamill.text.words import is_punctuation, split_words

            lang = record_language(record, None) or None
            n = sum(1 for w in split_words(text, lang)
                    if not is_punctuation(w))
            return n < self.min_words
        return False

    def decide_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                     stats: StepStats) -> Iterable[tuple[Record, str | None]]:
        removals = self._removals(state_dir, shard)
        counts = StateStore(state_dir).load_npy(f"counts-{shard:05d}.npy").tolist()
        counter = stats.counter("paragraph_dedup")
        for pos, record in enumerate(records):
            text = self._text(record)
            all_signals = record.get("signals")
            if not isinstance(all_signals, dict):
                all_signals = record["signals"] = {}
            signals = all_signals[self.label] = {}
            drop = removals.get(pos)
            if text is None or not drop:  # nothing to remove: no need to cut the text again
                signals["units"] = counts[pos] if pos < len(counts) else 0
                signals["dup_units"] = 0
                signals["dup_chars"] = 0
                if self.action == "tag":
                    signals["dup_spans"] = []
                yield record, None
                continue
            kept: list[str] = []
            spans: list[list[int]] = []
            n_units = removed_chars = 0
            u = 0
            for start, end, content in self._spans(text):
                key = self._key(content)
                if key is not None:
                    n_units += 1
                    if drop and u in drop:
                        spans.append([start, end])
                        removed_chars += end - start
                        u += 1
                        continue
                    u += 1
                kept.append(text[start:end])
            n_removed = len(spans)
            signals["units"] = n_units
            signals["dup_units"] = n_removed
            signals["dup_chars"] = removed_chars
            if self.action == "tag":
                signals["dup_spans"] = spans
                yield record, None
                continue
            if n_removed:
                counter["records_changed"] += 1
                counter["units_removed"] += n_removed
                counter["chars_removed"] += removed_chars
                new_text = "".join(kept).strip("\r\n")
                record[self.field] = new_text
                if self._too_short(new_text, record):
                    counter["records_dropped"] += 1
                    yield record, "paragraph_dedup_too_short"
                    continue
            yield record, None
