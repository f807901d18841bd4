"""C4's cleaning rules and its bad-words filter.

Source: Raffel et al. 2020 (JMLR 21, "Exploring the Limits of Transfer Learning…", section
2.2) and TensorFlow Datasets' ``c4_utils.py``; defaults and order as in datatrove's
``C4QualityFilter`` and ``C4BadWordsFilter``. ``c4_quality`` removes offending lines, as C4
did, and drops a document only by the page-level rules. It is two steps under one name: the
transform ``c4_clean_lines`` removes lines and records what it found under
``signals[<label>]``, then the filter ``c4_page_rules`` decides on those signals (a filter
only keeps or drops).
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path
from typing import Any

from datamill.core.record import Record
from datamill.core.compose import Chain
from datamill.core.step import Filter, Resources, Transform, deprecated_param, register
from datamill.steps.quality.language_rules import (
    C4_ELLIPSES,
    C4_ELLIPSES_CJK,
    C4_END_PUNCT,
    C4_END_PUNCT_CJK,
    C4_POLICY,
    C4_POLICY_EXTRA,
    is_cjk,
    record_language,
)
from datamill.steps.quality.rule_filter import SignalRules, language_of, under
from datamill.text.words import count_sentences, is_punctuation, split_sentences, split_words, warm_up

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]|\[编辑]|\[編輯]|\[編集]")


_LINE_COUNTERS = ("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")


@register("c4_clean_lines")
class C4CleanLines(Transform):
    """C4's line rules, in C4's order, per line (``split_paragraph``) or sentence:

    1. a line with a word longer than ``max_word_length`` characters is removed;
    2. Wikipedia-style citations (``[1]``, ``[edit]``, ``[citation needed]``) are removed
       (``remove_citations``);
    3. a line that does not end in terminal punctuation (``. ? ! " '``; for Chinese and
       Japanese also ``。！？”」』``) or ends in an ellipsis is removed
       (``filter_no_terminal_punct``);
    4. a line with fewer than ``min_words_per_line`` words is removed (CJK words are
       segmented);
    6. a line with "javascript" is removed (``filter_javascript``);
    8. a line with a cookie / terms-of-use / privacy-policy phrase is removed
       (``filter_policy``; Chinese and Japanese phrases too).

    The kept lines replace the text. Under ``signals[<label>]`` it records ``lines_in``,
    ``lines_kept``, ``lines_removed_<rule>``, ``sentences`` (in the kept lines),
    ``lorem_ipsum_lines`` (lines past rules 1-4 with "lorem ipsum") and
    ``curly_bracket_lines`` (lines past rules 1-4 and 6 with ``{``): what ``c4_page_rules``
    decides on.
    Set an integer threshold to ``-1`` to disable its rule.
    """

    resources = Resources(cpus=1.0, memory_mb=600)
    signal_types = {"lines_in": "int64", "lines_kept": "int64", "sentences": "int64",
                    "lorem_ipsum_lines": "int64", "curly_bracket_lines": "int64",
                    **{f"lines_removed_{k}": "int64" for k in _LINE_COUNTERS}}

    def __init__(self, split_paragraph: bool = True, remove_citations: bool = True,
                 filter_no_terminal_punct: bool = True, min_words_per_line: int = 3,
                 max_word_length: int = 1000, filter_javascript: bool = True,
                 filter_policy: bool = True, default_language: str = "en"):
        self.split_paragraph = split_paragraph
        self.remove_citations = remove_citations
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        self.filter_javascript = filter_javascript
        self.filter_policy = filter_policy
        self.default_language = default_language

    def setup(self) -> None:
        warm_up(self.default_language)

    def transform(self, record: Record) -> Record:
        lang = language_of(self, record)
        text = record.get("text") or ""
        stats, new_text = self.clean(text, lang)
        sig = record.get("signals")
        if sig is None:
            sig = record["signals"] = {}
        mine = sig.get(self.label)
        if isinstance(mine, dict):
            mine.update(stats)
        else:
            sig[self.label] = stats
        if new_text != text:
            record["text"] = new_text
        return record

    def clean(self, text: str, lang: str) -> tuple[dict[str, Any], str]:
        """(line statistics, cleaned text)."""
        cjk = is_cjk(lang)
        end_punct = C4_END_PUNCT_CJK if cjk else C4_END_PUNCT
        ellipses = C4_ELLIPSES_CJK if cjk else C4_ELLIPSES
        policy = C4_POLICY + C4_POLICY_EXTRA.get(lang, ()) if self.filter_policy else ()
        lines = text.splitlines() if self.split_paragraph else split_sentences(text, lang)
        removed = dict.fromkeys(_LINE_COUNTERS, 0)
        kept: list[str] = []
        n_sentences = lorem = curly = 0
        for line in lines:
            line = line.strip()
            if not line:
                continue
            if self.filter_no_terminal_punct:
                # C4 tests this after the citation removal; a line that ends in neither a
                # citation nor punctuation can be rejected before splitting it into words
                bare = _CITATION.sub("", line) if self.remove_citations and "[" in line else line
                if not bare.endswith(end_punct) or bare.endswith(ellipses):
                    removed["no_terminal_punct"] += 1
                    continue
            if cjk:
                line_words = [w for w in split_words(line, lang) if not is_punctuation(w)]
            else:
                line_words = line.split()
            if self.max_word_length != -1 and any(len(w) > self.max_word_length for w in line_words):
                removed["too_long_word"] += 1
                continue
            if self.remove_citations and "[" in line:
                line = _CITATION.sub("", line)
            if len(line_words) < self.min_words_per_line:
                removed["too_few_words"] += 1
                continue
            lower = line.lower()
            if "lorem ipsum" in lower:
                lorem += 1
            if self.filter_javascript and "javascript" in lower:
                removed["javascript"] += 1
                continue
            if "{" in line:  # C4 tests the page rule before the policy lines
                curly += 1
            if policy and any(p in lower for p in policy):
                removed["policy"] += 1
                continue
            n_sentences += count_sentences(line, lang) if self.split_paragraph else 1
            kept.append(line)
        stats = {"lines_in": len(lines), "lines_kept": len(kept), "sentences": n_sentences,
                 "lorem_ipsum_lines": lorem, "curly_bracket_lines": curly,
                 **{f"lines_removed_{k}": v for k, v in removed.items()}}
        return stats, ("\n" if self.split_paragraph else " ").join(kept).strip()


@register("c4_page_rules")
class C4PageRules(SignalRules):
    """C4's page rules, decided on what ``c4_clean_lines`` recorded:

    5. a page with "lorem ipsum" is dropped (``c4_lorem_ipsum``);
    7. a page with a curly bracket is dropped (``c4_curly_bracket``);
    9. a page with fewer than ``min_num_sentences`` sentences left is dropped
       (``c4_too_few_sentences``); ``-1`` disables it.
    """

    tagger_name = "c4_clean_lines"

    def __init__(self, min_num_sentences: int = 5, filter_lorem_ipsum: bool = True,
                 filter_curly_bracket: bool = True, default_language: str = "en",
                 signals_from: str | None = "c4_quality"):
        self.min_num_sentences = min_num_sentences
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_curly_bracket = filter_curly_bracket
        self.default_language = default_language
        self.signals_from = signals_from

    def decide(self, sig: dict[str, Any], lang: str) -> str | None:
        if self.filter_lorem_ipsum and sig["lorem_ipsum_lines"]:
            return "c4_lorem_ipsum"
        if self.filter_curly_bracket and sig["curly_bracket_lines"]:
            return "c4_curly_bracket"
        if self.min_num_sentences != -1 and under(sig["sentences"], self.min_num_sentences):
            return "c4_too_few_sentences"
        return None


@register("c4_quality")
class C4Quality(Chain):
    """C4's line and page rules, in C4's order, per line (``split_paragraph``) or sentence:
    ``c4_clean_lines`` (rules 1-4, 6, 8 remove lines) then ``c4_page_rules`` (rules 5, 7, 9
    drop the page):

    1. a line with a word longer than ``max_word_length`` characters is removed;
    2. Wikipedia-style citations (``[1]``, ``[edit]``, ``[citation needed]``) are removed
       (``remove_citations``);
    3. a line that does not end in terminal punctuation (``. ? ! " '``; for Chinese and
       Japanese also ``。！？”」』``) or ends in an ellipsis is removed
       (``filter_no_terminal_punct``);
    4. a line with fewer than ``min_words_per_line`` words is removed (CJK words are
       segmented);
    5. a page with "lorem ipsum" is dropped (``c4_lorem_ipsum``);
    6. a line with "javascript" is removed (``filter_javascript``);
    7. a page with a curly bracket is dropped (``c4_curly_bracket``);
    8. a line with a cookie / terms-of-use / privacy-policy phrase is removed
       (``filter_policy``; Chinese and Japanese phrases too);
    9. a page with fewer than ``min_num_sentences`` sentences left is dropped
       (``c4_too_few_sentences``); ``-1`` disables it.

    Rules 5 and 7 look only at lines that survived rules 1-4 (7 also rule 6), as in
    C4. The kept lines replace the text. The line counters are kept under
    ``signals["c4_quality"]`` (``keep_signals: false`` removes them).
    """

    resources = Resources(cpus=1.0, memory_mb=600)
    signal_types = C4CleanLines.signal_types

    def __init__(self, split_paragraph: bool = True, remove_citations: bool = True,
                 filter_no_terminal_punct: bool = True, min_num_sentences: int = 5,
                 min_words_per_line: int = 3, max_word_length: int = 1000,
                 filter_lorem_ipsum: bool = True, filter_javascript: bool = True,
                 filter_curly_bracket: bool = True, filter_policy: bool = True,
                 default_language: str = "en", keep_signals: bool = True,
                 store_signals: bool | None = None):
        self.keep_signals = self._signals_flag(keep_signals, store_signals)
        self.default_language = default_language
        self.lines = C4CleanLines(split_paragraph=split_paragraph, remove_citations=remove_citations,
                                  filter_no_terminal_punct=filter_no_terminal_punct,
                                  min_words_per_line=min_words_per_line,
                                  max_word_length=max_word_length,
                                  filter_javascript=filter_javascript, filter_policy=filter_policy,
                                  default_language=default_language)
        self.rules = C4PageRules(min_num_sentences=min_num_sentences,
                                 filter_lorem_ipsum=filter_lorem_ipsum,
                                 filter_curly_bracket=filter_curly_bracket,
                                 default_language=default_language, signals_from=None)
        self.parts = [self.lines, self.rules]

    def clean(self, text: str, lang: str, stats: dict[str, Any] | None = None
              ) -> tuple[str | None, str]:
        """(drop reason or None, cleaned text) for ``text`` in ``lang``."""
        sig, new_text = self.lines.clean(text, lang)
        if stats is not None:
            stats.update(sig)
        reason = self.rules.decide(sig, lang)
        return reason, (text if reason else new_text)


# --- bad words -----------------------------------------------------------------------------

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
