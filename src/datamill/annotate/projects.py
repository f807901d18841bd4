"""Projects and their items: create a project from a template or a schema, import a dataset.

A dataset is any file :func:`datamill.post.formats.read_records` reads (SFT samples, chats,
preference pairs, KTO rows, ranked response lists; format detected per file) or rows of raw
documents (``{"text": …}``, pretraining JSONL) or bare prompts (``{"prompt": …}``), which become
items of kind ``document`` and ``prompt``. A model score on a row (``score``/``prob``/… at the
top, in ``signals`` or in ``metadata``, or the path given as ``score_field``) orders the queue
by uncertainty.
"""

from __future__ import annotations

import os
import secrets
from typing import Any, Iterable

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from datamill.annotate.db import Item, Project, User, log_event
from datamill.annotate.questions import build_view, score_and_uncertainty, validate_schema
from datamill.annotate.templates_catalog import get_template
from datamill.annotate.text_safety import clean_deep, find_surrogate
from datamill.core.errors import DatamillError

MAX_ITEMS_PER_IMPORT = 200_000
MAX_ROW_CHARS = 1_000_000


def create_project(db: Session, name: str, *, template: str | None = None, schema: dict | None = None,
                   overlap: int = 1, review_rounds: int = 1, lock_seconds: int = 1800,
                   active_learning: bool = True, description: str = "", created_by: User | None = None,
                   labels: list[str] | None = None, criteria: list[str] | None = None,
                   scale: list[int] | None = None) -> Project:
    """A new project (flushed). ``schema`` (a question schema) wins over ``template``."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise DatamillError("project name: 1-200 characters")
    name = name.strip()
    if not isinstance(overlap, int) or not 1 <= overlap <= 50:
        raise DatamillError("overlap: 1 to 50 annotators per task")
    if not isinstance(review_rounds, int) or not 0 <= review_rounds <= 20:
        raise DatamillError("review rounds: 0 (no review) to 20")
    if not isinstance(lock_seconds, int) or not 30 <= lock_seconds <= 7 * 86400:
        raise DatamillError("lock: 30 seconds to 7 days")
    if not isinstance(description, str) or len(description) > 20_000:
        raise DatamillError("description: at most 20000 characters")
    if schema is not None:
        qs = validate_schema(schema)
        tname = template or "custom"
    else:
        tname = template or "rate_and_rank"
        qs = get_template(tname, labels=labels, criteria=criteria, scale=scale)
    if db.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise DatamillError(f"project {name!r} exists already")
    p = Project(name=name, description=description, template=tname, question_schema=qs, overlap=overlap,
                review_rounds=review_rounds, lock_seconds=lock_seconds, active_learning=bool(active_learning),
                created_by=created_by.id if created_by else None)
    db.add(p)
    db.flush()
    log_event(db, "create_project", user_id=created_by.id if created_by else None, project_id=p.id, name=name)
    return p


def _raw_item(row: Any, where: str) -> dict[str, Any] | None:
    if not isinstance(row, dict):
        return None
    rid = str(row.get("id") or where)
    text = row.get("text")
    if isinstance(text, str) and text.strip():
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        out = {"id": rid, "kind": "document", "text": text, "metadata": meta}
        for k in ("signals", "score", "uncertainty"):
            if k in row:
                out[k] = row[k]
        return out
    prompt = row.get("prompt") or row.get("instruction") or row.get("question")
    if isinstance(prompt, str) and prompt.strip():
        meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        out = {"id": rid, "kind": "prompt", "messages": [{"role": "user", "content": prompt}], "metadata": meta}
        for k in ("signals", "score", "uncertainty"):
            if k in row:
                out[k] = row[k]
        return out
    return None


class OutsideDataRoot(DatamillError):
    """A server-side path (or a file a folder or link leads to) outside the app's data roots:
    HTTP 403."""


def inside_roots(path: str, roots: list[str]) -> str:
    """``path`` fully resolved (every symbolic link followed); :class:`OutsideDataRoot` unless it
    lies under one of ``roots`` (resolved folders)."""
    real = os.path.realpath(path)
    for r in roots:
        r = os.path.realpath(r)
        if real == r or real.startswith(r.rstrip(os.sep) + os.sep):
            return real
    raise OutsideDataRoot("server-side paths must lie under the app's data roots")


KNOWN_EXTRA_FORMATS = ("auto", "documents", "prompts")


def check_format(fmt: str | None) -> None:
    """:class:`DatamillError` for a dataset format no reader knows (``None`` = detect)."""
    from datamill.post.formats import FORMATS

    if fmt is not None and fmt not in FORMATS and fmt not in KNOWN_EXTRA_FORMATS:
        raise DatamillError(f"format {fmt!r}: choose one of {', '.join(sorted(FORMATS) + list(KNOWN_EXTRA_FORMATS))}")


def load_dataset(path: str, fmt: str | None = None, *, limit: int | None = None,
                 roots: list[str] | None = None) -> tuple[list[dict], list[str]]:
    """Item records from ``path`` and the reasons of rows that could not be read (at most 20
    reasons kept). Post-training rows first; files that hold none are read as documents or
    prompts. ``roots``: when given, ``path`` and every file read (after following links) must
    lie under one of them (:class:`OutsideDataRoot` otherwise)."""
    from datamill.post.formats import iter_rows, read_records
    from datamill.post.formats.io import _files  # one file list for both paths

    check_format(fmt)
    if roots is not None:
        path = inside_roots(path, roots)
    records: list[dict] = []
    problems: list[str] = []
    cap = min(limit or MAX_ITEMS_PER_IMPORT, MAX_ITEMS_PER_IMPORT)
    files = _files(path)
    if roots is not None:  # a link inside the root may lead out of it: check what is opened
        files = [inside_roots(f, roots) for f in files]
    for file in files:
        errors: list = []
        got = 0
        try:
            for rec in read_records(file, fmt, errors=errors):
                records.append(dict(rec))
                got += 1
                if len(records) >= cap:
                    break
        except DatamillError as exc:
            errors.append(exc)
        if got == 0 and (fmt in (None, "auto", "documents", "prompts")):
            errors = []
            for where, row in iter_rows(file):
                if isinstance(row, Exception):
                    errors.append(row)
                    continue
                item = _raw_item(row, f"{os.path.basename(file)}:{where.get('line', where.get('index'))}")
                if item is None:
                    errors.append(DatamillError(f"{file} {where}: no text, prompt or post-training fields"))
                    continue
                records.append(item)
                if len(records) >= cap:
                    break
        problems.extend(str(e) for e in errors[: max(0, 20 - len(problems))])
        if len(records) >= cap:
            break
    return records, problems


def import_records(db: Session, project: Project, records: Iterable[dict[str, Any]], *,
                   score_field: str | None = None, user: User | None = None,
                   shuffle_secret: str | None = None) -> int:
    """Add ``records`` as items of ``project``; returns how many. Records are datamill post
    records or ``{"id", "kind": "document"|"prompt", …}`` rows. The order responses are shown
    in is shuffled per item with a seed that mixes in ``shuffle_secret`` (default: a new random
    secret, never stored), so an annotator cannot recompute which response was ``chosen`` from
    the ids they see; the order is stored with the item and stays the same for everyone."""
    secret = shuffle_secret if shuffle_secret is not None else secrets.token_hex(16)
    start = db.scalar(select(func.coalesce(func.max(Item.position), -1)).where(Item.project_id == project.id)) + 1
    n = 0
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DatamillError(f"record {i}: expected an object")
        if find_surrogate(rec):  # a lone surrogate cannot be shown or exported: U+FFFD instead
            rec = clean_deep(rec)
        if "kind" not in rec:
            raw = _raw_item(rec, f"row{i}")
            if raw is None:
                raise DatamillError(f"record {i}: no kind, text or prompt")
            rec = raw
        if rec.get("kind") not in ("sft", "preference", "kto", "ranking", "document", "prompt"):
            raise DatamillError(f"record {i}: unknown kind {rec.get('kind')!r}")
        ext = str(rec.get("id") or f"{project.id}-{start + i}")[:500]
        view = build_view(rec, f"{secret}:{project.id}:{ext}")
        score, unc = score_and_uncertainty(rec, score_field)
        rows.append({"project_id": project.id, "external_id": ext, "position": start + i, "record": rec,
                     "view": view, "score": score, "uncertainty": unc, "taken": 0})
        n += 1
        if n > MAX_ITEMS_PER_IMPORT:
            raise DatamillError(f"at most {MAX_ITEMS_PER_IMPORT} items per import")
        if len(rows) >= 1000:
            db.execute(insert(Item), rows)
            rows = []
    if rows:
        db.execute(insert(Item), rows)
    db.flush()
    log_event(db, "import", user_id=user.id if user else None, project_id=project.id, items=n)
    return n
