"""``pii_redact``: replace e-mail addresses and public IP addresses in the text.

Detection is regex-first with a validator on every match (datatrove's PIIFormatter does the
same): an IP candidate must parse with :mod:`ipaddress` and be publicly routable — private,
loopback, link-local, shared (100.64/10), documentation, multicast and reserved ranges are left
alone, because they identify nobody. A dotted quad right after "version", "build", "release" …
is taken as a version number. IPv6 candidates must also lie in the global unicast block
2000::/3, which keeps hex-and-colon strings from code (``dead::beef``) out.

Defaults replace with *non-routable* placeholders — ``email@example.com`` (RFC 2606) and the
RFC 5737 / RFC 3849 documentation addresses — so the output contains no real address and a
second pass over redacted text changes nothing. The placeholder for an IP is chosen by a hash
of the address, so one address maps to one placeholder everywhere, on every worker and rerun.
Pass ``email_replacement="<EMAIL>"``, ``ip_replacements=["<IP_ADDRESS>"]`` and
``ipv6_replacement="<IP_ADDRESS>"`` for token-style masking.

Counts go into ``signals[<step label>]`` as ``{"emails": n, "ips": n}`` for every record (so
outputs share one schema): ``signals["pii_redact"]`` by default. ``pii_signals`` is the tagger
alone: it counts without changing the text.
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from typing import NamedTuple

from datamill.core.record import Record
from datamill.core.step import Tagger, Transform, register

# --- e-mail ------------------------------------------------------------------------------------
# Local part: letters, digits and ``_ % + -`` (RFC 5322's rarer ' / = { } would mostly pull
# quotes and markup into the match). Letters may be non-ASCII (EAI / IDN addresses such as
# jürgen@müller.de) except in scripts written without spaces (CJK, kana, hangul, Thai), where a
# glued address like 请联系bianji@example.org must start at the first Latin character.
_NOSPACE = "\u0e00-\u0e7f\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_LOCAL_CH = rf"[^\W{_NOSPACE}]"          # word characters (incl. digits and _), not CJK …
_ALNUM = rf"[^\W_{_NOSPACE}]"
_EMAIL_RE = re.compile(
    rf"(?<![@.%+\-]|{_LOCAL_CH})"              # start of the local part (not mid-token, not
                                              # the second @ of a fediverse handle)
    rf"(?:{_LOCAL_CH}|[%+\-])+(?:\.(?:{_LOCAL_CH}|[%+\-])+)*"  # dots only between atoms
    r"@"
    rf"(?:{_ALNUM}(?:(?:{_ALNUM}|-){{0,61}}{_ALNUM})?\.)+"   # domain labels
    rf"((?:[^\W\d_{_NOSPACE}]{{2,24}}|xn--[A-Za-z0-9\-]{{1,59}}))"  # TLD (group 1)
    rf"(?!{_ALNUM}|-)"
)
# Special-use and placeholder names (RFC 2606, 6761, 6762) are not deliverable addresses.
_RESERVED_TLDS = frozenset("localhost local test invalid example internal lan home corp tld "
                           "domain localdomain".split())
# ``logo@2x.png`` and friends (retina image names, npm-style ``pkg@1.2.js``) look like addresses;
# a TLD that is a common file extension is taken as a file name.
_FILE_TLDS = frozenset(
    "png jpg jpeg gif svg webp bmp ico tif tiff avif css js mjs ts json html htm php asp aspx "
    "jsp pdf txt xml csv mp3 mp4 m4a wav ogg webm avi woff woff2 ttf otf eot gz tgz rar exe "
    "dll rb yml yaml".split()
)  # not .py .md .so (Paraguay, Moldova, Somalia) nor .zip .mov .map (real gTLDs)

_EXAMPLE_DOMAIN_RE = re.compile(r"[@.]example\.(?:com|org|net)$", re.IGNORECASE)
_LOCAL_WINDOW, _DOMAIN_WINDOW = 128, 320  # RFC 5321: local part <= 64, domain <= 255
_LEAD_RE = re.compile(r"(?:%[0-9A-Fa-f]{2}|[+\-])+")
_ESCAPE_RE = re.compile(r"(?:u[0-9A-Fa-f]{4}|[nrtbf])(?=[^@]*@)")

# --- IP addresses ------------------------------------------------------------------------------
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # no leading zeros
# Not part of a longer dotted run (version numbers like 1.2.3.4.5) nor glued to a word.
_IPV4_RE = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\w|\.[0-9])")
# Candidate IPv6: 3-8 hex groups joined by ':' (possibly '::'); ipaddress decides.
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6_RE = re.compile(
    rf"(?<![\w:])"
    rf"(?:{_H}(?::{_H}){{7}}"                              # full form
    rf"|(?:{_H}(?::{_H}){{0,6}})?::(?:{_H}(?::{_H}){{0,6}})?)"  # compressed form
    rf"(?![\w:]|\.[0-9])"
)
_IPV4_HINT_RE = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]")  # literal prefix: fast gate
_IPV6_HINT_RE = re.compile(r":[0-9A-Fa-f]{0,4}:")  # every IPv6 candidate has one
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
# "version 1.2.3.4", "build 10.0.19041.1": four-part version numbers read as addresses.
_VERSION_CONTEXT_RE = re.compile(r"\b(?:version|ver\.?|v\.|build|release|firmware|rev\.?)\s*$",
                                 re.IGNORECASE)

DEFAULT_EMAIL_REPLACEMENT = "email@example.com"
DEFAULT_IP_REPLACEMENTS = ("192.0.2.1", "198.51.100.1", "203.0.113.1")  # RFC 5737
DEFAULT_IPV6_REPLACEMENT = "2001:db8::1"                                # RFC 3849


class PIIMatch(NamedTuple):
    start: int
    end: int
    kind: str  # "email" | "ipv4" | "ipv6"
    text: str


def is_public_ip(address: str) -> bool:
    """True for a syntactically valid, publicly routable unicast IPv4/IPv6 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return False
    if ip.version == 6 and ip not in _GLOBAL_UNICAST:
        return False
    return True


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def find_pii(text: str, *, emails: bool = True, ip_addresses: bool = True,
             only_public_ips: bool = True) -> list[PIIMatch]:
    """Every e-mail and IP address in ``text``, in order, without overlaps (e-mails win)."""
    found: list[PIIMatch] = []
    if emails and "@" in text:
        for m in _iter_emails(text):
            tld = m.group(1).lower()
            if tld in _FILE_TLDS or tld in _RESERVED_TLDS:
                continue
            if tld in ("com", "org", "net") and _EXAMPLE_DOMAIN_RE.search(m.group()):
                continue  # RFC 2606 names, our own placeholder included: redaction is idempotent
            start = m.start()
            if start and text[start - 1] == "\\":  # JSON/JS escape glued on: \nname@…, \u002Fname@…
                esc = _ESCAPE_RE.match(text, start, m.end())
                if esc:
                    start = esc.end()
            if text[start] in "%+-":  # mailto:%20name@…, tel:+name@…
                lead = _LEAD_RE.match(text, start, m.end())
                start = lead.end() if lead else start
                if text[start] == "@":
                    continue
            found.append(PIIMatch(start, m.end(), "email", text[start:m.end()]))
    if ip_addresses:
        check = is_public_ip if only_public_ips else _is_ip
        ips: list[PIIMatch] = []
        for m in _iter_windows(text, _IPV4_HINT_RE, _IPV4_RE, 16, 20):
            if check(m.group()) and not _VERSION_CONTEXT_RE.search(
                    text, max(0, m.start() - 12), m.start()):
                ips.append(PIIMatch(m.start(), m.end(), "ipv4", m.group()))
        if ":" in text:
            for m in _iter_windows(text, _IPV6_HINT_RE, _IPV6_RE, 48, 48):
                if check(m.group()):
                    ips.append(PIIMatch(m.start(), m.end(), "ipv6", m.group()))
        if ips:
            if found or len(ips) > 1:
                found = _merge(found, ips)
            else:
                found = ips
    return found


