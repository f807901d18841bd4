"""The record's language, for the rule-based quality steps; the per-language tables they use
live in :mod:`datamill.text.languages` (re-exported here for older imports).

The published rule sets (Gopher, C4, FineWeb) were written for English. Rules that measure
words need a word splitter per language (see :mod:`datamill.text.words`); rules that name
English words (Gopher's stop words, C4's policy phrases) need per-language lists, and where we
have none the rule is skipped rather than dropping every document of that language.
"""

from __future__ import annotations

from datamill.text.languages import (  # noqa: F401  (the tables' home is datamill.text.languages)
    BULLETS,
    C4_ELLIPSES,
    C4_ELLIPSES_CJK,
    C4_END_PUNCT,
    C4_END_PUNCT_CJK,
    C4_POLICY,
    C4_POLICY_EXTRA,
    CJK_LANGUAGES,
    SHORT_WORD_LANGUAGES,
    STOP_WORDS,
    UNSEGMENTED_LANGUAGES,
    base_language,
    is_cjk,
    record_language,
)
