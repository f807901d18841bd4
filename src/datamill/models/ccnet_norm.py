"""Text normalisation before counting n-grams, as CCNet does for its KenLM models.

CCNet (Wenzek et al. 2019) lower-cases, strips accents, maps every digit to ``0``, maps
Unicode punctuation to ASCII and removes non-printing characters before scoring a line; we do
the same (our own table, not CCNet's code), then split into words: Chinese and Japanese with
:func:`datamill.text.words.words` (jieba / Sudachi), so the model counts words, not whole
sentences; other text on spaces with punctuation split off (:func:`.text_prep.spaced_tokens`). Training and scoring share this function.
"""

from __future__ import annotations

import unicodedata

import regex

from datamill.models.text_prep import script_language, spaced_tokens
from datamill.text.words import CJK_LANGUAGES, base_language, words

_DIGITS = regex.compile(r"\p{Nd}")
_NON_PRINTING = regex.compile(r"[\p{Cc}\p{Cf}]")
_SPACES = regex.compile(r"\s+")

#: Unicode punctuation to its ASCII counterpart (full-width CJK marks included)
_PUNCT = str.maketrans({
    "，": ",", "。": ".", "、": ",", "；": ";", "：": ":", "？": "?", "！": "!", "（": "(", "）": ")",
    "【": "[", "】": "]", "《": '"', "》": '"', "「": '"', "」": '"', "『": '"', "』": '"',
    "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "´": "'",
    "–": "-", "—": "-", "―": "-", "…": "...", "·": ".", "・": ".", "～": "~", "％": "%",
    "＂": '"', "＇": "'", "＃": "#", "＆": "&", "＊": "*", "＋": "+", "－": "-", "／": "/",
    "＜": "<", "＝": "=", "＞": ">", "＠": "@", "＼": "\\", "＾": "^", "＿": "_", "｀": "`",
    "｛": "{", "｜": "|", "｝": "}", "［": "[", "］": "]", "\u00a0": " ", "\u3000": " ",
})


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    out = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", out)


def normalize_line(line: str) -> str:
    """CCNet's normalisation of one line (no word splitting)."""
    line = line.strip().lower()
    line = strip_accents(line)
    line = _DIGITS.sub("0", line)
    line = line.translate(_PUNCT)
    line = _NON_PRINTING.sub("", line)
    return _SPACES.sub(" ", line).strip()


def lm_tokens(line: str, language: str | None = None) -> str:
    """One normalised line as space-separated words, ready for lmplz or ``kenlm.Model.score``."""
    norm = normalize_line(line)
    if not norm:
        return ""
    lang = base_language(language) if language else ""
    if lang not in CJK_LANGUAGES:
        lang = script_language(norm)
    if lang not in CJK_LANGUAGES:
        return spaced_tokens(norm)
    return " ".join(t for t in words(norm, lang) if not t.isspace())


def document_lines(text: str, language: str | None = None) -> list[str]:
    """The non-empty normalised, tokenised lines of a document."""
    out = []
    for raw in text.splitlines():
        tokens = lm_tokens(raw, language)
        if tokens:
            out.append(tokens)
    return out
