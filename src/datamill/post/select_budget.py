"""Selection budgets: a number of records, a number of tokens, or both (whichever is reached
first). With a token budget a record that does not fit what is left is passed over, and smaller
ones may still be kept."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from datamill.core.errors import DatamillError


class SelectionError(DatamillError):
    """A selection that cannot run (bad budget, unknown method, wrong embedding shape…)."""


class Budget:
    """Counts records and tokens; ``fits(cost)`` says whether one more record fits."""

    def __init__(self, n_records: int | None, n_tokens: int | None, costs: np.ndarray | None):
        if n_records is None and n_tokens is None:
            raise SelectionError("give a budget: a number of records, a number of tokens, or both")
        if n_records is not None and n_records < 0 or n_tokens is not None and n_tokens < 0:
            raise SelectionError("a budget cannot be negative")
        if n_tokens is not None and costs is None:
            raise SelectionError("a token budget needs the token count of every record")
        self.n_records, self.n_tokens, self.costs = n_records, n_tokens, costs
        self.records = 0
        self.tokens = 0

    def full(self) -> bool:
        return (self.n_records is not None and self.records >= self.n_records) or (
            self.n_tokens is not None and self.tokens >= self.n_tokens)

    def left_tokens(self) -> float:
        return math.inf if self.n_tokens is None else self.n_tokens - self.tokens

    def fits(self, i: int) -> bool:
        return self.n_tokens is None or self.costs[i] <= self.n_tokens - self.tokens

    def take(self, i: int) -> None:
        self.records += 1
        if self.costs is not None:
            self.tokens += int(self.costs[i])


def _take_in_order(order: Sequence[int] | np.ndarray, b: "Budget") -> list[int]:
    """Walk ``order`` and keep what fits the budget left, until it is full."""
    out = []
    for i in order:
        if b.full():
            break
        if b.fits(int(i)):
            out.append(int(i))
            b.take(int(i))
    return out



_Budget = Budget
