"""C4's bad-words filter (``c4_badwords``) with the LDNOOBW lists.

Source: Raffel et al. 2020 (JMLR 21, section 2.2) and TensorFlow Datasets' ``c4_utils.py``;
defaults as in datatrove's ``C4BadWordsFilter``.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

from datamill.core.record import Record
from datamill.core.step import Filter, Resources, deprecated_param, register
from datamill.steps.quality.language_rules import record_language

_WORD_RUN = re.compile(r"\w+")


class _BadWordMatcher:
    """Finds the first listed word in lower-cased text.

    With word boundaries the semantics are C4's regular expression
    ``(?:\\W|^)(word|…)(?:\\W|$)``, computed faster: listed entries that are one ``\\w+`` run are
    looked up in the set of the text's word runs; the few others (phrases, ``s&m``) are only
    searched with a regular expression when their first word run (or, without one, the whole
    entry) occurs in the text. Without boundaries (Chinese, Japanese, Thai) it is a substring
    search.
    """

    def __init__(self, listed: set[str], word_boundaries: bool):
        self.word_boundaries = word_boundaries
        ordered = sorted(listed, key=len, reverse=True)  # prefer the longest phrase
        self.any = re.compile("|".join(re.escape(w) for w in ordered)) if ordered else None
        self.single = frozenset(w for w in listed if _WORD_RUN.fullmatch(w))
        self.others: dict[str, list[str]] = {}
        for w in ordered:
            if w in self.single:
                continue
            first = _WORD_RUN.search(w)
            self.others.setdefault(first.group(0) if first else "", []).append(w)
        self._verify: dict[tuple[str, ...], re.Pattern] = {}

    def search(self, text: str) -> str | None:
        if not self.word_boundaries:
            m = self.any.search(text) if self.any is not None else None
            return m.group(0) if m else None
        runs = set(_WORD_RUN.findall(text))
        hit = self.single.intersection(runs)
        if hit:
            return min(hit)
        candidates = [w for key, ws in self.others.items() if (key in runs if key else True)
                      for w in ws if key or w in text]
        if not candidates:
            return None
        key = tuple(candidates)
        pat = self._verify.get(key)
        if pat is None:
            if len(self._verify) > 256:
                self._verify.clear()
            alternation = "|".join(re.escape(w) for w in candidates)
            pat = self._verify[key] = re.compile(r"(?:\W|^)(" + alternation + r")(?=\W|$)")
        m = pat.search(text)
        return m.group(1) if m else None


#: Words removed from the lists because they are common sub-words in languages written without
#: spaces; each dropped over 10 % of the documents of its language (from datatrove).
_ALLOWLIST = {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}
#: Languages matched without word boundaries (no spaces between words).
_NO_BOUNDARY = frozenset({"ja", "th", "zh"})


LDNOOBW_URL = ("https://raw.githubusercontent.com/LDNOOBW/"
               "List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words/master/{lang}")


def _default_badwords_dir() -> Path:
    """``$DATAMILL_BADWORDS_DIR``, else a cache folder filled from LDNOOBW's repository."""
    env = os.environ.get("DATAMILL_BADWORDS_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "datamill" / "ldnoobw"


def _download_list(folder: Path, lang: str) -> Path:
    """Fetch one LDNOOBW list (CC-BY-4.0) into ``folder`` for users with network access."""
    import urllib.error
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / lang
    try:
        with urllib.request.urlopen(LDNOOBW_URL.format(lang=lang), timeout=20) as resp:
            data = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return target  # no list for this language
        raise
    tmp = folder / f".tmp-{lang}"
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


@register("c4_badwords")
class C4BadWords(Filter):
    """C4's bad-words filter with the LDNOOBW lists (CC-BY-4.0, 28 languages). A document containing a listed word (on word boundaries; as a substring for
    Chinese, Japanese and Thai) is dropped with ``c4_badwords``, except a deterministic
    ``keep_fraction`` of them (hash of the record id and ``seed``; datatrove's default, and C4's,
    is 0). The lists are read from ``badwords_dir``, else ``$DATAMILL_BADWORDS_DIR``, else a
    cache folder that is filled from LDNOOBW's repository on first use (offline: point
    ``badwords_dir`` at a copy, such as ``../shared/data/badwords/ldnoobw``). Documents in a language without a list are kept (counted as
    ``no_list_<lang>``), unless ``fail_on_missing_language``.
    """

    resources = Resources(cpus=1.0, memory_mb=300)
    signal_types = {"match": "string", "has_list": "bool"}

    def __init__(self, keep_fraction: float = 0.0, seed: int = 0, default_language: str = "en",
                 badwords_dir: str | None = None, fail_on_missing_language: bool = False,
                 keep_signals: bool = True, store_signals: bool | None = None):
        if not 0.0 <= keep_fraction <= 1.0:
            raise ValueError("keep_fraction must be between 0 and 1")
        self.keep_fraction = keep_fraction
        self.seed = seed
        self.default_language = default_language
        self.badwords_dir = badwords_dir
        self.fail_on_missing_language = fail_on_missing_language
        if store_signals is not None:
            deprecated_param(self, "store_signals", "keep_signals")
            keep_signals = bool(store_signals)
        self.keep_signals = keep_signals
        self._patterns: dict[str, _BadWordMatcher | None] = {}

    def declared_signals(self) -> dict[str, dict[str, str]]:
        return super().declared_signals() if self.keep_signals else {}

    def _dir(self) -> Path:
        return Path(self.badwords_dir) if self.badwords_dir else _default_badwords_dir()

    def setup(self) -> None:
        self.pattern(self.default_language)

    def pattern(self, lang: str) -> "_BadWordMatcher | None":
        if lang in self._patterns:
            return self._patterns[lang]
        folder = self._dir()
        path = folder / lang
        if not path.is_file() and not self.badwords_dir and not os.environ.get("DATAMILL_BADWORDS_DIR"):
            try:
                path = _download_list(folder, lang)
            except OSError as exc:
                raise RuntimeError(
                    f"c4_badwords: no list for {lang!r} in {folder} and it could not be downloaded "
                    f"({exc}); set badwords_dir (or $DATAMILL_BADWORDS_DIR) to a folder of LDNOOBW "
                    f"lists, e.g. ../shared/data/badwords/ldnoobw") from None
        if not path.is_file():
            if self.fail_on_missing_language:
                raise ValueError(f"no bad-words list for language {lang!r} in {self._dir()}")
            self._patterns[lang] = None
            return None
        with open(path, encoding="utf-8") as f:
            listed = {ln.strip().lower() for ln in f if ln.strip()}
        listed -= _ALLOWLIST.get(lang, set())
        matcher = _BadWordMatcher(listed, word_boundaries=lang not in _NO_BOUNDARY)
        self._patterns[lang] = matcher
        return matcher

    def drop_reason(self, record: Record) -> str | None:
        lang = record_language(record, self.default_language)
        pat = self.pattern(lang)
        m = pat.search((record.get("text") or "").lower()) if pat is not None else None
        if self.keep_signals:
            record.setdefault("signals", {})[self.label] = {"match": m, "has_list": pat is not None}
        if pat is None:
            return None
        if m is None:
            return None
        if self.keep_fraction > 0.0:
            key = f"{self.seed}:{record.get('id') or record.get('text')}".encode()
            if zlib.crc32(key) / 2**32 < self.keep_fraction:
                return None
        return "c4_badwords"

    def count(self, record: Record, verdict, stats) -> None:
        lang = record_language(record, self.default_language)
        if self._patterns.get(lang, 0) is None:
            stats.counter("no_list").update([lang or "unknown"])
