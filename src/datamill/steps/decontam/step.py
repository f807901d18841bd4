"""``decontaminate``: find training records that contain benchmark test items, tag or drop
them, and write a contamination report.

A global step, so that one report covers the whole run:

1. ``index`` (single): builds the n-gram index (:mod:`datamill.steps.decontam.index`) from the
   configured benchmarks and user files, once, into the step's state folder.
2. ``match`` (per shard): looks every record up; writes the records that reach the thresholds
   (``hits-<shard>.jsonl``: position, record id, items hit with their overlap).
3. ``report`` (single): merges the hits into ``contamination_report.json`` -- per benchmark,
   which items were hit and by which records -- in the state folder and in the run's output
   folder (``OUTPUT/.datamill/reports/contamination_report.json``; ``report_path`` puts it
   elsewhere).
4. apply (per shard): writes ``signals[<step label>]`` on every record: ``contaminated``
   (bool) and ``matches`` (a list of ``{benchmark, item, overlap, fraction}``), so several
   decontaminate steps in one recipe keep their own tags; with ``action="drop"`` matching
   records are dropped with the reason ``contaminated``.

A record matches an item when it holds at least ``min_overlap`` of the item's indexed n-grams
(or all of them, for an item shorter than ``ngram`` indexed whole) *and* at least
``min_fraction`` of all its n-grams. How n adapts to each item is in ``index.py``. The text looked at is ``field``; a record
without it or with it empty (a chat sample) is matched on its ``messages`` contents, ``prompt``, ``chosen``,
``rejected``, ``response`` or ``completion`` joined (looked up in the record, else in its
``metadata``, where the JSONL and Parquet readers keep a row's other fields).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Literal

from datamill.core.record import Record
from datamill.core.stats import StepStats
from datamill.core.step import GlobalStep, Stage, register
from datamill.io.atomic import atomic_write_bytes
from datamill.io.layout import report_path as run_report_path
from datamill.io.state import StateStore
from datamill.steps.decontam.benchmarks import resolve_benchmarks_dir
from datamill.steps.decontam.index import BUILTIN_BENCHMARKS, NgramIndex, build_index

_CHAT_FIELDS = ("prompt", "instruction", "input", "output", "chosen", "rejected", "response", "completion")
MAX_RECORDS_PER_ITEM = 1000


def record_text(record: Record, field: str = "text") -> str:
    value = record.get(field)
    if isinstance(value, str) and value.strip():
        return value
    parts: list[str] = []
    meta = record.get("metadata")
    if isinstance(meta, dict) and not any(k in record for k in ("messages", "conversations", "prompt")):
        record = meta  # the JSONL/Parquet readers keep a row's other fields in metadata
    msgs = record.get("messages") or record.get("conversations")
    if isinstance(msgs, list):
        for m in msgs:
            if isinstance(m, dict):
                c = m.get("content", m.get("value"))
                if isinstance(c, str):
                    parts.append(c)
    for key in _CHAT_FIELDS:
        v = record.get(key)
        if isinstance(v, str):
            parts.append(v)
        elif isinstance(v, list):  # chosen/rejected as message lists
            parts += [m["content"] for m in v if isinstance(m, dict) and isinstance(m.get("content"), str)]
    return "\n".join(parts)


def output_root(state_dir: str) -> str | None:
    """The run's output folder, from a state folder ``OUTPUT/.datamill/state/<step>``."""
    meta = os.path.dirname(os.path.dirname(state_dir.rstrip("/")))
    return os.path.dirname(meta) if os.path.basename(meta) == ".datamill" else None


