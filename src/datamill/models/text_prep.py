"""How a document becomes one line of tokens for fastText (training and scoring alike).

fastText splits on whitespace, so Chinese and Japanese text (no spaces) is segmented first with
:func:`datamill.text.words.words` (jieba / Sudachi); in other text every punctuation mark or
symbol is made a token of its own by one regular-expression pass (:func:`spaced_tokens`; the
full word splitter of the rule filters costs five times more here and changes no decision of a
bag-of-n-grams model). Everything is lower-cased and put on one line. The
language is the record's own (``metadata.language``) when known, else guessed from the script:
a text with kana is Japanese, one with Han characters (and no kana) Chinese.
"""

from __future__ import annotations

import re

import regex

from datamill.text.words import CJK_LANGUAGES, base_language, words

_KANA = regex.compile(r"[\p{Hiragana}\p{Katakana}]")
_HAN = regex.compile(r"\p{Han}")
#: longer documents are cut (in characters) before segmenting: fastText averages word vectors,
#: so the first 20k characters decide as well as the rest, at a fraction of the cost
MAX_CHARS = 20_000


_PUNCT = re.compile(r"([^\w\s])")


def spaced_tokens(text: str) -> str:
    """Lower-cased ``text`` with punctuation split off, words separated by single spaces."""
    return " ".join(_PUNCT.sub(r" \1 ", text.lower()).split())


def script_language(text: str) -> str:
    sample = text[:2000]
    if _KANA.search(sample):
        return "ja"
    if _HAN.search(sample):
        return "zh"
    return "en"


def fasttext_line(text: str, language: str | None = None) -> str:
    text = (text or "")[:MAX_CHARS]
    lang = base_language(language) if language else ""
    if not lang or (lang not in CJK_LANGUAGES and _HAN.search(text[:2000])):
        lang = script_language(text)
    if lang not in CJK_LANGUAGES:
        return spaced_tokens(text)
    return " ".join(t for t in words(text.lower(), lang) if not t.isspace())
