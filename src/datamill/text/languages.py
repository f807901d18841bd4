"""Per-language tables, in one place: language codes, which languages are written without
spaces or with short words, stop words, and the per-language constants of the rule sets (C4's
terminal punctuation and policy phrases, bullet marks).

The published rule sets (Gopher, C4, FineWeb) were written for English. Rules that measure
words need a word splitter per language (:mod:`datamill.text.words`); rules that name English
words (Gopher's stop words, C4's policy phrases) need per-language lists, and where we have
none the rule is skipped rather than dropping every document of that language.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_ISO3_TO_1 = {
    "eng": "en", "cmn": "zh", "zho": "zh", "chi": "zh", "jpn": "ja", "kor": "ko", "tha": "th",
    "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es", "ita": "it", "por": "pt",
    "nld": "nl", "dut": "nl", "rus": "ru", "pol": "pl", "tur": "tr", "ara": "ar", "vie": "vi",
    "ind": "id", "ces": "cs", "swe": "sv", "dan": "da", "fin": "fi", "nob": "no", "nor": "no",
    "ukr": "uk", "hun": "hu", "ell": "el", "heb": "he", "hin": "hi", "fas": "fa", "per": "fa",
    "lao": "lo", "khm": "km", "mya": "my", "bur": "my",
}
_CHINESE = frozenset({"zh", "yue", "wuu", "gan", "hak", "nan", "lzh", "cdo", "hsn"})
CJK_LANGUAGES = frozenset(_CHINESE | {"ja", "ko"})
_NO_SPACES = frozenset({"th", "lo", "km", "my", "bo"})  # no word segmenter shipped


@functools.lru_cache(maxsize=512)
def base_language(language: str | None) -> str:
    """``"zh-Hans"``, ``"zho_Hans"``, ``"cmn"``, ``"ZH"`` -> ``"zh"``; ``None`` -> ``""``."""
    if not language:
        return ""
    code = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
    return _ISO3_TO_1.get(code, code)


#: Languages written without spaces whose words dedup and decontamination cut into characters.
CHAR_LANGUAGES = frozenset((CJK_LANGUAGES - {"ko"}) | _NO_SPACES)

#: Gopher's stop words for English (Rae et al. 2021, appendix A) and, for other languages, the
#: most frequent function words of that language (as its word splitter produces them). The
#: rule asks for at least ``min_stop_words`` *distinct* ones, compared in lower case.
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),
    "zh": frozenset({"的", "了", "在", "是", "和", "有", "也", "就", "不", "这", "我", "都"}),
    "ja": frozenset({"の", "は", "に", "を", "が", "と", "で", "た", "て", "し", "も", "な"}),
    "de": frozenset({"der", "die", "das", "und", "zu", "den", "von", "mit", "ist", "nicht"}),
    "fr": frozenset({"le", "la", "les", "de", "et", "des", "est", "que", "un", "une"}),
    "es": frozenset({"de", "la", "que", "el", "en", "y", "los", "se", "las", "por"}),
    "it": frozenset({"di", "che", "il", "la", "e", "per", "un", "non", "in", "è"}),
    "pt": frozenset({"de", "que", "não", "o", "a", "e", "do", "da", "em", "para"}),
    "nl": frozenset({"de", "het", "een", "en", "van", "is", "dat", "op", "te", "in"}),
    "ru": frozenset({"и", "в", "не", "на", "что", "с", "по", "как", "это", "я"}),
    "pl": frozenset({"i", "w", "nie", "na", "się", "z", "że", "do", "to", "jest"}),
}

#: Languages whose words are not separated by spaces and are short (one to three characters):
#: Gopher's mean-word-length rule (3..10 characters) does not apply to them.
SHORT_WORD_LANGUAGES = frozenset(CJK_LANGUAGES | {"th", "lo", "km", "my", "bo"})

#: Languages for which no word segmenter is shipped: word-count rules are skipped.
UNSEGMENTED_LANGUAGES = frozenset({"th", "lo", "km", "my", "bo"})

#: C4's terminal punctuation (``. ? ! " '``); CJK languages also end sentences with full-width
#: marks and closing quotes.
C4_END_PUNCT = (".", "?", "!", '"', "'")
C4_END_PUNCT_CJK = C4_END_PUNCT + ("。", "！", "？", "｡", "．", "”", "」", "』")
C4_ELLIPSES = ("...",)
C4_ELLIPSES_CJK = ("...", "…")

#: C4's policy phrases (lines naming them are removed), with Chinese and Japanese equivalents
#: for pages in those languages (English phrases apply to every language).
C4_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
             "use of cookies", "use cookies")
C4_POLICY_EXTRA: dict[str, tuple[str, ...]] = {
    "zh": ("隐私政策", "隱私政策", "隐私权政策", "隱私權政策", "使用条款", "使用條款", "服务条款",
           "服務條款", "cookie政策", "使用cookie"),
    "ja": ("プライバシーポリシー", "利用規約", "クッキーポリシー", "cookieポリシー",
           "クッキーを使用", "cookieを使用"),
}

#: Bullet marks at the start of a line (Gopher's bullet rule); datatrove counts ``•`` and ``-``.
BULLETS = ("•", "-", "‣", "◦", "▪", "●", "○", "■", "□", "◆", "・", "*", "–", "—")


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


def is_cjk(language: str) -> bool:
    return language in CJK_LANGUAGES and language != "ko"
