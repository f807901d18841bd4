"""Script evidence for CJK text, used to correct lid.176 where it confuses Chinese and Japanese.

lid.176 reads character n-grams and sometimes calls short Chinese sentences Japanese (the
scripts share the Han characters) or even Serbian or Italian, and short kana-heavy Japanese
Chinese or Korean. The writing system settles these cases cheaply:

* Hangul → Korean;
* any real share of hiragana/katakana → Japanese (Chinese does not use kana);
* Han characters with no kana → a Chinese variety (Japanese prose without kana is rare).

``cjk_family`` returns the set of lid.176 labels the script allows, or ``None`` when the text is
not mainly CJK (then fastText's answer stands). All counting uses compiled regular expressions,
and text without any CJK character costs one failed regex search.
"""

from __future__ import annotations

import re

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9d"
# Kana letters only: the prolonged-sound mark ー and the middle dot ・ sit in the katakana block
# but turn up in Chinese text too, so they do not count as evidence for Japanese.
KANA_LETTERS = "\u3041-\u309f\u30a1-\u30fa\u30fd-\u30ff\u31f0-\u31ff\uff66-\uff6f\uff71-\uff9d"
HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"

_ANY_CJK = re.compile(f"[{HAN}{KANA}{HANGUL}]")
_HAN = re.compile(f"[{HAN}]")
_KANA = re.compile(f"[{KANA_LETTERS}]")
_HANGUL = re.compile(f"[{HANGUL}]")
_LETTER = re.compile(r"[^\W\d_]")

JAPANESE = frozenset({"ja"})
KOREAN = frozenset({"ko"})
# lid.176 labels written in Han characters without kana: Chinese and its varieties.
CHINESE = frozenset({"zh", "wuu", "yue"})

MIN_CJK_SHARE = 0.5  # CJK letters among all letters for the script to decide the family
MIN_KANA_SHARE = 0.05  # kana among Han + kana for Japanese
MIN_HANGUL_SHARE = 0.3  # hangul among CJK letters for Korean
MIN_HAN_FOR_CHINESE = 4  # fewer Han characters than this: too little to rule Japanese out


def cjk_family(text: str) -> frozenset[str] | None:
    """The lid.176 labels the text's CJK script allows, or ``None`` if the script says nothing."""
    if not _ANY_CJK.search(text):
        return None
    han = len(_HAN.findall(text))
    kana = len(_KANA.findall(text))
    hangul = len(_HANGUL.findall(text))
    cjk = han + kana + hangul
    letters = len(_LETTER.findall(text))
    if cjk == 0 or cjk < MIN_CJK_SHARE * letters:
        return None
    if hangul >= MIN_HANGUL_SHARE * cjk:
        return KOREAN
    if kana > 0 and kana >= MIN_KANA_SHARE * (han + kana):
        return JAPANESE
    if kana == 0 and han >= MIN_HAN_FOR_CHINESE:
        return CHINESE
    return None
