"""The record's language, for the rule-based quality steps; the per-language tables they use
live in :mod:`datamill.text.languages` (re-exported here for older imports).

The published rule sets (Gopher, C4, FineWeb) were written for English. Rules that measure
words need a word splitter per language (see :mod:`datamill.text.words`); rules that name
English words (Gopher's stop words, C4's policy phrases) need per-language lists, and where we
have none the rule is skipped rather than dropping every document of that language.
"""

from __future__ import annotations

from typing import Any

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
)

def record_language(record: dict[str, Any], default: str | None) -> str:
    """The record's base language code: ``metadata["language"]`` (where language ID writes
    it), else a flat ``signals["language"]`` (outputs written before the signals layout),
    else ``default`` (``""`` when none)."""
    lang = (record.get("metadata") or {}).get("language")
    if not lang:
        lang = (record.get("signals") or {}).get("language")
    if isinstance(lang, dict):  # {"code": ..., "score": ...}
        lang = lang.get("code") or lang.get("language")
    return base_language(lang or default)


