"""C4's cleaning rules (the bad-words filter: :mod:`.c4_badwords`).

Source: Raffel et al. 2020 (JMLR 21, "Exploring the Limits of Transfer Learning…", section
2.2) and TensorFlow Datasets' ``c4_utils.py``; defaults and order as in datatrove's
``C4QualityFilter`` and ``C4BadWordsFilter``. ``c4_quality`` removes offending lines, as C4
did, and drops a document only by the page-level rules. It is two steps under one name: the
transform ``c4_clean_lines`` removes lines and records what it found under
``signals[<label>]``, then the filter ``c4_page_rules`` decides on those signals (a filter
only keeps or drops).
"""

from __future__ import annotations

import re
from typing import Any

from datamill.core.record import Record
from datamill.core.compose import Chain
from datamill.core.step import Resources, Transform, register
from datamill.steps.quality.language_rules import (
    C4_ELLIPSES,
    C4_ELLIPSES_CJK,
    C4_END_PUNCT,
    C4_END_PUNCT_CJK,
    C4_POLICY,
    C4_POLICY_EXTRA,
    is_cjk,
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
            if self.max_word_length != -1 and max(map(len, line_words), default=0) > self.max_word_length:
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


# the bad-words filter lives in its own module; imported here for older imports
from datamill.steps.quality.c4_badwords import C4BadWords  # noqa: E402,F401
