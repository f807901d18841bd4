"""Build the demo / benchmark WARC corpus from the real pages in the shared data folder.

Sources (all real pages, no synthetic text):

* ``html_extraction/scrapinghub_aeb/html/*.html.gz`` (181 pages); the URL comes from
  ``ground-truth.json`` (keyed by file stem), else ``https://aeb.example/<stem>``.
* ``html_extraction/trafilatura_eval/html/{cache,eval}/*.html.gz`` (990 pages); URLs from
  ``evaldata.json`` (``url -> {"file": ...}``).
* the ``response`` records of the real crawl WARCs ``warc/*.warc.gz`` and
  ``warc/cc_whirlwind/whirlwind.warc.gz`` (84 records), copied with their WARC headers and
  HTTP blocks as they are (quirks included: a WARC/0.18 record with an empty
  ``WARC-Identified-Payload-Type``, a clipped payload, ``<...>``-wrapped URIs). Only
  ``Content-Length`` is recomputed. The deliberately broken warcio test files are left out.

Pages are ordered by a hash of their URL (so every output file gets a mix of sources) and dealt
round-robin into ``files`` files ``corpus-00000.warc.gz`` ... ``repeat=N`` writes every page N
times for volume; copy ``r`` (``r >= 1``) gets the URL suffix ``?r=<r>`` (``&r=<r>`` when the URL
already has a query string) and its own record id. Dates and record ids derive from the
content, gzip members have ``mtime=0``: rerunning gives byte-identical files.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from datamill.io.warc_write import WarcWriter, stable_record_id

__all__ = ["build_corpus", "collect_pages", "default_shared_dir", "repeat_url", "require_shared_dir"]

_BASE_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)


def default_shared_dir() -> str:
    """``$DATAMILL_SHARED_DATA``, or ``""`` when it is not set: the data folder is always passed
    in (``--shared PATH`` or the environment); the package never guesses a path beside itself."""
    return os.environ.get("DATAMILL_SHARED_DATA", "")


def require_shared_dir(given: str | None) -> str:
    """``given``, else ``$DATAMILL_SHARED_DATA``; a clear error when neither names a folder
    (the commands that build demo data from the shared folder all check it this way)."""
    from datamill.core.errors import DatamillError

    shared = given or default_shared_dir()
    if not shared:
        raise DatamillError("no shared data folder: pass --shared PATH or set DATAMILL_SHARED_DATA")
    if not os.path.isdir(shared):
        raise DatamillError(f"shared data folder {shared!r} not found (pass --shared PATH)")
    return shared


def repeat_url(url: str, r: int) -> str:
    """URL of repeated copy ``r`` (copy 0 keeps the URL)."""
    if r == 0:
        return url
    wrapped = url.startswith("<") and url.endswith(">")
    core = url[1:-1] if wrapped else url
    core = f"{core}{'&' if '?' in core else '?'}r={r}"
    return f"<{core}>" if wrapped else core


def _content_type(html: bytes) -> str:
    m = _META_CHARSET.search(html[:4096])
    if m:
        return f"text/html; charset={m.group(1).decode('ascii', 'replace').lower()}"
    try:
        html.decode("utf-8")
        return "text/html; charset=utf-8"
    except UnicodeDecodeError:
        return "text/html"


def _date_for(key: str) -> str:
    h = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16)
    return (_BASE_DATE + timedelta(seconds=h % (365 * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Page:
    """A page descriptor; content is read when the page is written (keeps memory small)."""

    __slots__ = ("source", "url", "load")

    def __init__(self, source: str, url: str, load: Callable[[], dict]):
        self.source, self.url, self.load = source, url, load


def _html_file_page(source: str, url: str, path: str) -> _Page:
    def load() -> dict:
        with gzip.open(path, "rb") as fh:
            html = fh.read()
        return {"url": url, "html_bytes": html, "content_type": _content_type(html),
                "date": _date_for(url)}
    return _Page(source, url, load)


def collect_pages(shared_dir: str | os.PathLike) -> list[_Page]:
    """All corpus pages under ``shared_dir`` (the shared ``data`` folder or its parent)."""
    root = Path(shared_dir)
    if (root / "data" / "html_extraction").exists():
        root = root / "data"
    pages: list[_Page] = []

    aeb = root / "html_extraction" / "scrapinghub_aeb"
    truth = {}
    if (aeb / "ground-truth.json").exists():
        truth = json.loads((aeb / "ground-truth.json").read_text("utf-8"))
    for path in sorted(glob.glob(str(aeb / "html" / "*.html.gz"))):
        stem = Path(path).name[: -len(".html.gz")]
        url = (truth.get(stem) or {}).get("url") or f"https://aeb.example/{stem}"
        pages.append(_html_file_page("scrapinghub_aeb", url, path))

    tev = root / "html_extraction" / "trafilatura_eval"
    if (tev / "evaldata.json").exists():
        evald = json.loads((tev / "evaldata.json").read_text("utf-8"))
        for url, entry in sorted(evald.items()):
            for sub in ("eval", "cache"):
                path = tev / "html" / sub / f"{entry['file']}.gz"
                if path.exists():
                    pages.append(_html_file_page("trafilatura_eval", url, str(path)))
                    break

    warcs = sorted(glob.glob(str(root / "warc" / "*.warc.gz")))
    warcs += sorted(glob.glob(str(root / "warc" / "cc_whirlwind" / "whirlwind.warc.gz")))
    for wpath in warcs:
        pages.extend(_warc_pages(wpath))
    return pages


def _warc_pages(path: str) -> list[_Page]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    out = []
    name = Path(path).name
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=False):
            headers = [(k, v) for k, v in rec.headers.items()]
            version = rec.headers.status_line or "WARC/1.1"
            block = rec.reader.read()
            url = rec.headers.get("WARC-Target-URI") or ""
            page = {"url": url, "warc_headers": headers, "warc_version": version,
                    "http_response": block}
            out.append(_Page(f"warc:{name}", url, (lambda p=page: p)))
    return out


def _repeated(page: dict, r: int) -> dict:
    if r == 0:
        return page
    page = dict(page)
    page["url"] = repeat_url(page["url"], r)
    if page.get("warc_headers") is not None:
        old = dict(page["warc_headers"]).get("WARC-Record-ID", "")
        new = []
        for k, v in page["warc_headers"]:
            if k == "WARC-Record-ID":
                v = stable_record_id("repeat", str(r), v)
            elif k == "WARC-Target-URI":
                v = repeat_url(v, r)
            new.append((k, v))
        if not old:
            new.append(("WARC-Record-ID", stable_record_id("repeat", str(r), page["url"])))
        page["warc_headers"] = new
    return page


def build_corpus(shared_dir: str | os.PathLike, out_dir: str | os.PathLike, files: int = 4,
                 repeat: int = 1, *, max_pages: int | None = None,
                 progress: bool = True) -> dict:
    """Write the corpus as ``files`` WARC.gz files in ``out_dir``; return a summary dict.

    ``max_pages`` keeps only the first N pages (in the stable hash order) before repeating,
    for quick tests. Existing ``corpus-*.warc.gz`` files in ``out_dir`` are replaced.
    Summary: ``{"files": number of files, "paths": [their paths], "pages": distinct pages, "records": records written,
    "repeat", "by_source": {source: pages}, "bytes": total size, "seconds"}``.
    """
    if files < 1 or repeat < 1:
        raise ValueError("files and repeat must be >= 1")
    t0 = time.perf_counter()
    pages = collect_pages(shared_dir)
    if not pages:
        raise FileNotFoundError(f"no corpus pages found under {shared_dir}")
    pages.sort(key=lambda p: (hashlib.sha1(p.url.encode("utf-8")).hexdigest(), p.source))
    if max_pages is not None:
        pages = pages[:max_pages]
    by_source: dict[str, int] = {}
    for p in pages:
        by_source[p.source] = by_source.get(p.source, 0) + 1

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("corpus-*.warc.gz"):
        old.unlink()
    nfiles = min(files, len(pages) * repeat)
    paths = [out / f"corpus-{i:05d}.warc.gz" for i in range(nfiles)]
    writers = [WarcWriter(p, info={"description": f"datamill demo corpus, part {i} of {nfiles}",
                                   "date": "2024-01-01T00:00:00Z"})
               for i, p in enumerate(paths)]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(pages) * repeat, unit="page", desc="corpus")
    k = 0
    try:
        for r in range(repeat):
            for page in pages:
                writers[k % nfiles].write_page(_repeated(page.load(), r))
                k += 1
                if bar is not None:
                    bar.update(1)
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    for w in writers:
        w.close()
    return {
        "files": len(paths),
        "paths": [str(p) for p in paths],
        "pages": len(pages),
        "records": k,
        "repeat": repeat,
        "by_source": dict(sorted(by_source.items())),
        "bytes": sum(p.stat().st_size for p in paths),
        "seconds": round(time.perf_counter() - t0, 3),
    }
