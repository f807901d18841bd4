"""Per-record scores for selection: quality (a model, ratings or a quality signal, min-max scaled)
and complexity (a signal, or a language-aware heuristic on the prompt)."""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np

QUALITY_KEYS = ("quality_score", "quality", "reward", "rm_score", "score", "deita_quality",
                "helpfulness", "overall")
COMPLEXITY_KEYS = ("complexity", "complexity_score", "deita_complexity")


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, str):
        try:
            f = float(v)
            return f if math.isfinite(f) else None
        except ValueError:
            return None
    return None


def _minmax(values: np.ndarray) -> np.ndarray:
    out = np.full(len(values), np.nan)
    ok = ~np.isnan(values)
    if ok.any():
        lo, hi = values[ok].min(), values[ok].max()
        out[ok] = 1.0 if hi == lo else (values[ok] - lo) / (hi - lo)
    return out


def _signal(record: dict, keys: Sequence[str]) -> float | None:
    for where in (record.get("signals"), record.get("metadata")):
        if isinstance(where, dict):
            for k in keys:
                v = _num(where.get(k))
                if v is not None:
                    return v
    return None


def _rating(record: dict) -> float | None:
    ratings = record.get("ratings")
    if isinstance(ratings, dict):
        vals = [v for v in (_num(x) for x in ratings.values()) if v is not None]
        if vals:
            return sum(vals) / len(vals)
    elif _num(ratings) is not None:
        return _num(ratings)
    if record.get("kind") == "ranking":
        scores = [_num(r.get("score")) for r in record.get("responses") or []]
        scores = [s for s in scores if s is not None]
        if scores:
            return max(scores)
    return None


def quality_scores(records: Sequence[dict], keys: Sequence[str] | None = None,
                   model: Any = None) -> tuple[np.ndarray, str]:
    """Quality in [0, 1] per record, and where it came from.

    ``model``: a :class:`~datamill.post.quality_model.QualityModel` (its sigmoid output);
    ``keys``: signal/metadata/rating names to average (each min-max scaled). Default: the
    model if given, else numeric ``ratings`` (mean over criteria), else the first quality signal
    found among ``QUALITY_KEYS``. Records with none get the median of the others; when no record
    has any, every score is 1.0 and the source is ``"none"``.
    """
    n = len(records)
    if model is not None:
        return np.asarray(model.predict(records), dtype=np.float64), "model"
    if keys:
        cols = []
        for k in keys:
            vals = []
            for r in records:
                v = _signal(r, (k,))
                if v is None and isinstance(r.get("ratings"), dict):
                    v = _num(r["ratings"].get(k))
                vals.append(np.nan if v is None else v)
            cols.append(_minmax(np.asarray(vals, dtype=np.float64)))
        stacked = np.vstack(cols)
        counts = (~np.isnan(stacked)).sum(axis=0)
        q = np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)
        source = "+".join(keys)
    else:
        ratings = np.asarray([np.nan if (v := _rating(r)) is None else v for r in records], np.float64)
        if (~np.isnan(ratings)).any():
            q, source = _minmax(ratings), "ratings"
        else:
            sig = np.asarray([np.nan if (v := _signal(r, QUALITY_KEYS)) is None else v for r in records],
                             np.float64)
            q, source = _minmax(sig), "signals"
    if n and np.isnan(q).all():
        return np.ones(n), "none"
    if np.isnan(q).any():
        q = np.where(np.isnan(q), np.nanmedian(q), q)
    return q, source


_CONSTRAINT = re.compile(r"\b(must|should|at least|at most|no more than|exactly|without|include|"
                         r"including|format|list|step[- ]by[- ]step|explain|compare|each|only|"
                         r"do not|don't|words?|sentences?|paragraphs?|json|table)\b", re.I)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CONSTRAINT_ZH = re.compile(r"必须|应该|至少|至多|不超过|不少于|恰好|不要|不能|包括|包含|格式|列出|列表|"
                            r"逐步|一步一步|解释|比较|每个|只|字数|句子|段落|表格|JSON|要求|并且|同时")


def prompt_words(text: str) -> int:
    """Words of a prompt in any language: ``datamill.text.words`` (jieba for Chinese,
    SudachiPy for Japanese, spaCy-like rules otherwise), punctuation and spaces left out.
    Splitting on spaces makes ``计算 1 + 1 = ?`` five words and a long Chinese prompt one."""
    from datamill.text.words import is_punctuation, words

    cjk = len(_CJK.findall(text[:2000]))
    if cjk >= 2:
        lang = "ja" if re.search(r"[\u3040-\u30ff]", text[:2000]) else ("ko" if re.search(r"[\uac00-\ud7af]", text[:2000]) else "zh")
    else:
        lang = "en"
    return sum(1 for w in words(text, lang) if w.strip() and not is_punctuation(w))


def complexity_scores(records: Sequence[dict]) -> tuple[np.ndarray, str]:
    """Complexity in [0.1, 1] per record: a ``complexity`` signal when present (min-max scaled),
    else a heuristic on the prompt: 0.5 × log length in words (:func:`prompt_words`, any language) + 0.3 × constraint words + 0.2 × user turns
    (each min-max scaled over the input). Deita learns this with an LLM scorer; the heuristic is
    its cheap stand-in and can be replaced by tagging ``signals.complexity``."""
    n = len(records)
    sig = np.asarray([np.nan if (v := _signal(r, COMPLEXITY_KEYS)) is None else v for r in records], np.float64)
    if n and (~np.isnan(sig)).all():
        return 0.1 + 0.9 * _minmax(sig), "signals"
    lens, cons, turns = np.zeros(n), np.zeros(n), np.zeros(n)
    for i, r in enumerate(records):
        msgs = r.get("messages") or []
        text = " ".join(m.get("content") or "" for m in msgs if m.get("role") in ("user", "system"))
        lens[i] = math.log1p(prompt_words(text))
        cons[i] = math.log1p(len(_CONSTRAINT.findall(text)) + len(_CONSTRAINT_ZH.findall(text)))
        turns[i] = sum(1 for m in msgs if m.get("role") == "user")
    h = 0.5 * np.nan_to_num(_minmax(lens), nan=0.5) + 0.3 * np.nan_to_num(_minmax(cons), nan=0.5) \
        + 0.2 * np.nan_to_num(_minmax(turns), nan=0.5)
    if (~np.isnan(sig)).any():  # some records carry the signal: it wins where present
        h = np.where(np.isnan(sig), h, _minmax(sig))
        return 0.1 + 0.9 * h, "signals+heuristic"
    return 0.1 + 0.9 * h, "heuristic"
