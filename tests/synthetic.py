"""Small deterministic corpora the tests make themselves, so that the guarantees (resume after
SIGKILL, quarantine, executor equivalence, format round trips) never depend on ../shared/data.

Documents are English or Chinese prose built from a fixed vocabulary with a seeded generator:
the same arguments always give the same bytes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

_EN_WORDS = (
    "the of and to in is that it was for on are with as his they be at one have this from or had by "
    "word but what some we can out other were all there when up use your how said an each she which "
    "do their time if will way about many then them write would like so these her long make thing see "
    "him two has look more day could go come did number sound no most people my over know water than "
    "call first who may down side been now find river garden window letter market winter morning city"
).split()
_ZH_CHARS = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
             "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去"
             "把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气")


def english_document(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(_EN_WORDS) for _ in range(rng.randint(8, 18))]
        out.append(" ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!")))
    paragraphs = [" ".join(out[i:i + 4]) for i in range(0, len(out), 4)]
    return "\n\n".join(paragraphs)


def chinese_document(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        out.append("".join(rng.choice(_ZH_CHARS) for _ in range(rng.randint(10, 30))) + rng.choice("。。。？！"))
    paragraphs = ["".join(out[i:i + 4]) for i in range(0, len(out), 4)]
    return "\n\n".join(paragraphs)


def documents(n: int, seed: int = 0, chinese_every: int = 4) -> list[dict]:
    """``n`` distinct documents (every ``chinese_every``-th one Chinese), short and long."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        sentences = rng.choice((1, 3, 8, 20, 40))
        if chinese_every and i % chinese_every == chinese_every - 1:
            text, lang = chinese_document(rng, sentences), "zh"
        else:
            text, lang = english_document(rng, sentences), "en"
        docs.append({"id": f"doc-{i}", "text": text, "url": f"https://example.org/{lang}/{i}", "lang": lang})
    return docs


def write_shards(folder: Path, n_docs: int = 20, n_shards: int = 8, copies: int = 3, seed: int = 0) -> Path:
    """``n_docs`` documents, each written ``copies`` times (exact duplicates across shards),
    spread over ``n_shards`` JSONL files under ``folder``."""
    docs = documents(n_docs, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in range(copies):
        for i, d in enumerate(docs):
            rows.append({"id": f"{c}-{i}", "text": d["text"], "url": d["url"]})
    for s in range(n_shards):
        with open(folder / f"shard-{s:02d}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows[s::n_shards]:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder
