"""Build the default tokenizer shipped inside the package.

    PYTHONPATH=src python scripts/build_default_tokenizer.py [--shared ../shared/data]

Trains datamill's byte-level BPE (16,000 tokens, deterministic) on every ``.json``/``.jsonl``
file under ``SHARED/instruction_sft`` (LLaMA-Factory demos en/zh, LIMA, OASST-zh, FastChat,
the self-instruct seeds; ``dataset_info.json`` left out) and writes it to
``src/datamill/post/data/datamill-bpe-16000.json``, where :mod:`datamill.post.tokenizer`
loads it. Run it again only when the training recipe changes; the file is committed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from datamill.post.tokenizer import (DEFAULT_VOCAB_SIZE, PACKAGED_TOKENIZER,  # noqa: E402
                                     iter_training_texts, train_tokenizer, training_files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("DATAMILL_SHARED_DATA") or str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(PACKAGED_TOKENIZER))
    args = ap.parse_args()
    files = training_files(args.shared)
    tok = train_tokenizer(iter_training_texts(files), vocab_size=DEFAULT_VOCAB_SIZE)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(tok.to_str(), encoding="utf-8")
    os.replace(tmp, out)
    print(f"trained on {len(files)} files: {out} ({out.stat().st_size:,} bytes, {tok.get_vocab_size():,} tokens)")


if __name__ == "__main__":
    main()
