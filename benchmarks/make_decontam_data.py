"""Copy the built-in decontamination benchmarks into the package, gzipped.

    python benchmarks/make_decontam_data.py [SHARED_DATA_DIR]

Reads ``<shared>/benchmarks`` (GSM8K test, HumanEval, BIG-Bench-Hard; all MIT) and writes
``src/datamill/steps/decontam/data/`` with the same layout (``.gz`` files, byte-identical
content once decompressed) and a SOURCES.txt, so ``decontaminate`` works from an installed
package without any data folder beside it. Rerun when the shared copies change.
"""

from __future__ import annotations

import glob
import gzip
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEST = REPO / "src" / "datamill" / "steps" / "decontam" / "data"


def main(argv: list[str]) -> int:
    shared = Path(argv[0] if argv else os.environ.get("DATAMILL_SHARED_DATA") or REPO.parent / "shared" / "data")
    src = shared / "benchmarks"
    files = [src / "gsm8k" / "test.jsonl"] + sorted(Path(p) for p in glob.glob(str(src / "bbh" / "*.json")))
    if not all(f.is_file() for f in files):
        sys.exit(f"benchmarks not found under {src}")
    for f in files:
        out = DEST / f.relative_to(src)
        out = out.with_name(out.name + ".gz")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(f, "rb") as fi, gzip.GzipFile(out, "wb", mtime=0) as fo:
            shutil.copyfileobj(fi, fo)
    he = src / "humaneval" / "HumanEval.jsonl.gz"
    (DEST / "humaneval").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(he, DEST / "humaneval" / he.name)
    shutil.copyfile(src / "SOURCES.txt", DEST / "SOURCES.txt")
    if (src / "bbh" / "README.md").is_file():
        shutil.copyfile(src / "bbh" / "README.md", DEST / "bbh" / "README.md")
    print(f"wrote {sum(1 for _ in DEST.rglob('*') if _.is_file())} files under {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