def _iter_emails(text: str):
    """``_EMAIL_RE`` matches, searched only in windows around each ``@`` (the regex is slow to
    scan over long text; ``str.find`` is not). Lookbehinds still see the text before a window;
    a match that reaches a window's end is redone on the whole rest of the text."""
    n = len(text)
    at = text.find("@")
    while at != -1:
        lo, hi = max(0, at - _LOCAL_WINDOW), min(n, at + _DOMAIN_WINDOW)
        nxt = text.find("@", at + 1)
        while nxt != -1 and nxt - _LOCAL_WINDOW <= hi:  # merge overlapping windows
            hi = min(n, nxt + _DOMAIN_WINDOW)
            nxt = text.find("@", nxt + 1)
        end = lo
        for m in _EMAIL_RE.finditer(text, lo, hi):
            if m.end() == hi < n:
                m = _EMAIL_RE.match(text, m.start()) or m
            if m.start() < end:
                continue
            end = m.end()
            yield m
        at = text.find("@", max(hi, end)) if end > hi else nxt
    return


def _iter_windows(text: str, hint: re.Pattern, pattern: re.Pattern, before: int, after: int):
    """``pattern`` matches, searched only near matches of ``hint`` (a regex with a literal first
    character, which ``re`` finds fast). Same window rules as ``_iter_emails``."""
    n = len(text)
    end = 0
    h = hint.search(text)
    while h is not None:
        lo, hi = max(end, h.start() - before), min(n, h.end() + after)
        h = hint.search(text, h.end())
        while h is not None and h.start() - before <= hi:
            hi = min(n, h.end() + after)
            h = hint.search(text, h.end())
        for m in pattern.finditer(text, lo, hi):
            if m.end() == hi < n:
                m = pattern.match(text, m.start()) or m
            if m.start() < end:
                continue
            end = m.end()
            yield m
        if h is not None and h.start() < end:
            h = hint.search(text, end)


