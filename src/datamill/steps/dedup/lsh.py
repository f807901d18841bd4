"""MinHash-LSH building blocks: shingles, signatures, band hashes, the choice of bands and rows,
the bounded-memory merge of sorted band files and connected components.

Everything here works on numpy arrays of whole batches; the step (``minhash.py``) only moves
files between stages. Hashes are 64-bit and seeded, so the same text, parameters and seed give
the same signature on every machine and with any number of workers.

Shingles. A document's tokens (words, or characters for languages written without spaces) are
hashed once each (``rensa``'s token hash, in Rust), then every run of ``n`` consecutive token
hashes is folded into one 64-bit shingle hash with numpy, for the whole batch at once. A
document with fewer than ``n`` tokens has one shingle (all its tokens); an empty one has none
and is never clustered.

Signatures. ``rensa.RMinHash.digest_matrix_from_flat_token_hashes`` turns the flat shingle
hashes of a batch into a ``(docs, num_perm)`` matrix of 32-bit minima.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Iterator, Sequence

import numpy as np

from datamill.text.words import CJK_LANGUAGES, base_language

#: languages whose text is shingled on characters, not words
CHAR_LANGUAGES = frozenset((CJK_LANGUAGES - {"ko"}) | {"th", "lo", "km", "my", "bo"})

_WORDS = re.compile(r"\w+")
_NOT_WORD_CHARS = re.compile(r"[\W_]+")
# Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan: scripts written without spaces
_UNSPACED_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
                             r"\u0e00-\u0eff\u1780-\u17ff\u1000-\u109f\u0f00-\u0fff]")

_M64 = 0xFFFFFFFFFFFFFFFF
_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_F1 = np.uint64(0xFF51AFD7ED558CCD)
_F2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, element-wise (wraps modulo 2**64)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> _S33)
        x = x * _F1
        x = x ^ (x >> _S33)
        x = x * _F2
        return x ^ (x >> _S33)


# --- tokens --------------------------------------------------------------------------------

def uses_chars(text: str, language: str | None) -> bool:
    """Character shingles for ``language`` (zh, ja, th…); without a language, when at least a
    third of the first 2,000 characters belong to scripts written without spaces."""
    if language:
        return base_language(language) in CHAR_LANGUAGES
    head = text[:2000]
    if not head or head.isascii() or _UNSPACED_CHARS.search(head) is None:
        return False
    return len(_UNSPACED_CHARS.findall(head)) * 3 >= len(head.replace(" ", "")) > 0


def tokens(text: str, chars: bool, lowercase: bool = True, normalize: bool = True) -> list[str]:
    """The tokens shingles are made of: words (``\\w+`` runs when ``normalize``, else
    whitespace-separated chunks), or characters with whitespace (and, when ``normalize``,
    punctuation) removed. ``normalize`` also applies Unicode NFKC."""
    if normalize:
        text = unicodedata.normalize("NFKC", text)
    if lowercase:
        text = text.lower()
    if chars:
        return list(_NOT_WORD_CHARS.sub("", text) if normalize else "".join(text.split()))
    return _WORDS.findall(text) if normalize else text.split()


def token_hashes(docs_tokens: Sequence[list[str]]) -> np.ndarray:
    """One 64-bit hash per token of every document, flat, in order."""
    from rensa import RMinHash

    flat = list(itertools.chain.from_iterable(docs_tokens))
    if not flat:
        return np.zeros(0, dtype=np.uint64)
    return np.array(RMinHash.hash_token_sets([flat])[0], dtype=np.uint64)


def shingle_hashes(tok: np.ndarray, counts: np.ndarray, ns: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fold token hashes into shingle hashes.

    ``tok``: flat token hashes; ``counts[d]``: tokens of document d; ``ns[d]``: its shingle
    size. Returns (flat shingle hashes, row offsets of length docs + 1)."""
    counts = np.asarray(counts, dtype=np.int64)
    ns = np.asarray(ns, dtype=np.int64)
    n_docs = len(counts)
    starts = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    n_sh = np.where(counts >= ns, counts - ns + 1, np.minimum(counts, 1))
    out_off = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(n_sh, out=out_off[1:])
    out = np.empty(int(out_off[-1]), dtype=np.uint64)
    seed64 = np.uint64(fmix64(np.array([seed & _M64], dtype=np.uint64))[0])
    with np.errstate(over="ignore"):
        for n in np.unique(ns):
            n = int(n)
            sel = (ns == n) & (counts >= n) & (counts > 0)
            if sel.any() and len(tok) >= n:
                k = len(tok) - n + 1
                h = tok[:k] ^ seed64
                for j in range(1, n):
                    h = (h * _P1 + np.uint64(j)) ^ tok[j:j + k]
                h = fmix64(h * _P2)
                # positions i whose window lies inside one document
                docs = np.nonzero(sel)[0]
                lens = n_sh[docs]
                src = np.repeat(starts[docs] - out_off[docs], lens) + _ranges(out_off[docs], lens)
                dst = _ranges(out_off[docs], lens)
                out[dst] = h[src]
        # documents shorter than their n: one shingle of all their tokens
        for d in np.nonzero((counts < ns) & (counts > 0))[0]:
            t = tok[starts[d]:starts[d + 1]]
            h = t[:1] ^ seed64
            for j in range(1, len(t)):
                h = (h * _P1 + np.uint64(j)) ^ t[j:j + 1]
            out[out_off[d]] = fmix64(h * _P2)[0]
    return out, out_off


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """concat(arange(s, s + l) for s, l in zip(starts, lens)), vectorised."""
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=offs[1:])
    base = np.repeat(starts - offs, lens)
    return base + np.arange(total, dtype=np.int64)


