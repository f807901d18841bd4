"""The dataset catalog: versioned datasets on Delta Lake, with lineage, tags and time travel.

    from datamill.catalog import Catalog
    cat = Catalog("./datamill-catalog")
    v = cat.add("web-en", "out/", recipe="recipes/fineweb.yaml", inputs=["crawl/"])
    cat.dataset("web-en@0")          # pyarrow dataset: duckdb.from_arrow(...), polars.scan_pyarrow_dataset(...)

Importing this package makes ``catalog://NAME@V`` usable wherever an input path is taken.
"""

from __future__ import annotations

from datamill.catalog.refs import SCHEME, Ref, parse_ref
from datamill.catalog.store import Catalog, Version, default_root
from datamill.io.formats import register_uri_resolver


def _resolve_uri(uri: str) -> list[str]:
    """``catalog://NAME@V`` -> the Parquet files of that version (root: $DATAMILL_CATALOG)."""
    return Catalog().files(uri)


register_uri_resolver(SCHEME, _resolve_uri)

__all__ = ["Catalog", "Version", "Ref", "parse_ref", "default_root"]
