"""The numbers a report plots: every numeric signal (dotted path under ``signals``, as
``signal_filter`` names it), lengths, categorical fields (language, domain, source), and for
post-training data turns, roles, kinds and ratings per criterion."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# words, counting each CJK character (Han, kana, Hangul syllable) as one: a tokenizer-free proxy
TOKEN_PATTERN = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]|[^\s\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+"
CATEGORY_LIMIT = 30


@dataclass
class Profile:
    records: int
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # signals.* and lengths
    categorical: dict[str, Counter] = field(default_factory=dict)
    post: dict[str, Any] = field(default_factory=dict)

    def signal_names(self) -> list[str]:
        return sorted(k for k in self.numeric if k.startswith("signals."))


def _leaves(col, prefix: str, out: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = col.type
    if pa.types.is_struct(typ):
        for i in range(typ.num_fields):
            _leaves(pc.struct_field(col, [i]), f"{prefix}.{typ.field(i).name}", out)
    elif pa.types.is_boolean(typ) or pa.types.is_integer(typ) or pa.types.is_floating(typ):
        values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        if np.isfinite(values).any():
            out[prefix] = values
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        out[prefix] = col.to_pylist()


def _text_lengths(col) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    col = pc.fill_null(col.cast(pa.string()), "")
    chars = pc.utf8_length(col).to_numpy(zero_copy_only=False).astype(float)
    tokens = pc.count_substring_regex(col, TOKEN_PATTERN).to_numpy(zero_copy_only=False).astype(float)
    return chars, tokens


def _domains(urls: list) -> list[str | None]:
    """Registered domain (last two host labels) of each URL, in Arrow's RE2."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array([u if isinstance(u, str) else None for u in urls], pa.string())
    host = pc.struct_field(pc.extract_regex(arr, r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/]*@)?(?P<h>[^/:?#]+)"), [0])
    last2 = pc.struct_field(pc.extract_regex(pc.utf8_lower(host), r"(?P<d>[^.]+\.[^.]+|[^.]+)$"), [0])
    return last2.to_pylist()


def _struct_field(table, column: str, name: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in table.column_names:
        return None
    typ = table.schema.field(column).type
    if not pa.types.is_struct(typ) or typ.get_field_index(name) < 0:
        return None
    return pc.struct_field(table.column(column), [typ.get_field_index(name)]).to_pylist()


def compute_profile(table) -> Profile:
    prof = Profile(records=table.num_rows)
    if "signals" in table.column_names:
        leaves: dict[str, Any] = {}
        _leaves(table.column("signals").combine_chunks(), "signals", leaves)
        for name, values in leaves.items():
            if isinstance(values, np.ndarray):
                prof.numeric[name] = values
    if "text" in table.column_names:
        chars, tokens = _text_lengths(table.column("text"))
        prof.numeric["length.characters"] = chars
        prof.numeric["length.tokens"] = tokens
    languages = _struct_field(table, "signals", "language") or _struct_field(table, "metadata", "language")
    if languages is not None:
        _categorical(prof, "language", [v if isinstance(v, str) else None for v in languages])
    urls = _struct_field(table, "metadata", "url")
    if urls is not None and any(urls):
        _categorical(prof, "domain", _domains(urls))
    sources = _struct_field(table, "metadata", "source")
    if sources is None and "source" in table.column_names:
        sources = table.column("source").to_pylist()
    if sources is not None and any(sources):
        _categorical(prof, "source", [os.path.basename(str(s)) if s else None for s in sources])
    if "messages" in table.column_names:
        _post_profile(table, prof)
    return prof


def _categorical(prof: Profile, name: str, values: list[str | None]) -> None:
    values = [v if v else "(none)" for v in values]
    prof.categorical[name] = Counter(values)


def _post_profile(table, prof: Profile) -> None:
    from datamill.post.schema import prompt_text, response_text

    rows = table.select([c for c in ("kind", "messages", "chosen", "rejected", "completion", "label", "ratings")
                         if c in table.column_names]).to_pylist()
    turns, prompt_len, answer_len, rejected_len = [], [], [], []
    roles: Counter = Counter()
    kinds: Counter = Counter()
    labels: Counter = Counter()
    ratings: dict[str, list[float]] = {}
    prompts: list[str] = []
    for r in rows:
        msgs = r.get("messages") or []
        kinds[r.get("kind") or "sft"] += 1
        turns.append(len(msgs) + len(r.get("chosen") or r.get("completion") or []))
        for m in msgs + (r.get("chosen") or []) + (r.get("completion") or []):
            roles[(m or {}).get("role") or "?"] += 1
        p = prompt_text(r)
        prompts.append(p)
        prompt_len.append(len(p))
        answer_len.append(len(response_text(r)))
        if r.get("rejected"):
            rejected_len.append(sum(len((m or {}).get("content") or "") for m in r["rejected"]))
        if r.get("label") is not None:
            labels["desirable" if r["label"] else "undesirable"] += 1
        for k, v in (r.get("ratings") or {}).items():
            if isinstance(v, (int, float)):
                ratings.setdefault(k, []).append(float(v))
    prof.numeric["post.turns"] = np.array(turns, float)
    prof.numeric["post.prompt_characters"] = np.array(prompt_len, float)
    prof.numeric["post.answer_characters"] = np.array(answer_len, float)
    if rejected_len:
        prof.numeric["post.rejected_characters"] = np.array(rejected_len, float)
    _categorical(prof, "kind", [r.get("kind") or "sft" for r in rows])
    prof.post = {"roles": roles, "kinds": kinds, "labels": labels,
                 "ratings": {k: np.array(v) for k, v in ratings.items()}, "prompts": prompts}
