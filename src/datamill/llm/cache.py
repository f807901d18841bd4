"""On-disk reply cache: a killed or repeated run makes no call twice.

One small JSON file per request under ``DIR/ab/abcdef….json``, keyed by the SHA-256 of the
canonical JSON of (base_url, endpoint path, model, messages or prompt, every sampling parameter,
seed). Files are written under a temporary name and renamed, so several worker processes (or
Ray tasks on one machine) share a cache safely and a kill never leaves half a reply. What is
stored is the request as sent (without headers: the API key is never part of it) and the
server's JSON reply.

Why files and not SQLite: concurrent writers from many processes need no locking, a cache can
be copied or pruned with ordinary tools, and each entry is written exactly once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Any

import orjson


def cache_key(base_url: str, path: str, body: dict[str, Any]) -> str:
    doc = {"base_url": base_url.rstrip("/"), "path": path, "body": body}
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ReplyCache:
    def __init__(self, directory: str):
        self.directory = directory

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key + ".json")

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            with open(self._path(key), "rb") as fh:
                return orjson.loads(fh.read())["reply"]
        except FileNotFoundError:
            return None
        except (orjson.JSONDecodeError, KeyError, OSError):
            return None  # an unreadable entry is a miss; it is rewritten on success

    def put(self, key: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps({"request": request, "reply": reply}))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def __len__(self) -> int:
        n = 0
        for _root, _dirs, files in os.walk(self.directory):
            n += sum(1 for f in files if f.endswith(".json") and not f.startswith(".tmp-"))
        return n
