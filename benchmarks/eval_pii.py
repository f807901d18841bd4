"""Precision / recall / F1 of ``pii_redact``'s detector on labelled e-mail and IP addresses.

Three labelled sets, all built from real public text in ``../shared/data``:

* ``real-text`` — the plain text of 1,171 real web pages (html_extraction/, extracted with
  resiliparse as a pipeline would), the text of the real Common Crawl / dolma WARC and WET
  records (warc/) and the 20 CCNet documents (warc/dolma_ccnet_text/).
* ``real-raw`` — the same pages as raw HTML plus every WARC record verbatim (headers, WAT JSON,
  scripts): the hard case, with JSON escapes, srcset ``@2x`` names and server IPs in headers.
* ``planted`` — 1,000 real English sentences (langid/lingua/sentences/en.txt) with synthetic
  addresses and look-alike negatives inserted at known positions.

How the real labels are made (independently of the detector's regexes):

1. Candidates are cut out with deliberately broad patterns: every maximal run of non-separator
   characters around an ``@``; every maximal dotted run of digit groups with four or more
   groups; every maximal run of hex digits and colons with at least two colons.
2. An e-mail candidate (trailing dots stripped) is an address when ``email-validator`` accepts
   its syntax (no DNS) *and* its domain ends in a real public suffix with a registrable name in
   front (tldextract's bundled Public Suffix List snapshot, offline). A JSON escape glued to the
   front (``\\u002F…``), a percent-escape or ``+`` (``mailto:%20name@…``) and text in a script
   written without spaces (``网站地图name@…``) are cut off first: the address starts after them.
   Names reserved for documentation (RFC 2606/6761: ``example.com``, ``.test``, ``.invalid``,
   ``.example``, ``.localhost``) are labelled not-an-address: they belong to nobody (the
   detector skips them too, which keeps redaction idempotent).
3. An IPv4 candidate is a public IP when it has exactly four groups, each 0-255 without leading
   zeros, is not glued to a letter, and ``ipaddress`` calls it global, non-multicast,
   non-reserved. An IPv6 candidate likewise, and it must lie in 2000::/3.
4. Manual overrides (``MANUAL``) record decisions made by reading every positive candidate in
   context; the reason is written next to each.

Caveat: step 3 shares ``ipaddress`` with the detector, so IP figures measure candidate
boundaries and context handling, not the public/private classification. E-mail labels share no
code with the detector.

A detection is correct when its span equals a labelled span exactly; a partial overlap counts
as one false positive and one false negative.

Run: ``PYTHONPATH=src python benchmarks/eval_pii.py [--dump]`` (needs ``email-validator``,
``tldextract``, ``resiliparse``, ``fastwarc``).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("DATAMILL_SHARED_DATA", HERE.parent.parent / "shared" / "data"))

# candidate, kind -> label (True/False) with the reason, from reading the candidates in context
MANUAL: dict[tuple[str, str], tuple[bool, str]] = {}

# A candidate token is a run of letters, digits, combining marks and . - _ + % @; anything else
# (space, punctuation of any script, symbols, U+FFFD) separates.
EMAIL_CAND = re.compile(r"(?:[^\W_]|[\u0300-\u036f._+%@\-])*@(?:[^\W_]|[\u0300-\u036f._+%@\-])+")
JSON_ESCAPE_PREFIX = re.compile(r"^(?:u00[0-9A-Fa-f]{2}|[nrt])(?=\S)")
NOSPACE_PREFIX = re.compile(r".*[\u0e00-\u0e7f\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff]"
                            r"(?=[^@]*@)")
LEAD_JUNK = re.compile(r"^(?:%[0-9A-Fa-f]{2}|[.+\-])+")
RESERVED_DOMAIN = re.compile(r"(?:^|\.)(?:example\.(?:com|net|org)|[^.]+\.(?:test|example|invalid|"
                             r"localhost))$")
V4_CAND = re.compile(r"(?<![\d.])\d+(?:\.\d+){3,}(?!\d)")
V6_CAND = re.compile(r"(?<![\w:])[0-9A-Fa-f]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:]*(?![\w:])")
OCTET = re.compile(r"^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$")


# --- corpora -----------------------------------------------------------------------------------
def load_docs(raw: bool) -> list[str]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text

    docs: list[str] = []
    for p in sorted(glob.glob(str(DATA / "html_extraction" / "**" / "*.html.gz"), recursive=True)):
        html = gzip.open(p).read().decode("utf-8", "replace")
        docs.append(html if raw else extract_plain_text(html, main_content=False))
    for p in sorted(glob.glob(str(DATA / "warc" / "**" / "*.warc*.gz"), recursive=True)):
        try:
            with open(p, "rb") as fh:
                for rec in ArchiveIterator(fh, parse_http=not raw):
                    if raw:
                        docs.append(rec.reader.read().decode("utf-8", "replace"))
                        continue
                    if rec.record_type == WarcRecordType.conversion:
                        docs.append(rec.reader.read().decode("utf-8", "replace"))
                    elif rec.record_type == WarcRecordType.response:
                        ctype = (rec.http_headers.get("Content-Type") or "") if rec.http_headers else ""
                        if "html" in ctype:
                            body = rec.reader.read().decode("utf-8", "replace")
                            docs.append(extract_plain_text(body, main_content=False))
        except Exception as exc:  # deliberately broken files in warc/warcio
            print(f"  (skipped rest of {Path(p).name}: {type(exc).__name__})", file=sys.stderr)
    for p in sorted(glob.glob(str(DATA / "warc" / "dolma_ccnet_text" / "*.jsonl.gz"))):
        for line in gzip.open(p, "rt"):
            docs.append(json.loads(line).get("text", ""))
    return [d for d in docs if d]


# --- labelling ---------------------------------------------------------------------------------
class Labeller:
    def __init__(self):
        import tldextract
        from email_validator import EmailNotValidError, validate_email

        self._ext = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        self._validate = validate_email
        self._err = EmailNotValidError

    def email_spans(self, text: str, log: list | None = None) -> set[tuple[int, int]]:
        out = set()
        for m in EMAIL_CAND.finditer(text):
            s, e = m.start(), m.end()
            tok = m.group()
            if s > 0 and text[s - 1] == "\\":
                esc = JSON_ESCAPE_PREFIX.match(tok)
                if esc:
                    s += esc.end()
                    tok = tok[esc.end():]
            cut = NOSPACE_PREFIX.match(tok) or LEAD_JUNK.match(tok)  # 网站地图name@…, %20name@…
            while cut and cut.end():
                s, tok = s + cut.end(), tok[cut.end():]
                cut = NOSPACE_PREFIX.match(tok) or LEAD_JUNK.match(tok)
            while tok and tok[-1] in ".-_":
                tok, e = tok[:-1], e - 1
            label, why = self.is_email(tok)
            if (tok, "email") in MANUAL:
                label, why = MANUAL[(tok, "email")]
            if log is not None:
                log.append(("email", tok, label, why, text[max(0, s - 40):e + 40]))
            if label:
                out.add((s, e))
        return out

    def is_email(self, tok: str) -> tuple[bool, str]:
        if tok.count("@") != 1:
            return False, "not one @"
        try:
            self._validate(tok, check_deliverability=False, allow_smtputf8=True)
        except self._err as exc:
            return False, f"email-validator: {str(exc)[:60]}"
        domain = tok.rsplit("@", 1)[1].lower()
        r = self._ext(domain)
        if not (r.suffix and r.domain):
            return False, "no public suffix"
        if RESERVED_DOMAIN.search(domain):
            return False, "RFC 2606/6761 reserved name"
        return True, "valid"

    @staticmethod
    def ip_spans(text: str, log: list | None = None) -> set[tuple[int, int]]:
        import ipaddress

        out = set()
        for m in V4_CAND.finditer(text):
            tok, s = m.group(), m.start()
            parts = tok.split(".")
            label, why = False, "not 4 groups"
            if len(parts) == 4:
                if not all(OCTET.match(p) for p in parts):
                    why = "bad octet"
                elif (s > 0 and text[s - 1].isalpha()) or text[m.end():m.end() + 1].isalpha():
                    why = "glued to a word"
                else:
                    ip = ipaddress.ip_address(tok)
                    label = ip.is_global and not ip.is_multicast and not ip.is_reserved
                    why = "public" if label else "private/reserved"
            if (tok, "ip") in MANUAL:
                label, why = MANUAL[(tok, "ip")]
            if log is not None:
                log.append(("ipv4", tok, label, why, text[max(0, s - 40):m.end() + 40]))
            if label:
                out.add((s, m.end()))
        for m in V6_CAND.finditer(text):
            tok = m.group()
            try:
                ip = ipaddress.ip_address(tok)
                label = (ip.is_global and not ip.is_multicast and not ip.is_reserved
                         and ip in ipaddress.ip_network("2000::/3"))
                why = "public" if label else "not global unicast"
            except ValueError:
                label, why = False, "not an address"
            if (tok, "ip") in MANUAL:
                label, why = MANUAL[(tok, "ip")]
            if log is not None:
                log.append(("ipv6", tok, label, why, text[max(0, m.start() - 40):m.end() + 40]))
            if label:
                out.add((m.start(), m.end()))
        return out


# --- planted set -------------------------------------------------------------------------------
FIRST = ["john", "maria", "li.wei", "o.connor", "anna-lena", "j_smith", "dr.k", "ZOE", "mohammed"]
LAST = ["doe", "garcia", "mueller", "tanaka", "nguyen", "smith99", "o_brien", "x"]
DOMAINS = ["gmail.com", "uni-heidelberg.de", "mail.ox.ac.uk", "company.io", "example-shop.com.br",
           "news.co.jp", "ipb.pt", "xn--bcher-kva.de", "stats.gov.au", "Outlook.COM"]
PUBLIC_V4 = ["8.8.8.8", "93.184.216.34", "151.101.1.69", "203.0.114.7", "45.33.32.156",
             "1.1.1.1", "185.199.108.153", "104.16.132.229", "62.210.16.61", "212.58.244.22"]
PUBLIC_V6 = ["2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:82b::200e",
             "2620:0:862:ed1a::1", "2a03:2880:f10c:83:face:b00c:0:25de"]
NEG = ["10.0.0.12", "192.168.178.1", "172.20.1.4", "127.0.0.1", "fe80::1ff:fe23:4567:890a",
       "::1", "1.2.3.4.5", "version 4.2.1.0", "12.10.2023", "v2.0.1.3", "logo@2x.png",
       "icon@3x.webp", "12:45:30", "00:1b:44:11:3a:b7", "std::string", "@handle", "user@localhost",
       "3.14159", "ISBN 978-3-16-148410-0", "10.1000/182", "jquery@3.6.0", "2001:db8::1",
       "999.1.1.1", "192.0.2.10"]


def planted_docs(seed: int = 0):
    rng = random.Random(seed)
    # sentences that already hold an address-like string are left out, so the only positives
    # are the planted ones
    lines = [l.strip() for l in open(DATA / "langid" / "lingua" / "sentences" / "en.txt",
                                    encoding="utf-8")
             if l.strip() and "@" not in l and not V4_CAND.search(l) and not V6_CAND.search(l)]
    docs = []
    for i in range(1000):
        sentence = lines[i % len(lines)]
        words = sentence.split(" ")
        pos = rng.randrange(len(words) + 1)
        r = rng.random()
        gold_kind = None
        if r < 0.35:
            local = rng.choice(FIRST) + rng.choice([".", "_", "", "+news."]) + rng.choice(LAST)
            item = f"{local}@{rng.choice(DOMAINS)}"
            if rng.random() < 0.05:
                item = f"jürgen@müller-{rng.randrange(99)}.de"  # IDN, a real address form
            gold_kind = "email"
        elif r < 0.55:
            item, gold_kind = rng.choice(PUBLIC_V4), "ip"
            if rng.random() < 0.2:
                item += f":{rng.choice([80, 443, 8080])}"
                gold_len = len(item.rsplit(":", 1)[0])
        elif r < 0.65:
            item, gold_kind = rng.choice(PUBLIC_V6), "ip"
            if rng.random() < 0.2:
                item = f"[{item}]:443"
        else:
            item = rng.choice(NEG)
        wrap = rng.choice(["{}", "({})", "<{}>", "{}.", "{},", '"{}"', "mailto:{}", "at {}"])
        if gold_kind != "email" and wrap == "mailto:{}":
            wrap = "{}"
        piece = wrap.format(item)
        before = " ".join(words[:pos]) + (" " if pos else "")
        text = before + piece + (" " if pos < len(words) else "") + " ".join(words[pos:])
        gold = {"email": set(), "ip": set()}
        if gold_kind:
            core = item.strip("[]")
            if gold_kind == "ip" and item.startswith("["):
                core = item[1:item.index("]")]
            elif gold_kind == "ip" and ":" in item and item.count(":") == 1:
                core = item.split(":")[0]
            s = text.index(core, len(before))
            gold[gold_kind].add((s, s + len(core)))
        docs.append((text, gold))
    return docs


# --- scoring -----------------------------------------------------------------------------------
def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(pairs, errors: list | None = None):
    from datamill.steps.safety.pii import find_pii

    counts = {"email": [0, 0, 0], "ip": [0, 0, 0]}
    t0 = time.perf_counter()
    preds = [find_pii(text) for text, _ in pairs]
    secs = time.perf_counter() - t0
    for (text, gold), found in zip(pairs, preds):
        pred = {"email": set(), "ip": set()}
        for m in found:
            pred["email" if m.kind == "email" else "ip"].add((m.start, m.end))
        for k in counts:
            tp = len(pred[k] & gold[k])
            counts[k][0] += tp
            counts[k][1] += len(pred[k] - gold[k])
            counts[k][2] += len(gold[k] - pred[k])
            if errors is not None:
                for s, e in pred[k] - gold[k]:
                    errors.append(("FP", k, text[s:e], text[max(0, s - 30):e + 30]))
                for s, e in gold[k] - pred[k]:
                    errors.append(("FN", k, text[s:e], text[max(0, s - 30):e + 30]))
    return counts, secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", action="store_true", help="print every labelled candidate")
    ap.add_argument("--errors", action="store_true", help="print false positives/negatives")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found at {DATA}")
    lab = Labeller()
    sets = {}
    for name, raw in (("real-text", False), ("real-raw", True)):
        docs = load_docs(raw)
        log: list | None = [] if args.dump else None
        pairs = [(d, {"email": lab.email_spans(d, log), "ip": lab.ip_spans(d, log)}) for d in docs]
        sets[name] = pairs
        if args.dump:
            for kind, tok, label, why, ctx in sorted(set(log), key=lambda x: (x[0], not x[2], x[1])):
                print(f"[{name}] {kind:5} {'POS' if label else 'neg'} {tok!r:50} {why:30} "
                      f"{ctx!r}")
    sets["planted"] = planted_docs()
    print(f"{'set':10} {'docs':>6} {'MB':>6} {'kind':6} {'gold':>5} {'tp':>5} {'fp':>4} {'fn':>4} "
          f"{'precision':>9} {'recall':>7} {'F1':>6} {'MB/s':>6}")
    for name, pairs in sets.items():
        errors: list = []
        counts, secs = score(pairs, errors)
        mb = sum(len(t) for t, _ in pairs) / 1e6
        for k, (tp, fp, fn) in counts.items():
            p, r, f = prf(tp, fp, fn)
            print(f"{name:10} {len(pairs):6d} {mb:6.1f} {k:6} {tp + fn:5d} {tp:5d} {fp:4d} {fn:4d} "
                  f"{p:9.3f} {r:7.3f} {f:6.3f} {mb / secs:6.1f}")
        if args.errors:
            for e in sorted(set(errors)):
                print(f"   [{name}] {e[0]} {e[1]:5} {e[2]!r:45} {e[3]!r}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
