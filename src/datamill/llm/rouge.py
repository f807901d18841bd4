"""ROUGE-L (F-measure of the longest common subsequence), for self-instruct's novelty filter.

Tokens are lower-cased words for space-delimited scripts and single characters for Han, kana
and hangul, so Chinese is compared character by character (Wang et al. 2022 use ROUGE-L on
words; for Chinese, characters are the usual unit). Written here rather than taken from
``rouge-score`` because that package's tokenizer drops every non-ASCII character, which makes
any two Chinese sentences score 0.
"""

from __future__ import annotations

import regex

_TOKEN = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]|[\p{L}\p{N}]+", regex.V1)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def lcs_length(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else (prev[j] if prev[j] > cur[j - 1] else cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(a: str | list[str], b: str | list[str]) -> float:
    ta = tokens(a) if isinstance(a, str) else a
    tb = tokens(b) if isinstance(b, str) else b
    if not ta or not tb:
        return 0.0
    lcs = lcs_length(ta, tb)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(tb), lcs / len(ta)
    return 2 * p * r / (p + r)


class RougePool:
    """The growing pool of instructions a new one is compared with (tokens kept once)."""

    def __init__(self, texts: list[str] | None = None):
        self._pool: list[list[str]] = []
        for t in texts or ():
            self.add(t)

    def add(self, text: str) -> None:
        self._pool.append(tokens(text))

    def __len__(self) -> int:
        return len(self._pool)

    def max_score(self, text: str) -> float:
        t = tokens(text)
        best = 0.0
        st = set(t)
        for other in self._pool:
            # an upper bound from shared tokens skips most of the O(n*m) comparisons
            common = sum(1 for x in other if x in st)
            if not common or not t:
                continue
            bound = 2 * common / (len(t) + len(other))
            if bound <= best:
                continue
            best = max(best, rouge_l(t, other))
        return best
