"""``html_language_prefilter``: drop pages confidently not in a kept language *before* the full
HTML extraction.

On a Common Crawl-like mix most pages are dropped by language ID, after the expensive part of
the work (parsing the whole page, main-content extraction, language ID of the text). This step
reads the language on a cheap text instead, and what it reads is set by ``read``:

* ``slices`` (default): it parses only ``windows`` slices of ``slice_chars`` characters of the
  HTML (the start of ``<body>`` and evenly spaced points after it, each from the next content
  tag) and reads the first ``window_chars`` characters of each slice's plain text. A dropped
  page is never parsed whole: parsing is most of Resiliparse's cost (on the benchmark pages
  56 % of parse + main content), so this pays off before Resiliparse as well.
* ``page``: Resiliparse's plain text of the whole page (no main-content detection), from which
  it takes ``windows`` windows of ``window_chars`` characters (the start of the page and evenly
  spaced points after it). The parsed tree is handed to ``extract_html``
  (:mod:`datamill.steps.extract.parsed`), so a page that goes on is parsed once.

Navigation and headers in another language fill the start of many pages and the article sits
further in, hence several windows. Each window is identified by lid.176 with the script rules of
``language_id`` (no second opinion). A page is dropped (reason ``language_not_kept``) only when
**every** window with text is in a language that is not kept with a score of at least
``min_score``; anything uncertain goes on to the real ``language_id`` after extraction, which
keeps the last word. Measured on the 1,255 real pages of the shared data (docs/extraction.md
"Language pre-filter"): with the defaults no page kept by the full pipeline is lost for English,
German, French, Spanish, Chinese or Japanese as the kept language.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from datamill.core.record import Batch
from datamill.core.step import Filter, Resources, register
from datamill.steps.extract import parsed
from datamill.steps.extract.html import _is_html_type, decode_html
from datamill.steps.langid.rules import normalize_code


#: where ``<body>`` starts (searched in the first ``BODY_SEARCH`` characters; else the page start)
_BODY = re.compile(r"<body\b", re.I)
BODY_SEARCH = 200_000
#: a slice after the first starts at the next tag that usually holds content
_CONTENT_TAG = re.compile(r"<(?:p|div|li|td|h[1-6]|article|section|span|a)\b", re.I)
#: a window with fewer non-space characters than this is not read (nothing to go on)
MIN_WINDOW_TEXT = 50


def slices_of(html: str, slice_chars: int, slices: int) -> list[str]:
    """``slices`` pieces of ``slice_chars`` characters of ``html``: from ``<body>`` and from evenly
    spaced points after it (each from the next content tag); a body shorter than
    ``slices * slice_chars`` is one piece, the whole body."""
    m = _BODY.search(html, 0, BODY_SEARCH)
    start = m.start() if m else 0
    n = len(html) - start
    if n <= slices * slice_chars:
        return [html[start:]]
    out = [html[start:start + slice_chars]]
    for j in range(1, slices):
        t = _CONTENT_TAG.search(html, start + n * j // slices)
        if t is not None:
            out.append(html[t.start():t.start() + slice_chars])
    return out


def windows_of(text: str, window_chars: int, windows: int) -> list[str]:
    """``windows`` slices of ``window_chars`` characters: the start, then evenly spaced points
    (``n*j/(windows+1)``); a text shorter than ``windows * window_chars`` is cut into
    consecutive windows instead."""
    n = len(text)
    if n <= windows * window_chars:
        return [text[i:i + window_chars] for i in range(0, n, window_chars)] or [""]
    starts = [0] + [n * (j + 1) // (windows + 1) for j in range(windows - 1)]
    return [text[s:s + window_chars] for s in starts]


@register("html_language_prefilter")
class HTMLLanguagePrefilter(Filter):
    """Drop HTML pages whose cheap plain text is confidently in a language not kept.

    Parameters
    ----------
    languages:
        The kept languages (lid.176 codes, as for ``language_id``).
    read:
        ``slices`` (default: parse ``windows`` slices of ``slice_chars`` HTML characters, read
        ``window_chars`` of each) or ``page`` (parse the whole page, read ``windows`` windows of
        ``window_chars`` of its plain text).
    min_score:
        A window counts as "not kept" only when its language is not kept with at least this
        score (0.8: measured safe on the shared pages, see docs/extraction.md).
    window_chars, windows, slice_chars:
        How much is read: ``windows`` windows of ``window_chars`` characters (defaults: 1,000 x 2
        for ``slices``, 600 x 3 for ``page``); ``slice_chars`` (16,000) of HTML a slice.
    model_path:
        lid.176 model file (default: as ``language_id``).
    """

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=256)
    path_params = ("model_path",)

    def __init__(self, languages: list[str], min_score: float = 0.8,
                 window_chars: int | None = None, windows: int | None = None,
                 read: Literal["slices", "page"] = "slices", slice_chars: int = 16_000,
                 model_path: str | None = None):
        super().__init__()
        if not languages:
            raise ValueError("html_language_prefilter needs the kept `languages`")
        if not 0.0 < min_score <= 1.0:
            raise ValueError(f"min_score must be within (0, 1], got {min_score}")
        if read not in ("slices", "page"):
            raise ValueError(f"read must be 'slices' or 'page', got {read!r}")
        if window_chars is None:
            window_chars = 1000 if read == "slices" else 600
        if windows is None:
            windows = 2 if read == "slices" else 3
        if slice_chars < 1000:
            raise ValueError(f"slice_chars must be >= 1000, got {slice_chars}")
        if window_chars < 50:
            raise ValueError(f"window_chars must be >= 50, got {window_chars}")
        if windows < 1:
            raise ValueError(f"windows must be >= 1, got {windows}")
        self.languages = frozenset(normalize_code(str(l)) for l in languages)
        self.min_score = float(min_score)
        self.window_chars = int(window_chars)
        self.windows = int(windows)
        self.read = read
        self.slice_chars = int(slice_chars)
        self.model_path = model_path

    def preflight(self) -> None:
        from datamill.steps.langid.model import check_model_path

        check_model_path(self.model_path)

    def count(self, record: dict[str, Any], verdict, stats) -> None:
        lang = getattr(self, "_dropped_languages", {}).pop(id(record), None)
        if lang is not None:
            stats.counter("languages")[lang] += 1

    def check_pipeline(self, steps: list, index: int) -> None:
        """Every language a later ``language_id`` keeps must be kept here too, else this step
        would drop pages that ``language_id`` keeps."""
        from datamill.steps.langid.fasttext_lid import LanguageID

        for later in steps[index + 1:]:
            if isinstance(later, LanguageID):
                theirs = later.languages
                if theirs is None or not set(theirs) <= self.languages:
                    raise ValueError(
                        f"html_language_prefilter keeps {sorted(self.languages)} but "
                        f"{later.label} keeps {'every language' if theirs is None else sorted(theirs)}: "
                        "list the same languages in both steps")
                return

    def setup(self) -> None:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        from datamill.steps.langid.identify import Identifier
        from datamill.steps.langid.model import load_model

        self._plain = extract_plain_text
        self._parse = HTMLTree.parse
        self._identifier = Identifier(load_model(self.model_path), max_chars=self.window_chars,
                                      script_first=True, second_opinion=False)
        unknown = sorted(self.languages - set(self._identifier.model.labels))
        if unknown:
            raise ValueError(f"html_language_prefilter: no label {unknown} in lid.176; labels "
                             "are ISO 639-1 codes where one exists (see docs/langid.md)")

    def prefork(self) -> None:
        """Load lid.176 in the parent before workers are forked."""
        self.ensure_setup()

    def _html(self, record: dict[str, Any]) -> tuple[str, bool | None]:
        raw = record.get("text")
        if raw is None:
            return "", None
        kind = _is_html_type((record.get("metadata") or {}).get("content_type"))
        if kind is None:
            return "", None  # not text: extract_html drops it
        html = decode_html(raw) if not isinstance(raw, str) else raw
        if not html or html.isspace():
            return "", None
        return html, kind

    def _page_text(self, html: str, share: bool) -> str:
        """``read: page``: the plain text of the whole page (its tree kept for ``extract_html``
        when ``share``)."""
        tree = parsed.parse(html) if share else self._parse(html)
        return self._plain(tree, main_content=False, alt_texts=False, links=False,
                           form_fields=False, noscript=False)

    def _slice_text(self, piece: str) -> str:
        return self._plain(self._parse(piece), main_content=False, preserve_formatting=False,
                           alt_texts=False, links=False, form_fields=False, noscript=False,
                           list_bullets=False)

    def pieces(self, record: dict[str, Any]) -> list:
        """What may be read of ``record``, in order: text windows (``str``), or for ``read:
        slices`` HTML slices (``_Slice``) parsed only when they are needed."""
        html, kind = self._html(record)
        if kind is None:
            return []
        if kind is False:  # plain text: read as it is
            return windows_of(html, self.window_chars, self.windows)
        if self.read == "page":
            return windows_of(self._page_text(html, isinstance(record.get("text"), str)),
                              self.window_chars, self.windows)
        parts = slices_of(html, self.slice_chars, self.windows)
        if len(parts) == 1:  # a short page: its whole body, windows as for `page`
            return windows_of(self._slice_text(parts[0]), self.window_chars, self.windows)
        return [_Slice(x) for x in parts]

    def _next_window(self, pieces: list) -> str:
        """The next window with text of ``pieces`` (consumed), '' when there is none."""
        while pieces:
            piece = pieces.pop(0)
            if isinstance(piece, _Slice):
                piece = self._slice_text(piece.html)[:self.window_chars]
            if len("".join(piece.split())) >= MIN_WINDOW_TEXT:
                return piece
        return ""

    def drop_reason_batch(self, batch: Batch) -> list:
        """Window by window: the first window of every page is identified together; only the
        pages whose windows so far are all confidently not kept read their next one (the
        slices of a page that is kept are mostly never parsed)."""
        self.ensure_setup()
        pieces = self.each(batch, self.pieces)
        out: list = [p if not isinstance(p, list) else None for p in pieces]  # Failed: quarantined
        active = [i for i, p in enumerate(pieces) if isinstance(p, list) and p]
        # the language of each page's first window read; a page still active after that has
        # had every window so far confidently not kept
        first: dict[int, str] = {}
        while active:
            wins = self.each([pieces[i] for i in active], self._next_window)
            todo = [(i, w) for i, w in zip(active, wins) if isinstance(w, str) and w]
            for i, w in zip(active, wins):
                if not isinstance(w, str):
                    out[i] = w
                elif not w and i in first:  # every window read, all confidently not kept
                    out[i] = "language_not_kept"
            ids = self._identifier.identify([w for _, w in todo]) if todo else []
            active = []
            for (i, _), r in zip(todo, ids):
                first.setdefault(i, r.language)
                if r.language not in self.languages and r.score >= self.min_score:
                    active.append(i)  # so far not kept: read on
        # the languages of the pages dropped here, for the run summary's "languages seen"
        # (language_id counts the pages that go on)
        self._dropped_languages = {id(batch[i]): first[i] for i, v in enumerate(out)
                                   if v == "language_not_kept" and i in first}
        if self.read == "page":
            for record, verdict in zip(batch, out):
                if verdict is not None and isinstance(record.get("text"), str):
                    parsed.take(record["text"])  # dropped: its tree is not needed any more
        return out


class _Slice:
    """A slice of a page's HTML, parsed only when its window is read."""

    __slots__ = ("html",)

    def __init__(self, html: str):
        self.html = html
