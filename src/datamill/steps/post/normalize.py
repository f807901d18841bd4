"""``post_normalize``: tidy the text of every message without changing what it says.

Post-training data collected from many sources carries invisible noise that trips the checks
after it: a non-breaking space makes lid.176 score clearly Chinese text 0, a zero-width space
splits a word, and BELLE/Alpaca-zh style answers start with a blank line (827 of 994 kept
answers in one Chinese set). For every message ``content`` (and reasoning) of every side:

* ``newlines``: ``\\r\\n`` and lone ``\\r`` become ``\\n``;
* ``nbsp``: no-break spaces (U+00A0, U+202F narrow, U+2007 figure) become a plain space; the
  ideographic space U+3000 is real Chinese typography and is kept;
* ``zero_width``: U+200B zero-width space, U+2060 word joiner, U+FEFF byte-order mark and
  U+00AD soft hyphen are removed. U+200C/U+200D (ZWNJ/ZWJ) are kept: Persian and Hindi words
  and emoji sequences need them;
* ``strip``: leading blank lines and trailing whitespace are removed (leading spaces of the first
  line are kept: they may indent code); ``max_blank_lines`` caps runs of empty lines (default 2).

Code blocks are normalised too: code rarely holds
these characters on purpose and a no-break space in code is a syntax error, so every part is
normalised. The step counts what it changed in ``signals["normalized"]`` (``{kind: n}``,
only when something changed).
"""

from __future__ import annotations

import re
from collections import Counter

from datamill.core.record import Record
from datamill.core.step import Transform, register
from datamill.post.walk import iter_messages
from datamill.steps.post.sides import set_signals

NBSP = "\u00a0\u202f\u2007"
ZERO_WIDTH = "\u200b\u2060\ufeff\u00ad"
_NBSP_RE = re.compile(f"[{NBSP}]")
_ZW_RE = re.compile(f"[{ZERO_WIDTH}]")
_LEADING_BLANK = re.compile(r"\A(?:[ \t]*\n)+")


def normalize_text(text: str, *, newlines: bool = True, nbsp: bool = True, zero_width: bool = True,
                   strip: bool = True, max_blank_lines: int | None = 2,
                   counts: Counter | None = None) -> str:
    """``text`` tidied as the module doc says; ``counts`` (if given) gets what changed."""
    counts = counts if counts is not None else Counter()
    if newlines and "\r" in text:
        counts["newlines"] += 1
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if nbsp:
        text, n = _NBSP_RE.subn(" ", text)
        if n:
            counts["nbsp"] += n
    if zero_width:
        text, n = _ZW_RE.subn("", text)
        if n:
            counts["zero_width"] += n
    if strip:
        new = _LEADING_BLANK.sub("", text)
        if new != text:
            counts["leading_blank_lines"] += 1
        stripped = new.rstrip()
        if stripped != new:
            counts["trailing_whitespace"] += 1
        text = stripped
    if max_blank_lines is not None and "\n\n" in text:
        pattern = r"\n(?:[ \t]*\n){%d,}" % (max_blank_lines + 1)
        text, n = re.subn(pattern, "\n" * (max_blank_lines + 1), text)
        if n:
            counts["blank_lines"] += n
    return text


@register("post_normalize")
class PostNormalize(Transform):
    """Normalise whitespace, no-break and zero-width characters, leading blank lines."""

    def __init__(self, newlines: bool = True, nbsp: bool = True, zero_width: bool = True,
                 strip: bool = True, max_blank_lines: int | None = 2,
                 roles: list[str] | None = None) -> None:
        if max_blank_lines is not None and max_blank_lines < 0:
            raise ValueError(f"max_blank_lines must be >= 0 or null, got {max_blank_lines}")
        self.newlines = newlines
        self.nbsp = nbsp
        self.zero_width = zero_width
        self.strip = strip
        self.max_blank_lines = max_blank_lines
        self.roles = frozenset(roles) if roles else None

    def _norm(self, text: str, counts: Counter) -> str:
        return normalize_text(text, newlines=self.newlines, nbsp=self.nbsp, zero_width=self.zero_width,
                              strip=self.strip, max_blank_lines=self.max_blank_lines, counts=counts)

    def transform(self, record: Record) -> Record:
        counts: Counter = Counter()
        for _, msg in iter_messages(record):
            if self.roles is not None and msg.get("role") not in self.roles:
                continue
            for key in ("content", "reasoning"):
                value = msg.get(key)
                if isinstance(value, str) and value:
                    new = self._norm(value, counts)
                    if new != value:
                        msg[key] = new
        if counts:
            set_signals(record, self.label, normalized=dict(counts))
        return record
