"""Gopher's n-gram repetition statistics for all sizes at once, on integer ids (NumPy).

``repetition_chars(tokens, top_sizes, dup_sizes)`` gives what ``_top_ngram_chars`` and
``_dup_ngram_chars`` of :mod:`gopher_repetition` give, for every size, with the same
tie-breaking (the first n-gram to reach the top count): each token gets an integer id (where it first occurs),
each n-gram the rank of the pair ((n-1)-gram rank, last token id), so an n-gram is one
integer and counting is a sort (``numpy.unique``) instead of hashing tuples of strings. Only
the left-to-right walk over duplicated positions stays in Python, and it visits only the
positions whose n-gram occurs more than once. Exact: no hashing, no collisions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["repetition_chars"]


def repetition_chars(tokens: tuple[str, ...], top_sizes, dup_sizes
                     ) -> tuple[dict[int, int | None], dict[int, int | None]]:
    """``({n: top n-gram chars}, {n: duplicated n-gram chars})`` (``None`` where the text has
    fewer than n tokens).

    Only the positions whose (n-1)-gram occurs more than once can start an n-gram that does:
    each size works on the repeated positions of the size before (``live``), so the work
    shrinks with n instead of sorting every position again (5- to 10-grams that repeat are
    few in most texts)."""
    n_tok = len(tokens)
    top: dict[int, int | None] = {n: None for n in top_sizes}
    dup: dict[int, int | None] = {n: None for n in dup_sizes}
    wanted = set(top) | set(dup)
    if not wanted or n_tok == 0:
        return top, dup
    # a token's id is the position of its first occurrence (one C-level pass, no Python loop)
    index: dict[str, int] = {}
    ids = np.fromiter(map(index.setdefault, tokens, range(n_tok)), np.int64, n_tok)
    vocab = n_tok
    cum = np.zeros(n_tok + 1, np.int64)
    np.cumsum(np.fromiter(map(len, tokens), np.int64, n_tok), out=cum[1:])
    n_max = min(max(wanted), n_tok)
    live = np.arange(n_tok)  # positions whose (n-1)-gram repeats (all, for n = 1)
    rank = ids  # the rank of the n-gram at each live position
    for n in range(1, n_max + 1):
        if n > 1:
            live_rank = rank
            keep = live <= n_tok - n  # an n-gram must fit in the text
            live, live_rank = live[keep], live_rank[keep]
            if live.size:
                _, rank = np.unique(live_rank * vocab + ids[live + n - 1], return_inverse=True)
                rank = rank.reshape(-1)
            else:
                rank = live_rank
        counts = np.bincount(rank) if live.size else np.zeros(0, np.int64)
        at = counts[rank]  # how often the n-gram at each live position occurs
        repeated = at > 1
        if n in top:
            if repeated.any():
                c = int(counts.max())
                i = int(live[np.argmax(at == c)])  # the first n-gram with the top count
            else:  # every n-gram occurs once: the first one is the top
                c, i = 1, 0
            top[n] = (int(cum[i + n] - cum[i]) + n - 1) * c
        live, rank = live[repeated], rank[repeated]
        if n in dup:
            dup[n] = _walk(rank, live.tolist(), cum, n)
        if not live.size:  # nothing repeats at this size: nor at any larger one
            break
    for n in wanted:  # sizes past the last repeated n-gram: nothing repeats
        if n <= n_tok:
            if n in dup and dup[n] is None:
                dup[n] = 0
            if n in top and top[n] is None:
                top[n] = int(cum[n] - cum[0]) + n - 1
    return top, dup


def _walk(rank: np.ndarray, positions: list[int], cum: np.ndarray, n: int) -> int:
    """Gopher's walk: left to right, a duplicate n-gram's characters count once and the walk
    skips past it."""
    if not positions:
        return 0
    grams = rank.tolist()
    starts = cum[positions].tolist()
    ends = cum[np.asarray(positions) + n].tolist()
    seen: set[int] = set()
    chars = 0
    next_free = 0
    for i, g, s, e in zip(positions, grams, starts, ends):
        if i < next_free:
            continue
        if g in seen:
            chars += e - s
            next_free = i + n
        else:
            seen.add(g)
    return chars
