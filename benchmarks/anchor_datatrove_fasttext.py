"""datatrove's FastTextClassifierFilter on JSONL(.gz) texts, timed (run under the anchors'
Python: `.venv-anchors/bin/python benchmarks/anchor_datatrove_fasttext.py MODEL FILE...`).

Prints one JSON line: documents, seconds inside the filter (model load excluded), docs/s.
"""

import gzip
import json
import sys
import time


def main() -> None:
    from datatrove.data import Document
    from datatrove.pipeline.filters import FastTextClassifierFilter

    model, files = sys.argv[1], sys.argv[2:]
    docs = []
    for path in files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                docs.append(Document(text=r["text"], id=str(r["id"]), metadata={}))
    f = FastTextClassifierFilter(model, keep_labels=[("1", 0.0)])
    f.filter(Document(text="warm up", id="w", metadata={}))  # loads the model
    t0 = time.perf_counter()
    kept = sum(1 for d in docs if f.filter(d))
    seconds = time.perf_counter() - t0
    print(json.dumps({"documents": len(docs), "kept": kept, "seconds": seconds, "docs_per_s": len(docs) / seconds}))


if __name__ == "__main__":
    main()
