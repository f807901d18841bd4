"""The lineage graph of a version: the versions and raw files it came from, followed through
the catalog down to the raw inputs. Printed as a tree; the report draws it as an image."""

from __future__ import annotations

from typing import Any

from datamill.catalog.store import Catalog
from datamill.core.errors import DatamillError


def lineage_graph(catalog: Catalog, ref: str, max_depth: int = 20) -> dict[str, Any]:
    """``{"nodes": {id: {...}}, "edges": [(child, parent)], "root": id}``; a node is a version
    (``NAME@V``) or a file (its path)."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[tuple[str, str]] = []

    def visit(vref: str, depth: int) -> str:
        try:
            v = catalog.version(vref)
        except DatamillError as exc:
            nodes.setdefault(vref, {"kind": "missing", "label": vref, "error": str(exc)})
            return vref
        key = v.ref
        if key in nodes:
            return key
        doc = v.lineage
        recipe = doc.get("recipe") or {}
        nodes[key] = {"kind": "version", "label": key, "records": v.rows, "when": v.timestamp.isoformat(timespec="seconds"),
                      "who": doc.get("who"), "recipe_sha256": recipe.get("sha256"),
                      "pipeline": (doc.get("stats") or {}).get("pipeline"), "tags": v.tags}
        if depth >= max_depth:
            return key
        for entry in doc.get("inputs") or []:
            if "catalog" in entry:
                parent = visit(entry["catalog"], depth + 1)
            else:
                parent = entry["path"]
                nodes.setdefault(parent, {"kind": "file", "label": parent, "bytes": entry.get("bytes"),
                                          "hash": entry.get("xxh3_128")})
            edges.append((key, parent))
        return key

    root = visit(catalog.version(ref).ref, 0)  # a root that does not exist is an error, not a node
    return {"root": root, "nodes": nodes, "edges": edges}


def format_lineage(graph: dict[str, Any], max_files: int = 20) -> str:
    nodes, edges = graph["nodes"], graph["edges"]
    parents: dict[str, list[str]] = {}
    for child, parent in edges:
        parents.setdefault(child, []).append(parent)
    lines: list[str] = []

    def describe(key: str) -> str:
        n = nodes[key]
        if n["kind"] == "version":
            bits = [f"{n['records']:,} records" if isinstance(n.get("records"), int) else None,
                    f"pipeline {n['pipeline']}" if n.get("pipeline") else None,
                    f"recipe sha256 {n['recipe_sha256'][:12]}" if n.get("recipe_sha256") else None,
                    n.get("when"), n.get("who"), ("tags " + ",".join(n["tags"])) if n.get("tags") else None]
            return f"{key}  ({'; '.join(b for b in bits if b)})"
        if n["kind"] == "file":
            size = f"{n['bytes']:,} B" if isinstance(n.get("bytes"), int) else "?"
            return f"{key}  ({size}, xxh3_128 {n.get('hash') or '?'})"
        return f"{key}  (missing: {n.get('error')})"

    def walk(key: str, prefix: str, last: bool, top: bool) -> None:
        lines.append(describe(key) if top else f"{prefix}{'└── ' if last else '├── '}{describe(key)}")
        kids = parents.get(key, [])
        files = [k for k in kids if nodes[k]["kind"] == "file"]
        shown = [k for k in kids if nodes[k]["kind"] != "file"] + files[:max_files]
        child_prefix = "" if top else prefix + ("    " if last else "│   ")
        for i, kid in enumerate(shown):
            walk(kid, child_prefix, i == len(shown) - 1 and len(files) <= max_files, False)
        if len(files) > max_files:
            lines.append(f"{child_prefix}└── … {len(files) - max_files} more files")

    walk(graph["root"], "", True, True)
    return "\n".join(lines)