@register("decontaminate")
class Decontaminate(GlobalStep):
    """Tag or drop records that contain n-grams of benchmark test items; report which."""

    #: parameters that name files: a recipe's relative path is relative to the recipe file
    path_params = ("benchmarks_dir", "extra_files", "report_path")

    def __init__(self, benchmarks: list[str] = list(BUILTIN_BENCHMARKS), benchmarks_dir: str | None = None,
                 extra_files: list[str] | None = None, extra_field: str | list[str] = "text",
                 extra_id_field: str | None = None, ngram: int = 13, min_ngram: int = 8,
                 cjk_ngram: int = 25, cjk_min_ngram: int = 12, min_overlap: int = 1,
                 min_fraction: float = 0.0, action: Literal["tag", "drop"] = "drop",
                 language: str | None = None, max_item_frequency: int = 10,
                 missing_field: Literal["error", "skip"] = "error", field: str = "text",
                 report_path: str | None = None):
        unknown = [b for b in benchmarks if b not in BUILTIN_BENCHMARKS]
        if unknown:
            raise ValueError(f"unknown benchmark {unknown[0]!r}: built-in ones are "
                             f"{', '.join(BUILTIN_BENCHMARKS)}; give your own with extra_files")
        if not benchmarks and not extra_files:
            raise ValueError("nothing to decontaminate against: give benchmarks or extra_files")
        if ngram < 1 or cjk_ngram < 1:
            raise ValueError("ngram and cjk_ngram must be >= 1")
        if not 1 <= min_ngram <= ngram or not 1 <= cjk_min_ngram <= cjk_ngram:
            raise ValueError("min_ngram must be in [1, ngram] and cjk_min_ngram in [1, cjk_ngram]")
        if min_overlap < 1:
            raise ValueError("min_overlap must be >= 1")
        if not 0.0 <= min_fraction <= 1.0:
            raise ValueError("min_fraction must be in [0, 1]")
        if action not in ("tag", "drop"):
            raise ValueError(f"action must be 'tag' or 'drop', not {action!r}")
        if missing_field not in ("error", "skip"):
            raise ValueError(f"missing_field must be 'error' or 'skip', not {missing_field!r}")
        if max_item_frequency < 1:
            raise ValueError("max_item_frequency must be >= 1")
        self.benchmarks = list(benchmarks)
        self.benchmarks_dir = benchmarks_dir
        self.extra_files = list(extra_files) if extra_files else None
        self.extra_field = extra_field
        self.extra_id_field = extra_id_field
        self.ngram = ngram
        self.min_ngram = min_ngram
        self.cjk_ngram = cjk_ngram
        self.cjk_min_ngram = cjk_min_ngram
        self.min_overlap = min_overlap
        self.min_fraction = min_fraction
        self.action = action
        self.language = language
        self.max_item_frequency = max_item_frequency
        self.missing_field = missing_field
        self.field = field
        self.report_path = report_path
        self._index: NgramIndex | None = None

    def stages(self) -> list[Stage]:
        return [Stage("index", "single"), Stage("match", "shard"), Stage("report", "single")]

    def run_stage(self, stage: str, index: int, state_dir: str, n_shards: int,
                  records: Iterable[Record] | None = None) -> dict[str, Any] | None:
        if stage == "index":
            return self._build(state_dir)
        if stage == "match":
            return self._match(records if records is not None else (), index, state_dir)
        if stage == "report":
            return self._report(n_shards, state_dir)
        raise ValueError(f"decontaminate has no stage {stage!r}")

    def preflight(self) -> None:
        """Every benchmark folder and file must exist before any record is read."""
        import os as _os

        from datamill.steps.decontam.benchmarks import BenchmarkError

        if self.benchmarks:
            resolve_benchmarks_dir(self.benchmarks_dir)
        for path in self.extra_files or ():
            if "://" not in path and not _os.path.exists(path):
                raise BenchmarkError(f"decontaminate: benchmark file {path} not found")

    # --- stages ------------------------------------------------------------------------
    def build_index(self) -> NgramIndex:
        return build_index(self.benchmarks, benchmarks_dir=self.benchmarks_dir, extra_files=self.extra_files,
                           extra_field=self.extra_field, extra_id_field=self.extra_id_field, n=self.ngram,
                           min_ngram=self.min_ngram, cjk_ngram=self.cjk_ngram,
                           cjk_min_ngram=self.cjk_min_ngram, max_item_frequency=self.max_item_frequency,
                           language=self.language, missing_field=self.missing_field)

    def _build(self, state_dir: str) -> dict[str, Any]:
        idx = self.build_index()
        idx.save(state_dir)
        out: dict[str, Any] = {"index_items": len(idx.items), "index_ngrams": int(len(idx.keys))}
        skipped = sum(b.get("skipped_missing_field", 0) for b in idx.stats["benchmarks"].values())
        if skipped:
            out["benchmark_rows_skipped_missing_field"] = skipped
        return out

    def _loaded(self, state_dir: str) -> NgramIndex:
        if self._index is None or getattr(self, "_index_dir", None) != state_dir:
            self._index = NgramIndex.load(state_dir)
            self._index_dir = state_dir
        return self._index

    def matches(self, record: Record, index: NgramIndex) -> list[dict[str, Any]]:
        text = record_text(record, self.field)
        return [m.to_dict() for m in index.matches(text, self.min_overlap, self.min_fraction)]

    def _match(self, records: Iterable[Record], shard: int, state_dir: str) -> dict[str, Any]:
        idx = self._loaded(state_dir)
        lines = []
        n = hit = 0
        for pos, record in enumerate(records):
            n += 1
            found = self.matches(record, idx)
            if found:
                hit += 1
                rid = record.get("id")
                lines.append(json.dumps({"pos": pos, "id": str(rid) if rid is not None else f"{shard}:{pos}",
                                         "hits": found}))  # ASCII: ids with lone surrogates survive
        StateStore(state_dir).write_bytes(f"hits-{shard:05d}.jsonl",
                                          ("\n".join(lines) + ("\n" if lines else "")).encode("ascii"))
        return {"records_scanned": n, "records_contaminated": hit}

    def _hits(self, state_dir: str, shard: int) -> list[dict[str, Any]]:
        data = StateStore(state_dir).read_bytes(f"hits-{shard:05d}.jsonl").decode("ascii")
        return [json.loads(line) for line in data.splitlines() if line.strip()]

    def _report(self, n_shards: int, state_dir: str) -> dict[str, Any]:
        idx = self._loaded(state_dir)
        per: dict[str, dict[str, Any]] = {}
        for b, s in idx.stats["benchmarks"].items():
            per[b] = {"items": s.get("items", 0),
                      "items_indexed": max(0, s.get("texts", s.get("items", 0)) - s.get("items_too_short", 0)
                                           - s.get("items_only_template_ngrams", 0)),
                      "items_too_short": s.get("items_too_short", 0),
                      "items_indexed_whole": s.get("items_short_whole", 0),
                      "items_hit": 0, "records_hit": 0, "hits": {}}
        n_records = 0
        for shard in range(n_shards):
            for h in self._hits(state_dir, shard):
                n_records += 1
                seen_b = set()
                for m in h["hits"]:
                    b = per.setdefault(m["benchmark"], {"items": 0, "items_indexed": 0, "items_hit": 0,
                                                        "records_hit": 0, "hits": {}})
                    lst = b["hits"].setdefault(m["item"], [])
                    if len(lst) < MAX_RECORDS_PER_ITEM:
                        lst.append({"record": h["id"], "shard": shard, "overlap": m["overlap"],
                                    "fraction": m["fraction"]})
                    if m["benchmark"] not in seen_b:
                        seen_b.add(m["benchmark"])
                        b["records_hit"] += 1
        for b in per.values():
            b["items_hit"] = len(b["hits"])
            b["hits"] = dict(sorted(b["hits"].items(), key=lambda kv: _item_key(kv[0])))
        report = {"step": self.label, "action": self.action, "ngram": self.ngram,
                  "min_ngram": self.min_ngram, "cjk_ngram": self.cjk_ngram, "cjk_min_ngram": self.cjk_min_ngram,
                  "min_overlap": self.min_overlap, "min_fraction": self.min_fraction,
                  "records_contaminated": n_records, "index": idx.stats, "benchmarks": per,
                  "max_records_listed_per_item": MAX_RECORDS_PER_ITEM}
        try:
            data = json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a record id with a lone surrogate: escape everything
            data = json.dumps(report, indent=2).encode("ascii")
        StateStore(state_dir).write_bytes("contamination_report.json", data)
        target = self.report_path
        if target is None:
            root = output_root(state_dir)
            if root is not None:
                suffix = "" if self.label == self.name else "-" + self.label.replace("#", "")
                target = run_report_path(root, f"contamination_report{suffix}.json")
        if target:
            atomic_write_bytes(target, data)
        return {"records_contaminated_total": n_records,
                "items_hit": {b: v["items_hit"] for b, v in per.items()},
                "report": target or os.path.join(state_dir, "contamination_report.json")}

    # --- apply -------------------------------------------------------------------------
    def decide_shard(self, records: Iterable[Record], shard: int, state_dir: str,
                     stats: StepStats) -> Iterable[tuple[Record, str | None]]:
        hits = {h["pos"]: h["hits"] for h in self._hits(state_dir, shard)}
        per_bench = stats.counter("contaminated_by_benchmark")
        for pos, record in enumerate(records):
            found = hits.get(pos)
            signals = record.get("signals")
            if not isinstance(signals, dict):
                signals = record["signals"] = {}
            signals[self.label] = {"contaminated": bool(found), "matches": found or []}
            if found:
                for b in sorted({m["benchmark"] for m in found}):
                    per_bench[b] += 1
                if self.action == "drop":
                    yield record, "contaminated"
                    continue
            yield record, None


def _item_key(item: str) -> tuple:
    parts = item.replace("/", " ").split()
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)
