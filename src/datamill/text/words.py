"""Language-aware word, line and sentence splitting for the rule-based filters.

``split_words(text, language)`` returns the words of ``text``:

* space-delimited languages (the default): one compiled ``regex`` pass that mimics spaCy's
  English tokenizer (which datatrove uses): URLs, e-mail addresses, numbers with separators
  (``3,000``, ``3.5``), ``U.S.``, initials and common abbreviations stay whole, contractions
  split as ``do n't`` / ``it 's``, every other punctuation mark is a token of its own; about
  15x faster than spaCy;
* Chinese (``zh``, ``yue``, ``wuu``…): jieba (precise mode) when installed;
* Japanese (``ja``): SudachiPy with ``sudachidict_core``, split mode C, when installed. We chose
  it over TinySegmenter because it is both better (dictionary-based, it keeps ``プレミアム`` /
  ``ペイント`` and numbers right) and faster once warm (~650k characters/s against ~120k);
* when the segmenter is missing, and for Thai, Lao, Khmer and Burmese (no segmenter shipped),
  a script-run fallback: every Han character is a word, runs of kana, hangul, Latin letters or
  digits are words. It never returns "zero words" for CJK text.

Whitespace is never a word; punctuation tokens are words (as in datatrove), so callers that
need "real" words filter them with :func:`is_punctuation`.

Segmentation is the costly part of every rule set, so :func:`words` caches the results for a
batch's worth of texts (the Gopher and FineWeb taggers look at the same text one step after the
other, a whole batch apart) and returns tuples, which callers cannot change by accident.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections import OrderedDict
from typing import Callable

import regex

from datamill.text.languages import _CHINESE, _NO_SPACES, CJK_LANGUAGES, base_language

__all__ = [
    "CJK_LANGUAGES",
    "PUNCTUATION",
    "TERMINAL_PUNCTUATION",
    "base_language",
    "count_sentences",
    "ends_with_terminal_punct",
    "is_punctuation",
    "segmenter_name",
    "split_lines",
    "split_sentences",
    "split_words",
    "warm_up",
    "word_cache_stats",
    "words",
]

# --- punctuation -------------------------------------------------------------------------

#: every character below U+20000 except the surrogates (built once, with C-level ``map``)
_EVERY = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x20000)))


def _chars_with(pattern: str) -> frozenset[str]:
    return frozenset(regex.findall(pattern, _EVERY))


#: Characters with the Unicode property Sentence_Terminal (``.``, ``!``, ``?``, ``。``, ``！``,
#: ``？``, ``｡``, ``।``, ``؟``…): the set FineWeb's line-punctuation rule uses.
TERMINAL_PUNCTUATION: frozenset[str] = _chars_with(r"\p{Sentence_Terminal}")
#: Every punctuation or symbol character, plus ASCII controls.
PUNCTUATION: frozenset[str] = _chars_with(r"[\p{P}\p{S}\x00-\x1f\x7f-\x9f]")
del _EVERY


def is_punctuation(token: str) -> bool:
    """True when every character of ``token`` is punctuation or a symbol."""
    return all(c in PUNCTUATION for c in token)


def ends_with_terminal_punct(line: str) -> bool:
    line = line.rstrip()
    return bool(line) and line[-1] in TERMINAL_PUNCTUATION


# --- words -------------------------------------------------------------------------------

# abbreviations spaCy's English tokenizer keeps whole with their period
_ABBREVIATIONS = (
    "Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Ft|Gen|Gov|Sen|Rep|Rev|Sgt|Capt|Col|Lt|Inc|Ltd|Co|Corp|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|vs|etc|approx|dept|est|No|Nos|Vol|Fig|"
    "Ala|Ariz|Ark|Calif|Colo|Conn|Del|Fla|Ga|Ill|Ind|Kan|Ky|La|Md|Mass|Mich|Minn|Miss|Mo|"
    "Mont|Neb|Nev|Okla|Ore|Pa|Tenn|Va|Wash|Wis"
)
_SPACED = regex.compile(
    r"(?:https?://|www\.)[^\s<>\"'“”‘’（）「」]*[^\s<>\"'“”‘’（）「」.,;:!?)\]]"  # URLs stay whole
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"                      # e-mail addresses
    r"|@\w+"                                              # @handles
    r"|(?:\p{L}\.){2,}"                                  # U.S. e.g. i.e.
    r"|\p{Lu}\.(?!\w)"                                   # an initial: J. Smith
    r"|(?<!\w)(?:" + _ABBREVIATIONS + r")\.(?!\w)"         # Mr. Nov. etc.
    r"|\w+(?=n['’]t\b)|n['’]t\b"                         # do n't, as spaCy splits it
    r"|['’](?:s|S|ll|re|ve|d|m|LL|RE|VE|D|M)\b"            # 's 'll 're 've 'd 'm
    r"|\w+(?:['’](?!(?:s|S|ll|re|ve|d|m|LL|RE|VE|D|M)\b)\w+|\.\p{Ll}\w*)*"  # O'Brien cu.ft
    r"(?:[.,:/]\d+)*"                                    # 3,000 / 3.5 / 1/2
    r"|\.{2,}"                                           # an ellipsis written with dots
    r"|\S",                                              # any other mark, one at a time
)

#: what ``split_words`` splits without the regex: a word, then one of these
_CLOSERS = frozenset(",;:!?)")
_ABBREVIATION_SET = frozenset(_ABBREVIATIONS.split("|"))

# script-run fallback for unsegmented scripts
_SCRIPT_RUNS = regex.compile(
    r"\p{Han}"                                # one Han character = one word
    r"|[\p{Hiragana}ー]+|[\p{Katakana}ー]+"    # kana runs
    r"|\p{Hangul}+"
    r"|\p{Thai}+|\p{Lao}+|\p{Khmer}+|\p{Myanmar}+|\p{Tibetan}+"
    r"|[^\W\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+(?:['’]\w+)*(?:[.,:]\d+)*"
    r"|\.{2,}|\S",
)

_lock = threading.Lock()
_segmenters: dict[str, Callable[[str], list[str]] | None] = {}


def _jieba() -> Callable[[str], list[str]] | None:
    try:
        import jieba
    except ImportError:
        return None
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    cut = jieba.lcut

    def seg(text: str) -> list[str]:
        return [t for t in cut(text) if not t.isspace()]

    return seg


_SUDACHI_MAX_BYTES = 40_000  # Sudachi refuses inputs over 49,149 bytes


def _sudachi() -> Callable[[str], list[str]] | None:
    try:
        from sudachipy import Dictionary, SplitMode
        tok = Dictionary(dict="core").tokenizer(mode=SplitMode.C)
    except Exception:  # noqa: BLE001 - missing package or dictionary: fall back
        return None
    tokenize = tok.tokenize

    def seg_chunk(text: str, out: list[str]) -> None:
        for m in tokenize(text):
            s = m.surface()
            if s and not s.isspace():
                out.append(s)

    def seg(text: str) -> list[str]:
        out: list[str] = []
        if len(text) * 3 <= _SUDACHI_MAX_BYTES or len(text.encode("utf-8")) <= _SUDACHI_MAX_BYTES:
            seg_chunk(text, out)
            return out
        chunk: list[str] = []
        size = 0
        for line in text.splitlines(keepends=True):
            n = len(line.encode("utf-8"))
            if size + n > _SUDACHI_MAX_BYTES and chunk:
                seg_chunk("".join(chunk), out)
                chunk, size = [], 0
            if n > _SUDACHI_MAX_BYTES:  # one huge line: cut it on characters
                step = _SUDACHI_MAX_BYTES // 4
                for i in range(0, len(line), step):
                    seg_chunk(line[i:i + step], out)
                continue
            chunk.append(line)
            size += n
        if chunk:
            seg_chunk("".join(chunk), out)
        return out

    return seg


def _load_segmenter(family: str) -> Callable[[str], list[str]] | None:
    seg = _segmenters.get(family, False)
    if seg is False:
        with _lock:
            seg = _segmenters.get(family, False)
            if seg is False:
                seg = _jieba() if family == "zh" else _sudachi() if family == "ja" else None
                _segmenters[family] = seg
    return seg  # type: ignore[return-value]


def _family(language: str | None) -> str:
    lang = base_language(language)
    if lang in _CHINESE:
        return "zh"
    if lang == "ja":
        return "ja"
    if lang in _NO_SPACES:
        return "runs"
    return "spaced"


def segmenter_name(language: str | None) -> str:
    """Which splitter ``split_words`` uses for ``language``: regex, jieba, sudachi or runs."""
    family = _family(language)
    if family in ("zh", "ja"):
        if _load_segmenter(family) is None:
            return "runs"
        return "jieba" if family == "zh" else "sudachi"
    return "runs" if family == "runs" else "regex"


def warm_up(language: str | None) -> None:
    """Load the segmenter for ``language`` now (jieba takes ~1.5 s), e.g. in ``setup()``."""
    family = _family(language)
    if family in ("zh", "ja"):
        _load_segmenter(family)


def split_words(text: str, language: str | None = "en") -> list[str]:
    """The words of ``text`` in ``language`` (ISO code; ``None`` = space-delimited default).

    Punctuation marks come back as tokens of their own; whitespace never does.
    """
    family = _family(language)
    if family == "spaced":
        # most whitespace-separated chunks are plain words: only the others need the regex
        out: list[str] = []
        append, extend, findall = out.append, out.extend, _SPACED.findall
        for chunk in text.split():
            if chunk.isalpha() or chunk.isdecimal():
                append(chunk)
                continue
            # the next most common chunks, a word and one mark ("word," "word."), split as the
            # regex splits them (tests/text/test_words.py checks the two agree)
            head, last = chunk[:-1], chunk[-1]
            if head.isalpha() and (last in _CLOSERS or (
                    last == "." and head not in _ABBREVIATION_SET
                    and not (len(head) == 1 and unicodedata.category(head) == "Lu"))):
                append(head)
                append(last)
            else:
                extend(findall(chunk))
        return out
    if family in ("zh", "ja"):
        seg = _load_segmenter(family)
        if seg is not None:
            return seg(text)
    return _SCRIPT_RUNS.findall(text)


class _WordCache:
    """The segmentations of the last texts seen, bounded by entries and by tokens.

    Steps run batch by batch (each step over the whole batch, then the next), so a cache must
    hold a batch's worth of texts for the Gopher, FineWeb and C4 steps to share one split per
    record; the token bound keeps a batch of huge documents from holding gigabytes. Keys are
    the text itself: a hit costs one hash (cached by the string) and an identity compare.
    """

    def __init__(self, max_entries: int = 1024, max_tokens: int = 2_000_000):
        self.max_entries = max_entries
        self.max_tokens = max_tokens
        self._data: OrderedDict[tuple[str, str], tuple[str, ...]] = OrderedDict()
        self._tokens = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, text: str, language: str) -> tuple[str, ...]:
        key = (text, language)
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return found
        out = tuple(split_words(text, language))
        with self._lock:
            self.misses += 1
            if key not in self._data:
                self._data[key] = out
                self._tokens += len(out)
                while self._data and (len(self._data) > self.max_entries or self._tokens > self.max_tokens):
                    _, old = self._data.popitem(last=False)
                    self._tokens -= len(old)
        return out

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._tokens = 0
            self.hits = self.misses = 0


_CACHE = _WordCache()


def words(text: str, language: str | None = "en") -> tuple[str, ...]:
    """Cached :func:`split_words`: the steps of a pipeline share one segmentation per record
    (the last 1,024 texts or 2 M tokens are kept)."""
    return _CACHE.get(text, base_language(language) or "en")


def word_cache_stats() -> dict[str, int]:
    """Hits and misses of :func:`words` in this process (benchmarks print them)."""
    return {"hits": _CACHE.hits, "misses": _CACHE.misses, "entries": len(_CACHE._data)}


# --- lines and sentences -----------------------------------------------------------------

def split_lines(text: str, keep_empty: bool = False) -> list[str]:
    """Lines of ``text`` (``str.splitlines`` semantics); drop blank lines unless asked."""
    lines = text.splitlines()
    return lines if keep_empty else [ln for ln in lines if ln.strip()]


_ABBREV = (
    "mr|mrs|ms|dr|prof|sr|jr|st|vs|etc|e\\.g|i\\.e|no|fig|inc|ltd|co|corp|jan|feb|mar|apr|jun|"
    "jul|aug|sep|sept|oct|nov|dec|mt|ft|approx|dept|est|gen|gov|rev|sgt|capt|col|lt|u\\.s|"
    "u\\.k|a\\.m|p\\.m"
)
# a sentence ends at terminal punctuation (optionally closed by quotes or brackets) followed
# by whitespace or the end; not after a known abbreviation or a single capital initial
# the lookahead is a cheap first test: the lookbehind (abbreviations) only runs where a
# terminal mark follows, not at every position of the text (same sentences; 5.4x faster on
# 64,836 lines of the benchmark pages and Leipzig sentences)
_SENT_END = regex.compile(
    r"(?=[.!?。！？｡\p{Sentence_Terminal}])"
    r"(?<!\b(?:" + _ABBREV + r"|\p{Lu}))"
    r"(?:[.!?]+|[。！？｡]+|[\p{Sentence_Terminal}--[.]]+)"
    r"[\"'”’»)\]」』）]*"
    r"(?:\s+|$)",
    regex.IGNORECASE | regex.V1,
)
_CJK_SENT_END = regex.compile(r"[。！？｡!?]+[”’」』）)]*")


def split_sentences(text: str, language: str | None = "en") -> list[str]:
    """Sentences of ``text``: split after terminal punctuation (full-width too, where CJK
    sentences need no following space). A regular-expression splitter, not a model."""
    pattern = _CJK_SENT_END if _family(language) in ("zh", "ja") else _SENT_END
    out: list[str] = []
    start = 0
    for m in pattern.finditer(text):
        piece = text[start:m.end()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def count_sentences(text: str, language: str | None = "en") -> int:
    """``len(split_sentences(text, language))`` without building the sentences: every match
    ends a (non-empty: it holds the terminal mark) sentence, plus a non-blank tail."""
    if text.isascii() and "." not in text and "!" not in text and "?" not in text:
        return 1 if text.strip() else 0  # no terminal mark (. ! ? are ASCII's only ones)
    pattern = _CJK_SENT_END if _family(language) in ("zh", "ja") else _SENT_END
    n = end = 0
    for m in pattern.finditer(text):
        n += 1
        end = m.end()
    return n + (1 if text[end:].strip() else 0)


def normalize_width(text: str) -> str:
    """NFKC: full-width Latin letters, digits and marks to their ASCII forms."""
    return unicodedata.normalize("NFKC", text)
