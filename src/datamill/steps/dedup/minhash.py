"""Fuzzy document dedup with MinHash-LSH: a global step in three stages, then a filter.

1. ``signatures`` (one task per shard): shingles of each record (word n-grams; character
   n-grams for Chinese, Japanese, Thai…), a ``num_perm`` MinHash signature, and one 64-bit hash
   per LSH band. Files under the step's state folder:

   - ``sig-<shard>.u32``: the signatures, raw ``(records, num_perm)`` uint32, row = position;
   - ``bands-<shard>.npy`` / ``bandpos-<shard>.npy``: ``(bands, n)`` band hashes, each band
     sorted by (hash, position), and the positions in that order (records with no shingle,
     such as empty texts, are left out and never clustered);
   - ``docs-<shard>.npy``: per record its length in characters, the ``keep_signal`` value and
     its number of shingles.

2. ``buckets`` (one task per band): merges that band's sorted arrays from every shard in
   bounded steps (memory-mapped, ``MERGE_CHUNK`` entries per shard at a time, a bucket is
   never cut) and writes ``pairs-<band>.u64``: for every bucket with two or more records, the
   pairs (first member, other member), a record being ``shard << 32 | position``.

3. ``clusters`` (one task): the candidate pairs of all bands, without repeats; when ``verify``
   each pair's Jaccard similarity is estimated from the two signatures (read by position from
   the memory-mapped files, in chunks) and pairs under ``threshold`` are dropped; connected
   components of the rest are the clusters. One record per cluster is kept (``keep``: the
   first in input order, the longest, or the highest ``keep_signal``; ties go to the first).
   Per shard, ``clusters-<shard>.npy`` lists every clustered record: position, cluster number,
   cluster size, and whether it is dropped. Clusters are numbered in input order of their
   first record, so the output depends neither on the number of workers nor on resuming.

4. apply (per shard, before the steps after this one): every record gets
   ``signals[<step label>]`` = ``{"cluster": number or None, "cluster_size": n}`` (1 and None
   when it is in no cluster); the others of each cluster than the kept one are dropped with
   the reason ``near_duplicate``.

**Containment** (``similarity="containment"``, for partial copies: a 200-word answer copied
from a 500-word source has Jaccard 0.28 but containment 1.0). The score of a pair is
``|A ∩ B| / min(|A|, |B|)``: the share of the smaller document's shingles found in the larger.
Candidates come from the same LSH index, its bands and rows tuned for the lowest Jaccard
similarity a pair at the containment ``threshold`` can have when the smaller document has at
least ``min_size_ratio`` of the larger's shingles (``t·r / (1 + r − t·r)``). The signatures
stage also writes each record's distinct shingle hashes (``shingles-<shard>.u64``, offsets in
``shoff-<shard>.npy``), and the clusters stage computes every candidate's containment exactly
from them. Use ``keep: longest`` to keep the source and drop the copies. Bands have at least
two rows: a one-row band makes almost every pair of a large corpus a candidate, so at low
thresholds LSH misses some pairs unless ``bands``/``rows`` are given.

Memory: a signatures task holds one shard's band hashes (16 bytes × bands per record); a
buckets task at most ``MERGE_CHUNK`` entries per shard plus one bucket; the clusters task the
distinct candidate pairs (16 bytes each) and ``VERIFY_CHUNK`` pairs of signatures. No stage
holds the signatures of the corpus.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, ClassVar, Iterable, Literal

import numpy as np

from datamill.core.record import Record, get_signal
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, Resources, Stage, register
from datamill.io.state import StateStore
from datamill.steps.dedup import lsh
from datamill.text.languages import record_language

#: entries per shard that a buckets task reads at a time
MERGE_CHUNK = 1 << 20
#: candidate pairs whose signatures are compared at a time in the clusters task
VERIFY_CHUNK = 1 << 16
#: records shingled and hashed at a time in a signatures task
SIGNATURE_BATCH = 2048
#: weight of false positives against false negatives when bands and rows are chosen for a
#: verified run (0.5 without verification, as datasketch): 14 × 8 at threshold 0.8, 112 hashes
FP_WEIGHT_VERIFIED = 0.05

#: containment mode chooses bands of at least this many rows (see the module docstring)
MIN_CONTAINMENT_ROWS = 2

_DOCS_DTYPE = np.dtype([("length", "<i8"), ("signal", "<f8"), ("shingles", "<i8")])
_CLUSTER_DTYPE = np.dtype([("pos", "<i8"), ("cluster", "<i8"), ("size", "<i8"), ("drop", "?")])
_SHIFT = np.uint64(32)
_LOW = np.uint64(0xFFFFFFFF)


@register("minhash_dedup")
class MinHashDedup(GlobalStep):
    """Near-duplicate documents (MinHash-LSH): keep one record per cluster, tag the cluster.

    ``threshold``: Jaccard similarity of shingle sets from which two records are duplicates.
    ``bands`` × ``rows`` (at most ``num_perm``) are chosen from the threshold when omitted,
    minimising the weighted false-positive plus false-negative area of the LSH curve (misses
    weigh 0.95 when ``verify`` removes the false positives afterwards, else 0.5). ``ngram`` words
    per shingle, or ``char_ngram`` characters for languages written without spaces (from
    ``signals["language"]`` when present, else from the script). ``keep``: ``first`` (in input
    order), ``longest`` or ``signal`` (highest ``keep_signal``, a name or dotted path read from
    ``signals`` then ``metadata``, e.g. ``quality_classifier.quality_score``). ``verify`` drops candidate pairs whose signatures estimate a similarity under
    the threshold before clustering.
    """

    resources = Resources(cpus=1.0, memory_mb=1024, batch_size=SIGNATURE_BATCH)
    signal_types: ClassVar[dict[str, str]] = {"cluster": "int64", "cluster_size": "int64"}

    def __init__(self, threshold: float = 0.8, num_perm: int = 112, bands: int | None = None,
                 rows: int | None = None, ngram: int = 5, char_ngram: int = 5,
                 lowercase: bool = True, normalize: bool = True,
                 keep: Literal["first", "longest", "signal"] = "first",
                 keep_signal: str | None = None, seed: int = 1, verify: bool = True,
                 field: str = "text", similarity: Literal["jaccard", "containment"] = "jaccard",
                 min_size_ratio: float = 0.3):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], not {threshold}")
        if num_perm < 1 or ngram < 1 or char_ngram < 1:
            raise ValueError("num_perm, ngram and char_ngram must be at least 1")
        if keep not in ("first", "longest", "signal"):
            raise ValueError(f"keep must be first, longest or signal, not {keep!r}")
        if keep == "signal" and not keep_signal:
            raise ValueError("keep='signal' needs keep_signal, the name of the signal to maximise")
        if similarity not in ("jaccard", "containment"):
            raise ValueError(f"similarity must be jaccard or containment, not {similarity!r}")
        if not 0.0 < min_size_ratio <= 1.0:
            raise ValueError(f"min_size_ratio must be in (0, 1], not {min_size_ratio}")
        if bands is None and rows is None:
            # verified candidates cost a comparison, missed ones are lost: weigh misses more
            fp_weight = FP_WEIGHT_VERIFIED if verify else 0.5
            target = threshold
            if similarity == "containment":  # the lowest Jaccard of a pair at the threshold
                target = threshold * min_size_ratio / (1.0 + min_size_ratio - threshold * min_size_ratio)
            bands, rows = lsh.optimal_bands_rows(target, num_perm, fp_weight, 1.0 - fp_weight)
            if similarity == "containment" and rows < MIN_CONTAINMENT_ROWS:
                # one-hash bands make nearly every pair of a corpus a candidate
                rows, bands = MIN_CONTAINMENT_ROWS, num_perm // MIN_CONTAINMENT_ROWS
        elif bands is None:
            bands = num_perm // rows
        elif rows is None:
            rows = num_perm // bands
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"bands × rows must be at least 1 and at most num_perm={num_perm}, "
                             f"got {bands} × {rows}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands = bands
        self.rows = rows
        self.ngram = ngram
        self.char_ngram = char_ngram
        self.lowercase = lowercase
        self.normalize = normalize
        self.keep = keep
        self.keep_signal = keep_signal
        self.seed = seed
        self.verify = verify
        self.field = field
        self.similarity = similarity
        self.min_size_ratio = min_size_ratio

    def preflight(self) -> None:
        import importlib.util

        if importlib.util.find_spec("rensa") is None:
            raise ImportError("minhash_dedup needs rensa: pip install 'datamill[dedup]'")

    def setup(self) -> None:
        import rensa  # noqa: F401 - fail early, in the worker, with the package's name

    # --- stages ----------------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        return [Stage("signatures", "shard"), Stage("buckets", "partition", partitions=self.bands),
                Stage("clusters", "single")]

    def run_stage(self, stage: str, index: int, state_dir: str, n_shards: int,
                  records: Iterable[Record] | None = None) -> dict[str, Any] | None:
        if stage == "signatures":
            return self.signatures(records if records is not None else (), index, state_dir)
        if stage == "buckets":
            return self.buckets(index, state_dir, n_shards)
        if stage == "clusters":
            return self.clusters(state_dir, n_shards)
        raise ValueError(f"minhash_dedup has no stage {stage!r}")

    # --- 1. signatures -----------------------------------------------------------------------
    def _text(self, record: Record) -> str:
        value = record.get(self.field)
        if value is None:
            value = (record.get("metadata") or {}).get(self.field, "")
        return value if isinstance(value, str) else str(value)

    def _signal(self, record: Record) -> float:
        if not self.keep_signal:
            return math.nan
        value = get_signal(record, self.keep_signal)
        if value is None:
            value = _dotted(record.get("metadata") or {}, self.keep_signal)
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan

    def signature_batch(self, batch: list[Record]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(signatures, docs info, shingle counts) of a batch of records."""
        toks, ns = [], []
        info = np.zeros(len(batch), dtype=_DOCS_DTYPE)
        for i, record in enumerate(batch):
            text = self._text(record)
            language = record_language(record, None) or None
            chars = lsh.uses_chars(text, language)
            toks.append(lsh.tokens(text, chars, self.lowercase, self.normalize))
            ns.append(self.char_ngram if chars else self.ngram)
            info["length"][i] = len(text)
            info["signal"][i] = self._signal(record)
        counts = np.fromiter((len(t) for t in toks), dtype=np.int64, count=len(toks))
        flat = lsh.token_hashes(toks)
        shingles, offsets = lsh.shingle_hashes(flat, counts, np.array(ns, dtype=np.int64), self.seed)
        info["shingles"] = np.diff(offsets)
        sig = lsh.signatures(shingles, offsets, self.num_perm, self.seed)
        self._last_shingles = (shingles, offsets)
        return sig, info, info["shingles"]

    def signatures(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any]:
        band_parts, pos_parts, info_parts, set_sizes = [], [], [], []
        n = 0
        store = StateStore(state_dir)
        containment = self.similarity == "containment"
        sets_file = store.writer(f"shingles-{shard:05d}.u64") if containment else contextlib.nullcontext()
        with store.writer(f"sig-{shard:05d}.u32") as sig_fh, sets_file as sh_fh:
            batch: list[Record] = []
            for record in _chain(records, None):
                if record is not None:
                    batch.append(record)
                if batch and (record is None or len(batch) >= SIGNATURE_BATCH):
                    sig, info, n_sh = self.signature_batch(batch)
                    sig_fh.write(np.ascontiguousarray(sig).tobytes())
                    if containment:
                        sets, sizes = _distinct_per_doc(*self._last_shingles)
                        sh_fh.write(np.ascontiguousarray(sets, dtype="<u8").tobytes())
                        set_sizes.append(sizes)
                    has = np.nonzero(n_sh > 0)[0]
                    band_parts.append(lsh.band_hashes(sig[has], self.bands, self.rows))
                    pos_parts.append((has + n).astype(np.uint32))
                    info_parts.append(info)
                    n += len(batch)
                    batch = []
        if n >= 1 << 32:
            raise ValueError("a shard of minhash_dedup holds at most 2**32 records")
        bands = np.concatenate(band_parts) if band_parts else np.zeros((0, self.bands), dtype=np.uint64)
        pos = np.concatenate(pos_parts) if pos_parts else np.zeros(0, dtype=np.uint32)
        sorted_h = np.empty((self.bands, len(pos)), dtype=np.uint64)
        sorted_p = np.empty((self.bands, len(pos)), dtype=np.uint32)
        for b in range(self.bands):
            order = np.lexsort((pos, bands[:, b]))
            sorted_h[b] = bands[order, b]
            sorted_p[b] = pos[order]
        del bands
        store.save_npy(f"bands-{shard:05d}.npy", sorted_h)
        store.save_npy(f"bandpos-{shard:05d}.npy", sorted_p)
        info = np.concatenate(info_parts) if info_parts else np.zeros(0, dtype=_DOCS_DTYPE)
        store.save_npy(f"docs-{shard:05d}.npy", info)
        if containment:
            sizes = np.concatenate(set_sizes) if set_sizes else np.zeros(0, dtype=np.int64)
            store.save_npy(f"shoff-{shard:05d}.npy", np.r_[0, np.cumsum(sizes)].astype(np.int64))
        return {"documents": n, "without_shingles": int(n - len(pos)),
                "shingles": int(info["shingles"].sum())}

    # --- 2. buckets --------------------------------------------------------------------------
    def buckets(self, band: int, state_dir: str, n_shards: int) -> dict[str, Any]:
        hashes, positions = [], []
        store = StateStore(state_dir)
        for shard in range(n_shards):
            h = store.load_npy(f"bands-{shard:05d}.npy", mmap=True)
            p = store.load_npy(f"bandpos-{shard:05d}.npy", mmap=True)
            hashes.append(h[band] if h.shape[1] else np.zeros(0, dtype=np.uint64))
            positions.append(p[band] if p.shape[1] else np.zeros(0, dtype=np.uint32))
        n_pairs = 0
        with store.writer(f"pairs-{band:05d}.u64") as fh:
            for ranges in lsh.merge_sorted(hashes, MERGE_CHUNK):
                hs, ks = [], []
                for shard, (lo, hi) in enumerate(ranges):
                    if hi > lo:
                        hs.append(np.asarray(hashes[shard][lo:hi]))
                        ks.append((np.uint64(shard) << _SHIFT) | np.asarray(positions[shard][lo:hi]).astype(np.uint64))
                if not hs:
                    continue
                h = np.concatenate(hs)
                k = np.concatenate(ks)
                order = np.argsort(h, kind="stable")  # per shard sorted by (hash, pos): stays by key
                pairs = lsh.bucket_pairs(k[order], h[order])
                if len(pairs):
                    fh.write(np.ascontiguousarray(pairs, dtype="<u8").tobytes())
                    n_pairs += len(pairs)
        return {"bucket_pairs": n_pairs}

    # --- 3. clusters -------------------------------------------------------------------------
    def _candidate_pairs(self, state_dir: str) -> np.ndarray:
        cand = np.zeros((0, 2), dtype=np.uint64)
        store = StateStore(state_dir)
        for band in range(self.bands):
            pairs = store.load_raw(f"pairs-{band:05d}.u64", "<u8").reshape(-1, 2)
            if len(pairs):
                cand = _unique_pairs(np.concatenate([cand, pairs]))
        return cand

    def _similarities(self, pairs: np.ndarray, state_dir: str, n_shards: int) -> np.ndarray:
        """Estimated Jaccard similarity of each pair, from the memory-mapped signatures."""
        sigs = {}
        store = StateStore(state_dir)

        def sig_of(shard: int) -> np.ndarray:
            if shard not in sigs:
                flat = store.load_raw(f"sig-{shard:05d}.u32", np.uint32, mmap=True)
                sigs[shard] = flat.reshape(-1, self.num_perm)
            return sigs[shard]

        def gather(keys: np.ndarray) -> np.ndarray:
            out = np.empty((len(keys), self.num_perm), dtype=np.uint32)
            shards = (keys >> _SHIFT).astype(np.int64)
            pos = (keys & _LOW).astype(np.int64)
            for shard in np.unique(shards):
                sel = shards == shard
                out[sel] = sig_of(int(shard))[pos[sel]]
            return out

        sims = np.empty(len(pairs), dtype=np.float32)
        for lo in range(0, len(pairs), VERIFY_CHUNK):
            chunk = pairs[lo:lo + VERIFY_CHUNK]
            a, b = gather(chunk[:, 0]), gather(chunk[:, 1])
            sims[lo:lo + len(chunk)] = (a == b).mean(axis=1)
        return sims

    def _containments(self, pairs: np.ndarray, state_dir: str) -> np.ndarray:
        """Exact ``|A ∩ B| / min(|A|, |B|)`` of each pair, from the stored shingle sets."""
        store = StateStore(state_dir)
        sets, offs = {}, {}

        def set_of(key: int) -> np.ndarray:
            shard, pos = key >> 32, key & 0xFFFFFFFF
            if shard not in sets:
                sets[shard] = store.load_raw(f"shingles-{shard:05d}.u64", "<u8", mmap=True)
                offs[shard] = store.load_npy(f"shoff-{shard:05d}.npy")
            return sets[shard][offs[shard][pos]:offs[shard][pos + 1]]

        out = np.zeros(len(pairs), dtype=np.float32)
        for i, (a, b) in enumerate(pairs.tolist()):
            sa, sb = set_of(a), set_of(b)
            small = min(len(sa), len(sb))
            if small:
                out[i] = len(np.intersect1d(sa, sb, assume_unique=True)) / small
        return out

    def clusters(self, state_dir: str, n_shards: int) -> dict[str, Any]:
        pairs = self._candidate_pairs(state_dir)
        n_candidates = len(pairs)
        if self.similarity == "containment" and len(pairs):
            sims = self._containments(pairs, state_dir)
            pairs = pairs[sims >= self.threshold - 1e-6]
        elif self.verify and len(pairs):
            sims = self._similarities(pairs, state_dir, n_shards)
            pairs = pairs[sims >= self.threshold - 1e-6]
        nodes = np.unique(pairs) if len(pairs) else np.zeros(0, dtype=np.uint64)
        labels = lsh.components(np.searchsorted(nodes, pairs[:, 0]), np.searchsorted(nodes, pairs[:, 1]),
                                len(nodes))
        roots, cluster_of, sizes = np.unique(labels, return_inverse=True, return_counts=True)
        cluster_of = cluster_of.reshape(-1)
        size_of = sizes[cluster_of]
        node_shard = (nodes >> _SHIFT).astype(np.int64)
        node_pos = (nodes & _LOW).astype(np.int64)

        # the kept record of each cluster: nodes are in input order, so argmax ties go first
        if self.keep == "first" or not len(nodes):
            keeper = roots  # the smallest node of each component
        else:
            score = np.empty(len(nodes), dtype=np.float64)
            for shard in np.unique(node_shard):
                info = StateStore(state_dir).load_npy(f"docs-{shard:05d}.npy", mmap=True)
                sel = node_shard == shard
                col = "length" if self.keep == "longest" else "signal"
                score[sel] = info[col][node_pos[sel]]
            score = np.where(np.isnan(score), -np.inf, score)
            order = np.lexsort((np.arange(len(nodes)), -score, cluster_of))
            first_in_cluster = np.ones(len(order), dtype=bool)
            first_in_cluster[1:] = cluster_of[order][1:] != cluster_of[order][:-1]
            keeper = order[first_in_cluster]
        drop = np.ones(len(nodes), dtype=bool)
        drop[keeper] = False

        for shard in range(n_shards):
            sel = node_shard == shard
            out = np.zeros(int(sel.sum()), dtype=_CLUSTER_DTYPE)
            out["pos"] = node_pos[sel]
            out["cluster"] = cluster_of[sel]
            out["size"] = size_of[sel]
            out["drop"] = drop[sel]
            StateStore(state_dir).save_npy(f"clusters-{shard:05d}.npy", out)
        return {"bands": self.bands, "rows": self.rows, "candidate_pairs": int(n_candidates),
                "verified_pairs": int(len(pairs)), "clusters": int(len(roots)),
                "clustered_documents": int(len(nodes)), "near_duplicates": int(drop.sum())}

    # --- 4. apply ----------------------------------------------------------------------------
    def decide_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                     stats: StepStats) -> Iterable[tuple[Record, str | None]]:
        table = StateStore(state_dir).load_npy(f"clusters-{shard:05d}.npy")
        where = {int(p): i for i, p in enumerate(table["pos"])}
        for pos, record in enumerate(records):
            i = where.get(pos)
            signals = record.get("signals")
            if not isinstance(signals, dict):
                signals = record["signals"] = {}
            signals[self.label] = {"cluster": int(table["cluster"][i]) if i is not None else None,
                                   "cluster_size": int(table["size"][i]) if i is not None else 1}
            if i is not None:
                if table["drop"][i]:
                    yield record, "near_duplicate"
                    continue
            yield record, None


def _dotted(tree: dict, path: str):
    """``tree[path]``, else the value at a dotted path (``quality_classifier.quality_score``)."""
    if path in tree:
        return tree[path]
    node = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _chain(records: Iterable[Record], end):
    yield from records
    yield end


def _distinct_per_doc(shingles: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's distinct shingle hashes, sorted, concatenated; and their counts."""
    counts = np.diff(offsets)
    doc = np.repeat(np.arange(len(counts)), counts)
    sh = shingles.astype(np.uint64, copy=False)
    order = np.lexsort((sh, doc))
    sh, doc = sh[order], doc[order]
    keep = np.ones(len(sh), dtype=bool)
    keep[1:] = (sh[1:] != sh[:-1]) | (doc[1:] != doc[:-1])
    return sh[keep], np.bincount(doc[keep], minlength=len(counts)).astype(np.int64)


def _unique_pairs(pairs: np.ndarray) -> np.ndarray:
    if len(pairs) < 2:
        return pairs
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    p = pairs[order]
    keep = np.ones(len(p), dtype=bool)
    keep[1:] = (p[1:, 0] != p[:-1, 0]) | (p[1:, 1] != p[:-1, 1])
    return p[keep]
