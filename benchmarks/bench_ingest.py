"""WARC ingest: datamill's record framing (datamill.io.warc_frames) against fastwarc, the
reader datatrove and resiliparse use, on the same files in the same run; plus the faults each
survives.

    PYTHONPATH=src python benchmarks/bench_ingest.py [--shared ../shared/data] [--repeat 20]

1. Speed. The real WARC files of the shared data (Common Crawl, Dolma, ClueWeb09 samples) are
   concatenated ``--repeat`` times into one ``.warc.gz`` (one gzip member per record, as CC
   writes) and one plain ``.warc``. Each reader walks every response record, reads its HTTP
   headers and payload (no HTML decoding: that is the same code after either reader). Records
   per second and MB/s of compressed input, and datamill's ratio, are printed beside the load
   average (the machine is shared: timings are noisy).
2. Faults. Files with one record cut short, one wrong Content-Length and one corrupt gzip
   member among 20: how many good records each reader returns, and whether the broken one is
   returned as if it were good.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import io
import os
import sys
import tempfile
import time
import uuid


def _records_of(paths: list[str]) -> list[bytes]:
    """Every record of the files, re-serialised (so the test files are well-formed)."""
    from fastwarc.warc import ArchiveIterator

    out = []
    for path in paths:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, parse_http=False):
                buf = io.BytesIO()
                rec.write(buf)
                out.append(buf.getvalue())
    return out


def _fastwarc(path: str) -> tuple[int, int]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    n = nbytes = 0
    with open(path, "rb") as fh:
        try:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                body = rec.reader.read()
                _ = rec.http_content_type, rec.http_charset
                n += 1
                nbytes += len(body)
        except Exception:  # noqa: BLE001 - a broken file ends fastwarc's walk
            pass
    return n, nbytes


def _datamill(path: str) -> tuple[int, int]:
    from datamill.io.readers import _http
    from datamill.io.warc_frames import Frame, header, iter_frames

    n = nbytes = 0
    with open(path, "rb") as fh:
        for item in iter_frames(fh, path):
            if isinstance(item, Frame) and (header(item.headers, "WARC-Type") or "") == "response":
                _status, _ctype, _charset, body = _http(item.block)
                n += 1
                nbytes += len(body)
    return n, nbytes


def _time(fn, path: str, rounds: int = 3) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        n, _ = fn(path)
        best = min(best, time.perf_counter() - t0)
    return best, n


def _faulty(records: list[bytes], folder: str) -> str:
    recs = [r for r in records if b"WARC-Type: response" in r[:2000]][:20]
    parts = []
    for i, r in enumerate(recs):
        if i == 5:  # wrong Content-Length: 40 bytes short
            head, _, rest = r.partition(b"\r\n\r\n")
            lines = [ln if not ln.lower().startswith(b"content-length:") else
                     b"Content-Length: " + str(int(ln.split(b":")[1]) - 40).encode() for ln in head.split(b"\r\n")]
            r = b"\r\n".join(lines) + b"\r\n\r\n" + rest
        member = gzip.compress(r, mtime=0)
        if i == 11:  # corrupt member
            member = member[:len(member) // 2] + b"\xff" * 16 + member[len(member) // 2 + 16:]
        parts.append(member)
    last = gzip.compress(recs[-1], mtime=0)
    data = b"".join(parts) + last[: len(last) // 2]  # the 21st record cut short
    path = os.path.join(folder, f"faulty-{uuid.uuid4().hex[:6]}.warc.gz")
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.environ.get("DATAMILL_SHARED_DATA", "../shared/data"))
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    sources = sorted(glob.glob(os.path.join(args.shared, "warc", "*.warc.gz")))
    sources = [p for p in sources if "clipped" not in p]  # a deliberately truncated file
    if not sources:
        sys.exit(f"no WARC files under {args.shared}/warc")
    records = _records_of(sources)
    with tempfile.TemporaryDirectory(prefix="datamill-bench-ingest-") as tmp:
        gz = os.path.join(tmp, "corpus.warc.gz")
        plain = os.path.join(tmp, "corpus.warc")
        with open(gz, "wb") as g, open(plain, "wb") as p:
            for _ in range(args.repeat):
                for r in records:
                    g.write(gzip.compress(r, compresslevel=6, mtime=0))
                    p.write(r)
        size_mb = os.path.getsize(gz) / 1e6
        print(f"corpus: {len(records) * args.repeat:,} records ({len(sources)} real files x {args.repeat}), "
              f"{size_mb:.1f} MB .warc.gz, {os.path.getsize(plain) / 1e6:.1f} MB .warc")
        print(f"{'input':<10}{'reader':<12}{'responses':>10}{'seconds':>9}{'rec/s':>9}{'MB/s':>8}   load")
        for path, label in ((gz, ".warc.gz"), (plain, ".warc")):
            res = {}
            for name, fn in (("fastwarc", _fastwarc), ("datamill", _datamill)):
                secs, n = _time(fn, path)
                res[name] = secs
                print(f"{label:<10}{name:<12}{n:>10,}{secs:>9.2f}{n / secs:>9,.0f}"
                      f"{os.path.getsize(path) / 1e6 / secs:>8.1f}   {os.getloadavg()[0]:.1f}")
            print(f"{'':<10}datamill / fastwarc speed: {res['fastwarc'] / res['datamill']:.2f}x")
        faulty = _faulty(records, tmp)
        print("\nfaults (20 responses: #5 wrong Content-Length, #11 corrupt member, then one cut short):")
        for name, fn in (("fastwarc", _fastwarc), ("datamill", _datamill)):
            n, _ = fn(faulty)
            print(f"  {name:<10} returned {n} records (good ones: 18)")


if __name__ == "__main__":
    main()
