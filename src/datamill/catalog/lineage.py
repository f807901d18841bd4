"""Lineage of a version: the recipe (text and hash), every input (path and content hash, or
``NAME@V`` when it came from the catalog), the datamill version and git commit, the run's
stats, who and when. It is stored as JSON in the Delta commit's metadata."""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import subprocess
from datetime import datetime, timezone
from typing import Any, Callable

import fsspec
import orjson
import xxhash

import datamill
from datamill.io.formats import discover

HASH = "xxh3_128"


def file_hash(path: str, chunk: int = 1 << 22) -> str:
    h = xxhash.xxh3_128()
    with fsspec.open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def git_commit() -> str | None:
    """The git commit of the datamill code that runs (None outside a git checkout)."""
    here = os.path.dirname(os.path.abspath(datamill.__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def recipe_entry(recipe_path: str | None = None, run: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The recipe's text and sha256; without the file, the run plan's steps stand in for it."""
    if recipe_path:
        with fsspec.open(recipe_path, "rb") as fh:
            data = fh.read()
        return {"path": os.path.abspath(recipe_path) if "://" not in recipe_path else recipe_path,
                "text": data.decode("utf-8", "replace"), "sha256": hashlib.sha256(data).hexdigest()}
    if run and run.get("steps") is not None:
        import yaml

        text = yaml.safe_dump({"name": run.get("name"), "steps": [{s["step"]: s["params"]} for s in run["steps"]]},
                              sort_keys=False, allow_unicode=True)
        return {"path": None, "text": text, "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "note": "rebuilt from the run plan (.datamill/run.json); the recipe file was not given"}
    return None


def input_entries(inputs: list[str], catalog_ref: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """Every input: ``{"catalog": "NAME@V"}`` for catalog inputs, else each file with its hash.

    ``catalog_ref(spec_or_path)`` names the catalog version a spec or file belongs to, if any."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for spec in inputs:
        ref = catalog_ref(spec)
        if ref:
            if ref not in seen:
                seen.add(ref)
                entries.append({"catalog": ref})
            continue
        for shard in discover([spec]):
            if shard.path in seen:
                continue
            seen.add(shard.path)
            ref = catalog_ref(shard.path)
            if ref:
                if ref not in seen:
                    seen.add(ref)
                    entries.append({"catalog": ref})
                continue
            path = os.path.abspath(shard.path) if "://" not in shard.path else shard.path
            entries.append({"path": path, "bytes": shard.size, HASH: file_hash(shard.path)})
    return entries


def build_lineage(*, source: str, kind: str, records: int, inputs: list[dict[str, Any]],
                  recipe: dict[str, Any] | None, stats: dict[str, Any] | None,
                  message: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = {
        "source": {"path": os.path.abspath(source) if "://" not in source else source, "kind": kind},
        "records": records,
        "recipe": recipe,
        "inputs": inputs,
        "datamill_version": datamill.__version__,
        "git_commit": git_commit(),
        "who": who(),
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "message": message,
        "stats": stats,
    }
    if extra:
        doc.update(extra)
    return doc


def dumps(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc, default=str).decode()
