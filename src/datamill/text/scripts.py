"""Which writing system a text is in, and which languages write it.

``dominant_script(text)`` names the script most of the text's letters belong to (Unicode
``Script`` property, read with the ``regex`` package), or ``None`` when no script holds half the
letters. Three CJK cases are decided on the mix, as a reader would:

* ``Hangul`` — hangul is at least 30 % of the CJK letters (Korean may mix in Han characters);
* ``Kana`` — hiragana/katakana letters are at least 5 % of Han + kana (Japanese; Chinese never
  uses kana; the prolonged-sound mark ー and the middle dot ・ do not count, Chinese text has
  them too);
* ``Han`` — Han characters with no kana: Chinese, or Japanese written in kanji only.

``SCRIPT_LANGUAGES`` maps a script to the fastText lid.176 labels written in it, most common
first. A script with one language (Greek, Thai, Hangul, Armenian, Georgian, most Indic scripts)
decides the language by itself; a script with several narrows the choice. Latin is absent: it
says nothing useful. Only a prefix of ``max_chars`` characters is read; text whose letters are all
Latin costs one regex search.
"""

from __future__ import annotations

from collections import Counter

import regex

__all__ = ["SCRIPT_LANGUAGES", "dominant_from_counts", "dominant_script", "script_counts"]

#: script -> lid.176 labels written in it, the usual one first.
SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "Hangul": ("ko",),
    "Kana": ("ja",),
    "Han": ("zh", "ja", "wuu", "yue"),
    "Thai": ("th",),
    "Greek": ("el",),
    "Armenian": ("hy",),
    "Georgian": ("ka", "xmf"),
    "Hebrew": ("he", "yi"),
    "Gujarati": ("gu",),
    "Tamil": ("ta",),
    "Telugu": ("te",),
    "Gurmukhi": ("pa",),
    "Kannada": ("kn",),
    "Malayalam": ("ml",),
    "Sinhala": ("si",),
    "Lao": ("lo",),
    "Khmer": ("km",),
    "Myanmar": ("my",),
    "Tibetan": ("bo",),
    "Oriya": ("or",),
    "Thaana": ("dv",),
    "Ethiopic": ("am",),
    "Bengali": ("bn", "as", "bpy"),
    "Devanagari": ("hi", "mr", "ne", "sa", "mai", "bh", "new", "gom", "dty"),
    "Cyrillic": ("ru", "uk", "bg", "sr", "mk", "be", "kk", "ky", "tg", "tt", "ba", "cv", "ce", "os",
                 "sah", "mn", "mhr", "mrj", "myv", "kv", "krc", "lez", "av", "bxr", "tyv", "xal",
                 "rue", "sh", "uz"),
    "Arabic": ("ar", "fa", "ur", "arz", "ps", "ckb", "sd", "ug", "azb", "mzn", "lrc", "pnb", "ku"),
}

_KANA_LETTERS = r"[\p{Hiragana}\p{Katakana}--[ー・･]]"
_PATTERNS = {name: regex.compile(r"\p{Script=%s}" % name) for name in SCRIPT_LANGUAGES
             if name not in ("Kana", "Han")}
_PATTERNS["Han"] = regex.compile(r"\p{Script=Han}")
_PATTERNS["Kana"] = regex.compile(_KANA_LETTERS, regex.V1)
_LETTER = regex.compile(r"\p{L}")
_NOT_LATIN_LETTER = regex.compile(r"[\p{L}--\p{Latin}]", regex.V1)

MIN_SHARE = 0.5  # of the letters, for a script to be the text's
MIN_HANGUL_SHARE = 0.3  # of the CJK letters, for Korean
MIN_KANA_SHARE = 0.05  # of Han + kana, for Japanese


def script_counts(text: str, max_chars: int = 2000) -> tuple[Counter, int]:
    """(letters per script among ``SCRIPT_LANGUAGES``, all letters) in the first ``max_chars``;
    ``(empty, 0)`` when every letter is Latin."""
    head = text[:max_chars]
    counts: Counter = Counter()
    if head.isascii() or _NOT_LATIN_LETTER.search(head) is None:
        return counts, 0  # only Latin letters (their number is not needed then)
    letters = len(_LETTER.findall(head))
    if letters:
        for name, pattern in _PATTERNS.items():
            k = len(pattern.findall(head))
            if k:
                counts[name] = k
    return counts, letters


def dominant_script(text: str, max_chars: int = 2000) -> str | None:
    """The script of most of the text's letters (see the module docstring), or ``None``."""
    return dominant_from_counts(*script_counts(text, max_chars))


def dominant_from_counts(counts: Counter, letters: int) -> str | None:
    """:func:`dominant_script` from :func:`script_counts`' result."""
    if not counts:
        return None
    han, kana, hangul = counts["Han"], counts["Kana"], counts["Hangul"]
    cjk = han + kana + hangul
    if cjk and cjk >= MIN_SHARE * letters:
        if hangul >= MIN_HANGUL_SHARE * cjk:
            return "Hangul"
        if kana and kana >= MIN_KANA_SHARE * (han + kana):
            return "Kana"
        if han >= MIN_SHARE * letters:
            return "Han"
    name, k = max(counts.items(), key=lambda kv: kv[1])
    if name in ("Kana", "Han", "Hangul"):
        return None  # a CJK mix that passed none of the rules above
    return name if k >= MIN_SHARE * letters else None