def _merge(emails: list[PIIMatch], ips: list[PIIMatch]) -> list[PIIMatch]:
    out = sorted(emails + ips, key=lambda m: (m.start, m.kind != "email"))
    merged: list[PIIMatch] = []
    end = -1
    for m in out:
        if m.start >= end:
            merged.append(m)
            end = m.end
    return merged


@register("pii_redact")
class PIIRedact(Transform):
    """Replace e-mail addresses and public IPv4/IPv6 addresses in ``record["text"]``.

    Args:
        emails: redact e-mail addresses.
        ip_addresses: redact IP addresses.
        only_public_ips: leave private, loopback, link-local, reserved, documentation and
            multicast addresses untouched (default, as datatrove does). ``False`` redacts every
            valid address.
        email_replacement: text put in place of an e-mail address.
        ip_replacements: placeholders for IPv4 addresses; one is picked per address by a hash of
            the address (stable across workers and reruns). Default: RFC 5737 addresses.
        ipv6_replacement: text put in place of an IPv6 address.
        keep_signals: write the counts ``{"emails": n, "ips": n}`` under
            ``signals[<step label>]`` (default).
    """

    signal_types = {"emails": "int64", "ips": "int64"}

    def __init__(self, emails: bool = True, ip_addresses: bool = True,
                 only_public_ips: bool = True,
                 email_replacement: str = DEFAULT_EMAIL_REPLACEMENT,
                 ip_replacements: list[str] | None = None,
                 ipv6_replacement: str = DEFAULT_IPV6_REPLACEMENT,
                 keep_signals: bool = True) -> None:
        super().__init__()
        self.keep_signals = keep_signals
        self.emails = emails
        self.ip_addresses = ip_addresses
        self.only_public_ips = only_public_ips
        self.email_replacement = email_replacement
        reps = tuple(ip_replacements) if ip_replacements else DEFAULT_IP_REPLACEMENTS
        if not all(isinstance(r, str) for r in reps):
            raise TypeError("ip_replacements must be a list of strings")
        self.ip_replacements = reps
        self.ipv6_replacement = ipv6_replacement

    def _ip_placeholder(self, address: str) -> str:
        reps = self.ip_replacements
        if len(reps) == 1:
            return reps[0]
        return reps[zlib.crc32(address.encode()) % len(reps)]

    def find(self, text: str) -> list[PIIMatch]:
        return find_pii(text, emails=self.emails, ip_addresses=self.ip_addresses,
                        only_public_ips=self.only_public_ips)

    def redact(self, text: str) -> tuple[str, int, int]:
        """Return ``(redacted_text, n_emails, n_ips)``."""
        matches = self.find(text)
        if not matches:
            return text, 0, 0
        parts: list[str] = []
        pos = n_emails = n_ips = 0
        for m in matches:
            parts.append(text[pos:m.start])
            if m.kind == "email":
                parts.append(self.email_replacement)
                n_emails += 1
            elif m.kind == "ipv4":
                parts.append(self._ip_placeholder(m.text))
                n_ips += 1
            else:
                parts.append(self.ipv6_replacement)
                n_ips += 1
            pos = m.end
        parts.append(text[pos:])
        return "".join(parts), n_emails, n_ips

    def declared_signals(self) -> dict[str, dict[str, str]]:
        return super().declared_signals() if self.keep_signals else {}

    def transform(self, record: Record) -> Record:
        text = record.get("text")
        n_emails = n_ips = 0
        if text:
            new, n_emails, n_ips = self.redact(text)
            if n_emails or n_ips:
                record["text"] = new
        if self.keep_signals:
            sig = record.get("signals")
            if sig is None:
                sig = record["signals"] = {}
            sig[self.label] = {"emails": n_emails, "ips": n_ips}
        return record


@register("pii_signals")
class PIISignals(Tagger):
    """Count e-mail addresses and public IP addresses (``pii_redact``'s detection) without
    changing the text: ``{"emails": n, "ips": n}`` under ``signals[<step label>]``."""

    signal_types = {"emails": "int64", "ips": "int64"}

    def __init__(self, emails: bool = True, ip_addresses: bool = True,
                 only_public_ips: bool = True) -> None:
        self.emails = emails
        self.ip_addresses = ip_addresses
        self.only_public_ips = only_public_ips

    def tag(self, record: Record) -> dict[str, int]:
        text = record.get("text") or ""
        matches = find_pii(text, emails=self.emails, ip_addresses=self.ip_addresses,
                           only_public_ips=self.only_public_ips) if text else []
        n_emails = sum(1 for m in matches if m.kind == "email")
        return {"emails": n_emails, "ips": len(matches) - n_emails}
