"""Counting listed bad words in a text, language-aware (for the ``toxicity`` tagger).

Lists are LDNOOBW-style files (one entry a line, a file per language code) in a folder the user
names (for example ``../shared/data/badwords/ldnoobw``): nothing is shipped or downloaded here.

Words are matched on word boundaries in every language: text is split with
:func:`datamill.text.words.words` (jieba for Chinese, Sudachi for Japanese, the regex splitter
elsewhere) and each list entry is split the same way, so an entry matches a run of whole tokens,
never the inside of a longer word (``性`` inside ``性格`` is not a match in Chinese, nor ``ass``
inside ``class`` in English).
"""

from __future__ import annotations

import os
from functools import lru_cache

from datamill.text.words import CJK_LANGUAGES, base_language, words


class BadWordList:
    def __init__(self, entries: list[str], language: str):
        self.language = language
        self.split_lang = language if language in CJK_LANGUAGES else "en"
        self.single: frozenset[str] = frozenset()
        self.multi: dict[str, list[tuple[str, ...]]] = {}
        single = set()
        for entry in entries:
            toks = tuple(t for t in words(entry.lower(), self.split_lang) if not t.isspace())
            if not toks:
                continue
            if len(toks) == 1:
                single.add(toks[0])
            else:
                self.multi.setdefault(toks[0], []).append(toks)
        self.single = frozenset(single)

    def count(self, text: str) -> tuple[int, int, list[str]]:
        """(matches, words, the distinct matched entries) for ``text``."""
        toks = [t for t in words(text.lower(), self.split_lang) if not t.isspace()]
        hits: list[str] = []
        for i, tok in enumerate(toks):
            if tok in self.single:
                hits.append(tok)
            for phrase in self.multi.get(tok, ()):
                if tuple(toks[i:i + len(phrase)]) == phrase:
                    hits.append(("" if self.split_lang in CJK_LANGUAGES else " ").join(phrase))
        return len(hits), len(toks), sorted(set(hits))


@lru_cache(maxsize=64)
def load_list(folder: str, language: str) -> BadWordList | None:
    """The list for ``language`` in ``folder`` (file named by the language code), or None."""
    lang = base_language(language)
    path = os.path.join(folder, lang)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        entries = [line.strip() for line in fh if line.strip() and not line.startswith("#")]
    return BadWordList(entries, lang)