def signatures(shingles: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """``(docs, num_perm)`` uint32 MinHash matrix (rensa's RMinHash, seeded)."""
    from rensa import RMinHash

    n_docs = len(offsets) - 1
    if n_docs == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    mat = RMinHash.digest_matrix_from_flat_token_hashes(
        shingles, offsets.astype(np.uint64), num_perm, seed)
    return np.array(mat.to_rows(), dtype=np.uint32).reshape(n_docs, num_perm)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(docs, bands)`` uint64: one hash of each band's ``rows`` signature values."""
    n = sig.shape[0]
    s = sig[:, :bands * rows].reshape(n, bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = np.broadcast_to(fmix64(np.arange(1, bands + 1, dtype=np.uint64)), (n, bands)).copy()
        for j in range(rows):
            h = (h * _P1) ^ s[:, :, j]
        return fmix64(h * _P2)


# --- bands and rows -------------------------------------------------------------------------

def _integrate(f, a: float, b: float, steps: int = 200) -> float:
    if b <= a:
        return 0.0
    xs = np.linspace(a, b, steps + 1)
    ys = f(xs)
    return float(np.sum((ys[1:] + ys[:-1]) * 0.5 * np.diff(xs)))


def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5,
                       fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows), bands * rows <= num_perm, minimising the weighted sum of the area under
    the LSH S-curve below ``threshold`` (false positives) and above it (false negatives)."""
    best, best_err = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _integrate(lambda s: 1 - (1 - s ** r) ** b, 0.0, threshold)
            fn = _integrate(lambda s: (1 - s ** r) ** b, threshold, 1.0)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err - 1e-12:
                best, best_err = (b, r), err
    return best


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Chance that two documents of Jaccard ``similarity`` share at least one bucket."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


# --- merging sorted band files --------------------------------------------------------------

def merge_sorted(hashes: Sequence[np.ndarray], chunk: int) -> Iterator[list[tuple[int, int]]]:
    """Walk sorted arrays (one per shard) together in bounded steps.

    Yields, per step, ``[(start, end), ...]`` (one range per array) such that every value of
    the step is smaller than every value of later steps: a run of equal values is never cut.
    Each step holds at most ``chunk`` entries of every array, plus the rest of one run of
    equal values (one bucket), whatever its size.
    """
    pos = [0] * len(hashes)
    while True:
        live = [i for i, h in enumerate(hashes) if pos[i] < len(h)]
        if not live:
            return
        bound = None
        for i in live:
            end = min(pos[i] + chunk, len(hashes[i]))
            if end < len(hashes[i]):
                last = hashes[i][end - 1]
                bound = last if bound is None or last < bound else bound
        ranges = []
        for i, h in enumerate(hashes):
            if pos[i] >= len(h):
                ranges.append((pos[i], pos[i]))
                continue
            end = len(h) if bound is None else int(np.searchsorted(h, bound, side="right"))
            end = max(end, pos[i])
            ranges.append((pos[i], end))
            pos[i] = end
        yield ranges


def bucket_pairs(keys: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Pairs (first, other) of documents sharing a bucket: ``keys`` and ``hashes`` sorted by
    (hash, key). Each bucket gives a star from its first member (smallest key)."""
    if len(hashes) < 2:
        return np.zeros((0, 2), dtype=np.uint64)
    new = np.ones(len(hashes), dtype=bool)
    new[1:] = hashes[1:] != hashes[:-1]
    run_id = np.cumsum(new) - 1
    first = np.nonzero(new)[0]
    members = ~new
    return np.stack([keys[first[run_id[members]]], keys[members]], axis=1)


# --- connected components --------------------------------------------------------------------

def components(a: np.ndarray, b: np.ndarray, n_nodes: int) -> np.ndarray:
    """Label of every node (the smallest node index of its component) given edges a–b."""
    labels = np.arange(n_nodes, dtype=np.int64)
    if len(a) == 0:
        return labels
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while True:
        m = np.minimum(labels[a], labels[b])
        new = labels.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        while True:  # pointer jumping: every node straight to its root
            nxt = new[new]
            if np.array_equal(nxt, new):
                break
            new = nxt
        if np.array_equal(new, labels):
            return labels
        labels = new
