"""Bias statistics of a dataset, per version (so a diff shows whether a filter moved them).

1. Term association: for each demographic group (gender: male/female, age: young/old, lists in
   ``data/bias_terms.json``, English and Chinese) the documents that mention it, and for each
   attribute word (occupations…) the document-level co-occurrence count and pointwise mutual
   information PMI(group, word) = log2 P(group, word) / (P(group) P(word)).
2. SEAT (May et al. 2019, the sentence form of WEAT): sentences of the dataset that mention
   group X or group Y, embedded with all-MiniLM-L6-v2; attribute sets A and B as template
   sentences; effect size d = (mean_x s(x,A,B) − mean_y s(y,A,B)) / std_w s(w,A,B) with
   s(w,A,B) = mean_a cos(w,a) − mean_b cos(w,b), and a one-sided permutation p-value.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

import numpy as np
import orjson

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
TEMPLATES = {"en": ["This is {}.", "That is {}.", "There is {}.", "Here is {}.", "It is about {}."],
             "zh": ["这是{}。", "那是{}。", "这里有{}。", "这与{}有关。"]}


@lru_cache(maxsize=4)
def load_terms(path: str | None = None) -> dict[str, Any]:
    if path:
        with open(path, "rb") as fh:
            return orjson.loads(fh.read())
    return orjson.loads(resources.files("datamill.report").joinpath("data/bias_terms.json").read_bytes())


def _matcher(words: Sequence[str]):
    latin = [w for w in words if not _CJK.search(w)]
    cjk = [w for w in words if _CJK.search(w)]
    parts = []
    if latin:
        parts.append(r"\b(?:" + "|".join(sorted(map(re.escape, latin), key=len, reverse=True)) + r")\b")
    if cjk:
        parts.append("(?:" + "|".join(sorted(map(re.escape, cjk), key=len, reverse=True)) + ")")
    return re.compile("|".join(parts), re.I) if parts else None


def _re2(words: Sequence[str]) -> str | None:
    """One RE2 pattern (Arrow's regex engine): Latin words on word boundaries, CJK as substrings."""
    latin = sorted((w for w in words if not _CJK.search(w)), key=len, reverse=True)
    cjk = sorted((w for w in words if _CJK.search(w)), key=len, reverse=True)
    parts = []
    if latin:
        parts.append(r"\b(?:" + "|".join(re.escape(w) for w in latin) + r")\b")
    if cjk:
        parts.append("(?:" + "|".join(re.escape(w) for w in cjk) + ")")
    return "|".join(parts) or None


def _docs_matching(arr, words: Sequence[str]) -> set[int]:
    import pyarrow.compute as pc

    pattern = _re2(words)
    if pattern is None or len(arr) == 0:
        return set()
    mask = pc.fill_null(pc.match_substring_regex(arr, pattern, ignore_case=True), False)
    return set(np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist())


def term_association(texts: Sequence[str], terms: dict[str, Any] | None = None, *,
                     attribute_set: str = "occupations", min_count: int = 1) -> dict[str, Any]:
    """Document counts per group and PMI of each group with each attribute word (vectorised
    regex passes in Arrow's RE2: one per group and one per attribute word)."""
    import pyarrow as pa

    terms = terms or load_terms()
    words = terms["attributes"][attribute_set]
    n = len(texts)
    arr = pa.array([t if isinstance(t, str) else "" for t in texts], pa.large_string())
    out: dict[str, Any] = {"documents": n, "attribute_set": attribute_set, "groups": {}}
    word_docs = {w: _docs_matching(arr, [w]) for w in words}
    for dim, groups in terms["groups"].items():
        dim_out = {}
        for gname, gwords in groups.items():
            docs = _docs_matching(arr, gwords)
            pmi = {}
            for w in words:
                joint = len(docs & word_docs[w])
                if joint >= min_count and docs and word_docs[w]:
                    pmi[w] = {"count": joint, "pmi": math.log2(joint * n / (len(docs) * len(word_docs[w])))}
            dim_out[gname] = {"documents": len(docs), "share": len(docs) / n if n else 0.0, "pmi": pmi}
        out["groups"][dim] = dim_out
    return out


def _sentences_with(texts: Sequence[str], rx, limit: int, rng) -> list[str]:
    out = []
    splitter = re.compile(r"(?<=[.!?。！？])\s*")
    for t in texts:
        if not isinstance(t, str):
            continue
        for s in splitter.split(t):
            if 8 <= len(s) <= 400 and rx.search(s):
                out.append(s.strip())
    if len(out) > limit:
        out = [out[i] for i in rng.choice(len(out), size=limit, replace=False)]
    return out


def _assoc(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (w @ a.T).mean(1) - (w @ b.T).mean(1)


def seat(texts: Sequence[str], embed_fn, terms: dict[str, Any] | None = None, *, per_group: int = 100,
         permutations: int = 1000, seed: int = 0, min_sentences: int = 8) -> list[dict[str, Any]]:
    """SEAT on the dataset's own sentences; ``embed_fn(list[str]) -> unit vectors``."""
    terms = terms or load_terms()
    rng = np.random.default_rng(seed)
    results = []
    for test in terms.get("seat", []):
        gx = terms["groups"][test["X"][0]][test["X"][1]]
        gy = terms["groups"][test["Y"][0]][test["Y"][1]]
        xs = _sentences_with(texts, _matcher(gx), per_group, rng)
        ys = _sentences_with(texts, _matcher(gy), per_group, rng)
        res: dict[str, Any] = {"test": test["name"], "x_sentences": len(xs), "y_sentences": len(ys)}
        if len(xs) < min_sentences or len(ys) < min_sentences:
            res["note"] = f"too few sentences (need {min_sentences} per group)"
            results.append(res)
            continue
        attr = {}
        for key in ("A", "B"):
            sents = [tpl.format(w) for w in terms["attributes"][test[key]]
                     for tpl in TEMPLATES["zh" if _CJK.search(w) else "en"]]
            attr[key] = np.asarray(embed_fn(sents))
        wx, wy = np.asarray(embed_fn(xs)), np.asarray(embed_fn(ys))
        sx, sy = _assoc(wx, attr["A"], attr["B"]), _assoc(wy, attr["A"], attr["B"])
        both = np.r_[sx, sy]
        std = float(np.std(both, ddof=1))
        effect = float((sx.mean() - sy.mean()) / std) if std > 0 else 0.0
        observed = sx.mean() - sy.mean()
        n = len(sx)
        hits = 0
        for _ in range(permutations):
            perm = rng.permutation(len(both))
            if both[perm[:n]].mean() - both[perm[n:]].mean() >= observed:
                hits += 1
        res.update({"effect_size": effect, "p_value": (hits + 1) / (permutations + 1),
                    "x_examples": xs[:3], "y_examples": ys[:3]})
        results.append(res)
    return results
