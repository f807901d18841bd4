"""``url_blocklist``: drop records whose URL is on a block list.

Three checks on ``record["metadata"]["url"]``, cheapest decisive first:

* ``url_blocked_url`` — the exact URL is listed. URLs are compared after normalisation: the
  scheme and ``#fragment`` are ignored, the host is lower-cased, a default port (80/443) and a
  trailing dot on the host are dropped, an empty path is ``/``. Path and query stay
  case-sensitive.
* ``url_blocked_domain`` — the host or any parent domain is listed: ``example.com`` blocks
  ``example.com``, ``www.example.com`` and ``a.b.example.com`` but not ``badexample.com``.
  ``www.`` is not stripped from list entries (``www.example.com`` does not block
  ``example.com``). A bare TLD entry (``xxx``) blocks the whole TLD. No public-suffix list is
  needed for this, so the step works offline.
* ``url_banned_subword`` — one of ``banned_subwords`` occurs anywhere in the lower-cased URL
  (as datatrove's URLFilter does with its banned subwords).

Records without a URL pass. List files are read through fsspec (``s3://``, ``.gz`` …): one
entry a line, ``#`` starts a comment, blank lines are skipped; a domain line may also be a
full URL, whose host is then taken.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from datamill.core.record import Record
from datamill.core.step import Filter, register


_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _read_list(path: str) -> list[str]:
    import fsspec

    out = []
    with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def _idna(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _split(url: str):
    url = url.strip()
    if not _HAS_SCHEME.match(url) and not url.startswith("//"):
        url = "//" + url  # "example.com/path": make urlsplit see a host
    return urlsplit(url)


def url_host(url: str) -> str | None:
    """Lower-cased host of ``url`` (no port, no user info, no trailing dot), or None."""
    try:
        host = _split(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return _idna(host.rstrip("."))


def normalize_domain(entry: str) -> str:
    """A block-list domain entry as the host form used for matching."""
    entry = entry.strip().lower()
    if "/" in entry or ":" in entry:
        host = url_host(entry)
        if host:
            return host
    entry = entry.lstrip("*").strip(".")
    return _idna(entry)


def normalize_url(url: str) -> str | None:
    """Scheme-less, fragment-less key of ``url`` for exact matching."""
    try:
        parts = _split(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = _idna(host.rstrip("."))
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path or "/"
    key = host + path
    if parts.query:
        key += "?" + parts.query
    return key


@register("url_blocklist")
class URLBlocklist(Filter):
    """Drop records whose ``metadata.url`` is blocked by domain, exact URL or subword.

    Args:
        domains: blocked domains (parents block their subdomains).
        domains_file: fsspec path of a domain list, one a line, ``#`` comments.
        urls: blocked exact URLs.
        urls_file: fsspec path of a URL list, one a line, ``#`` comments.
        banned_subwords: strings that block a URL wherever they occur in it (case-insensitive).
        banned_subwords_file: fsspec path of such strings, one a line (e.g. datatrove's
            ``banned_subwords.txt`` of adult-site words).
        nsfw_domains_file: fsspec path of an adult/NSFW domain list (e.g. UT1's ``adult`` list,
            as FineWeb used): its domains are dropped with their own reason,
            ``url_nsfw_domain``, so the summary counts NSFW pages apart from other blocks.
    """

    def __init__(self, domains: list[str] | None = None, domains_file: str | None = None,
                 urls: list[str] | None = None, urls_file: str | None = None,
                 banned_subwords: list[str] | None = None, banned_subwords_file: str | None = None,
                 nsfw_domains_file: str | None = None) -> None:
        super().__init__()
        self.domains = list(domains or [])
        self.domains_file = domains_file
        self.urls = list(urls or [])
        self.urls_file = urls_file
        self.banned_subwords = [w for w in (banned_subwords or []) if w]
        self.banned_subwords_file = banned_subwords_file
        self.nsfw_domains_file = nsfw_domains_file
        self._ready = False

    def setup(self) -> None:
        domains = list(self.domains)
        if self.domains_file:
            domains += _read_list(self.domains_file)
        urls = list(self.urls)
        if self.urls_file:
            urls += _read_list(self.urls_file)
        self._domain_set = frozenset(d for d in map(normalize_domain, domains) if d)
        self._url_set = frozenset(u for u in map(normalize_url, urls) if u)
        self._nsfw_set = frozenset(d for d in map(normalize_domain, _read_list(self.nsfw_domains_file)) if d) \
            if self.nsfw_domains_file else frozenset()
        subwords = list(self.banned_subwords)
        if self.banned_subwords_file:
            subwords += _read_list(self.banned_subwords_file)
        words = sorted({w.lower() for w in subwords}, key=len, reverse=True)
        self._subword_re = re.compile("|".join(map(re.escape, words))) if words else None

    def _blocked_domain(self, host: str, domains: frozenset[str] | None = None) -> bool:
        domains = self._domain_set if domains is None else domains
        if host in domains:
            return True
        i = host.find(".")
        while i != -1:
            if host[i + 1:] in domains:
                return True
            i = host.find(".", i + 1)
        return False

    def keep(self, record: Record) -> None | str:
        if not self._ready:
            self.ensure_setup()
        meta = record.get("metadata")
        url = meta.get("url") if meta else None
        if not url:
            return None
        if self._url_set:
            key = normalize_url(url)
            if key is not None and key in self._url_set:
                return "url_blocked_url"
        if self._domain_set or self._nsfw_set:
            host = url_host(url)
            if host and self._domain_set and self._blocked_domain(host):
                return "url_blocked_domain"
            if host and self._nsfw_set and self._blocked_domain(host, self._nsfw_set):
                return "url_nsfw_domain"
        if self._subword_re is not None and self._subword_re.search(url.lower()):
            return "url_banned_subword"
        return None
