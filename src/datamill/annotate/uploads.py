"""Uploaded dataset files: copied from the multipart parser's spool to a temporary file in
chunks (never held whole in memory), read with :func:`datamill.annotate.projects.load_dataset`,
then deleted. The size cap is enforced while the body streams in (``BodyLimit`` in
:mod:`datamill.annotate.app`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from datamill.annotate.projects import load_dataset

CHUNK = 1 << 20


def safe_name(filename: str | None, default: str = "upload.jsonl") -> str:
    """A file name to save under: the upload's last 40 characters of letters, digits and ``._-``
    (the suffix says the format)."""
    base = os.path.basename(filename or "")[-40:]
    return "".join(c for c in base if c.isalnum() or c in "._-") or default


def has_file(upload: Any) -> bool:
    return upload is not None and hasattr(upload, "file") and bool(getattr(upload, "filename", None))


def load_upload(upload: Any, fmt: str | None) -> tuple[list[dict], list[str]]:
    """Records and problems of an uploaded file (a Starlette ``UploadFile``); problems name the
    upload, not the temporary folder."""
    with tempfile.TemporaryDirectory(prefix="dm-upload-") as tmp:
        path = os.path.join(tmp, safe_name(upload.filename))
        upload.file.seek(0)
        with open(path, "wb") as fh:
            shutil.copyfileobj(upload.file, fh, CHUNK)
        records, problems = load_dataset(path, fmt)
        return records, [x.replace(tmp + os.sep, "") for x in problems]
