"""Turn rankings into pairs and pairs into KTO samples.

* :func:`ranking_to_pairs` — a ``ranking`` record (responses with ``rank``, 1 best) becomes
  preference pairs: ``mode="pairs"`` every (better, worse) pair of different ranks
  (n·(n−1)/2 at most, as the InstructGPT reward-model recipe uses), ``mode="best-worst"`` the
  single pair best vs worst (what UltraFeedback-style binarisation keeps). Ties make no pair.
* :func:`pair_to_kto` — a ``preference`` record becomes two KTO samples: the chosen answer
  labelled desirable and the rejected one undesirable (KTO's paired-to-unpaired recipe).

Ids get a suffix (``#p1-3`` for ranks 1 and 3, ``#chosen``/``#rejected``); the original id is
kept in ``metadata["origin_id"]``. Records of other kinds pass through unchanged.
"""

from __future__ import annotations

import copy
from typing import Iterable, Iterator

RANKING_MODES = ("pairs", "best-worst")


def _ranked(record: dict) -> list[tuple[int, int, dict]]:
    out = []
    for i, r in enumerate(record.get("responses") or []):
        if isinstance(r, dict) and isinstance(r.get("rank"), int) and r.get("messages"):
            out.append((r["rank"], i, r))
    return sorted(out, key=lambda t: (t[0], t[1]))


def _derived(record: dict, suffix: str, kind: str, **fields) -> dict:
    meta = copy.deepcopy(record.get("metadata") or {})
    meta["origin_id"] = record.get("id")
    out = {"id": f"{record.get('id')}#{suffix}", "kind": kind, "messages": copy.deepcopy(record.get("messages") or []),
           "metadata": meta}
    for k in ("tools", "ratings", "signals"):
        if k in record:
            out[k] = copy.deepcopy(record[k])
    out.update(fields)
    return out


def ranking_to_pairs(record: dict, mode: str = "pairs") -> list[dict]:
    """Preference pairs from one ranking record (see the module doc)."""
    if mode not in RANKING_MODES:
        raise ValueError(f"ranking mode must be one of {', '.join(RANKING_MODES)}, not {mode!r}")
    if record.get("kind") != "ranking":
        return [record]
    ranked = _ranked(record)
    if len(ranked) < 2:
        return []
    if mode == "best-worst":
        (rb, _, best), (rw, _, worst) = ranked[0], ranked[-1]
        if rb == rw:
            return []
        return [_derived(record, f"p{rb}-{rw}", "preference", chosen=copy.deepcopy(best["messages"]),
                         rejected=copy.deepcopy(worst["messages"]))]
    out = []
    for a in range(len(ranked)):
        for b in range(a + 1, len(ranked)):
            (ra, _, good), (rb, _, bad) = ranked[a], ranked[b]
            if ra < rb:
                out.append(_derived(record, f"p{ra}-{rb}", "preference", chosen=copy.deepcopy(good["messages"]),
                                    rejected=copy.deepcopy(bad["messages"])))
    return out


def pair_to_kto(record: dict) -> list[dict]:
    """Two KTO samples from one preference pair (chosen desirable, rejected undesirable)."""
    if record.get("kind") != "preference":
        return [record]
    return [_derived(record, "chosen", "kto", completion=copy.deepcopy(record.get("chosen") or []), label=True),
            _derived(record, "rejected", "kto", completion=copy.deepcopy(record.get("rejected") or []), label=False)]


def reshape(records: Iterable[dict], *, ranking_to: str | None = None, to_kto: bool = False) -> Iterator[dict]:
    """Apply :func:`ranking_to_pairs` (with ``ranking_to``) then :func:`pair_to_kto` (``to_kto``)."""
    for rec in records:
        recs = ranking_to_pairs(rec, ranking_to) if ranking_to else [rec]
        for r in recs:
            yield from (pair_to_kto(r) if to_kto else [r])
