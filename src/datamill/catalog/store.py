"""The catalog: named datasets, each a Delta Lake table whose versions are immutable.

Layout under the root (a local folder or any fsspec/object-store URI)::

    ROOT/NAME/_delta_log/…          the Delta log: one JSON commit per version, lineage inside
    ROOT/NAME/part-….parquet        the records (zstd Parquet), shared by the versions that hold them
    ROOT/NAME/_datamill_tags/T.json a tag: {"version": V, "who": …, "when": …}

A commit writes the data files first and then the log entry; a version exists only once its
log entry does, so a killed commit leaves unreferenced files and no version. Two writers
committing to one name at once go through Delta's optimistic concurrency: both versions land,
one after the other, or the loser fails with a clear error when retries run out.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import fsspec
import orjson

from datamill.catalog import lineage as lin
from datamill.catalog.loading import inspect_source, load_table
from datamill.catalog.refs import Ref, check_name, check_tag, is_catalog_uri, parse_ref
from datamill.core.errors import DatamillError

DEFAULT_ROOT = "./datamill-catalog"
ENV_ROOT = "DATAMILL_CATALOG"
META_KEY = "datamill"
COMMIT_RETRIES = 10
ROW_GROUP = None  # delta-rs default row groups; 100k-row groups made commits ~50% slower (measured)


def default_root() -> str:
    return os.environ.get(ENV_ROOT) or DEFAULT_ROOT


@dataclass
class Version:
    """One version of a dataset, as the log tells it."""

    name: str
    version: int
    timestamp: datetime
    operation: str
    lineage: dict[str, Any]
    rows: int | None
    tags: list[str]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class Catalog:
    def __init__(self, root: str | None = None, storage_options: dict[str, str] | None = None,
                 target_file_size: int | None = None):
        self.root = (root or default_root()).rstrip("/")
        self.storage_options = storage_options
        self.target_file_size = target_file_size  # bytes per Parquet file (Delta's default: ~100 MB)
        self.fs, self._root_path = fsspec.core.url_to_fs(self.root)

    # -- paths ---------------------------------------------------------------------------------
    def table_uri(self, name: str) -> str:
        check_name(name)
        if "://" in self.root:
            return f"{self.root}/{name}"
        return os.path.abspath(os.path.join(self.root, name))

    def _tag_dir(self, name: str) -> str:
        return f"{self._root_path}/{name}/_datamill_tags"

    def exists(self, name: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.table_uri(name), storage_options=self.storage_options)

    def names(self) -> list[str]:
        if not self.fs.exists(self._root_path):
            return []
        out = []
        for p in self.fs.ls(self._root_path, detail=False):
            name = os.path.basename(p.rstrip("/"))
            if not name.startswith((".", "_")) and self.fs.exists(f"{p.rstrip('/')}/_delta_log"):
                out.append(name)
        return sorted(out)

    def check_writable(self) -> None:
        probe = f"{self._root_path}/.write-probe-{uuid.uuid4().hex[:8]}"
        try:
            self.fs.makedirs(self._root_path, exist_ok=True)
            with self.fs.open(probe, "wb") as fh:
                fh.write(b"ok")
            self.fs.rm(probe)
        except OSError as exc:
            raise DatamillError(f"catalog root {self.root!r} is not writable: {exc.strerror or exc}") from None

    # -- reading -------------------------------------------------------------------------------
    def _table(self, name: str, version: int | None = None):
        from deltalake import DeltaTable

        if not self.exists(name):
            known = ", ".join(self.names()) or "none yet"
            raise DatamillError(f"dataset {name!r} is not in the catalog at {self.root} (datasets: {known})")
        dt = DeltaTable(self.table_uri(name), storage_options=self.storage_options)
        if version is not None and version != dt.version():
            latest = dt.version()
            if not 0 <= version <= latest:
                raise DatamillError(f"{name}@{version}: no such version (versions 0..{latest})")
            dt.load_as_version(version)
        return dt

    def resolve(self, ref: str | Ref) -> tuple[str, int]:
        """(name, version number) of a reference by number, tag, timestamp or latest."""
        if not isinstance(ref, Ref):
            ref = parse_ref(ref)
        dt = self._table(ref.name)
        latest = dt.version()
        at = ref.at
        if at is None:
            return ref.name, latest
        if isinstance(at, int):
            if not 0 <= at <= latest:
                raise DatamillError(f"{ref.name}@{at}: no such version (versions 0..{latest})")
            return ref.name, at
        if isinstance(at, datetime):
            best = None
            for entry in dt.history():
                when = datetime.fromtimestamp(entry["timestamp"] / 1000, timezone.utc)
                if when <= at and (best is None or entry["version"] > best):
                    best = entry["version"]
            if best is None:
                raise DatamillError(f"{ref}: the dataset has no version as old as {at.isoformat()}")
            return ref.name, best
        tags = self.tags(ref.name)
        if at not in tags:
            raise DatamillError(f"{ref.name}@{at}: no such tag (tags: {', '.join(sorted(tags)) or 'none'})")
        return ref.name, tags[at]

    def table(self, ref: str | Ref):
        """The ``deltalake.DeltaTable`` of a version (``to_pyarrow_dataset()`` for DuckDB/Polars)."""
        name, version = self.resolve(ref)
        return self._table(name, version)

    def dataset(self, ref: str | Ref):
        """A ``pyarrow.dataset.Dataset`` of a version: DuckDB, Polars, Ray and HF datasets read it."""
        return self.table(ref).to_pyarrow_dataset()

    def files(self, ref: str | Ref) -> list[str]:
        """The Parquet files that make up a version."""
        return sorted(self.table(ref).file_uris())

    def history(self, name: str) -> list[Version]:
        dt = self._table(name)
        tags_by_version: dict[int, list[str]] = {}
        for tag, v in self.tags(name).items():
            tags_by_version.setdefault(v, []).append(tag)
        out = []
        for entry in dt.history():
            raw = entry.get(META_KEY)
            doc = orjson.loads(raw) if isinstance(raw, str) else {}
            metrics = entry.get("operationMetrics") or {}
            rows = doc.get("records", metrics.get("num_added_rows"))
            out.append(Version(name, int(entry["version"]),
                               datetime.fromtimestamp(entry["timestamp"] / 1000, timezone.utc),
                               entry.get("operation", "?"), doc, rows, sorted(tags_by_version.get(entry["version"], []))))
        return sorted(out, key=lambda v: v.version, reverse=True)

    def version(self, ref: str | Ref) -> Version:
        name, number = self.resolve(ref)
        for v in self.history(name):
            if v.version == number:
                return v
        raise DatamillError(f"{name}@{number}: no such version")

    def lineage(self, ref: str | Ref) -> dict[str, Any]:
        return self.version(ref).lineage

    def ref_of(self, spec: str) -> str | None:
        """``NAME@V`` for a catalog URI or for a file inside a catalog table, else None."""
        if is_catalog_uri(spec):
            name, version = self.resolve(spec)
            return f"{name}@{version}"
        path = os.path.abspath(spec) if "://" not in spec else spec
        base = self.table_uri("x")[:-1]
        if not path.startswith(base):
            return None
        name = path[len(base):].split("/", 1)[0]
        if not name or not self.exists(name):
            return None
        dt = self._table(name)
        for v in range(dt.version(), max(-1, dt.version() - 100), -1):
            dt.load_as_version(v)
            if path in {os.path.abspath(u) if "://" not in u else u for u in dt.file_uris()}:
                return f"{name}@{v}"
        return f"{name}@?"

    # -- tags ----------------------------------------------------------------------------------
    def tags(self, name: str) -> dict[str, int]:
        d = self._tag_dir(name)
        if not self.fs.exists(d):
            return {}
        out = {}
        for p in self.fs.ls(d, detail=False):
            base = os.path.basename(p)
            if base.endswith(".json") and not base.startswith("."):
                with self.fs.open(p, "rb") as fh:
                    out[base[:-5]] = int(orjson.loads(fh.read())["version"])
        return out

    def tag(self, ref: str | Ref, tag: str, *, force: bool = False) -> tuple[str, int]:
        check_tag(tag)
        name, version = self.resolve(ref)
        existing = self.tags(name)
        if tag in existing and existing[tag] != version and not force:
            raise DatamillError(f"tag {tag!r} already names {name}@{existing[tag]} (pass --force to move it)")
        from datamill.io.atomic import atomic_write_bytes

        doc = {"version": version, "who": lin.who(), "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        atomic_write_bytes(self.fs.unstrip_protocol(f"{self._tag_dir(name)}/{tag}.json"), orjson.dumps(doc))
        return name, version

    # -- writing -------------------------------------------------------------------------------
    def add(self, name: str, path: str, *, recipe: str | None = None, inputs: Iterable[str] | None = None,
            message: str | None = None, progress: bool = False, extra: dict[str, Any] | None = None,
            accumulate: bool = False) -> Version:
        """Commit the records at ``path`` (a run's output folder, or JSONL/JSON/Parquet files) as
        the next version of ``name``, with their lineage. Returns the new version.

        ``accumulate``: the new version holds the latest version's records plus these (a record
        whose id is in both is replaced by the new one); the latest version becomes an input."""
        check_name(name)
        self.check_writable()
        source = inspect_source(path)
        table, json_columns = load_table(source, progress=progress)
        if inputs is None:
            inputs = (source.stats or {}).get("inputs") or (source.run or {}).get("inputs") or []
        entries = lin.input_entries(list(inputs), self.ref_of) if source.kind == "pipeline-output" or inputs else []
        if source.kind == "files" and not entries:
            entries = lin.input_entries(source.files, self.ref_of)
        added = table.num_rows
        if accumulate and self.exists(name):
            table, previous = self._accumulate(name, table)
            entries.insert(0, {"catalog": previous})
        doc = lin.build_lineage(source=path, kind=source.kind, records=table.num_rows, inputs=entries,
                                recipe=lin.recipe_entry(recipe, source.run), stats=source.stats,
                                message=message, extra=dict(extra or {}, json_columns=json_columns or None,
                                                            accumulated=added if accumulate else None))
        return self.commit_table(name, table, doc)

    def _accumulate(self, name: str, table):
        import pyarrow as pa
        import pyarrow.compute as pc

        version = self.history(name)[0]
        prev = self.dataset(version.ref).to_table()
        if prev.num_rows:
            keep = pc.invert(pc.is_in(prev.column("id"), value_set=table.column("id")))
            table = pa.concat_tables([prev.filter(keep), table], promote_options="permissive")
        return table, version.ref

    def commit_table(self, name: str, table, doc: dict[str, Any]) -> Version:
        """Write ``table`` as the next version of ``name`` with lineage ``doc`` in the commit."""
        from deltalake import CommitProperties, WriterProperties, write_deltalake
        from deltalake.exceptions import CommitFailedError

        uri = self.table_uri(name)
        self.check_writable()
        doc = dict(doc, commit_id=uuid.uuid4().hex)
        props = CommitProperties(custom_metadata={META_KEY: lin.dumps(doc)}, max_commit_retries=COMMIT_RETRIES)
        try:
            write_deltalake(uri, table, mode="overwrite", schema_mode="overwrite",
                            writer_properties=WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP),
                            target_file_size=self.target_file_size,
                            commit_properties=props, storage_options=self.storage_options)
        except CommitFailedError as exc:
            raise DatamillError(f"{name}: another writer committed at the same time and retries ran out "
                                f"({exc}); nothing was committed, run the command again") from None
        except OSError as exc:
            raise DatamillError(f"catalog root {self.root!r}: cannot write {name}: {exc}") from None
        return self._find_commit(name, doc)

    def _find_commit(self, name: str, doc: dict[str, Any]) -> Version:
        """Our version: the commit carrying our commit id (another writer may be newer)."""
        for v in self.history(name):
            if v.lineage.get("commit_id") == doc["commit_id"]:
                return v
        raise DatamillError(f"{name}: the commit went through but its log entry was not found")
