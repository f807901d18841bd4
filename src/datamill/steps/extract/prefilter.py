"""``html_language_prefilter``: drop pages confidently not in a kept language *before* the full
HTML extraction.

On a Common Crawl-like mix most pages are dropped by language ID, after the expensive part of
the work (main-content extraction, boilerplate cleaning, language ID of the whole text). This
step reads the language on a cheap text instead: Resiliparse's plain text of the whole page
(no main-content detection), from which it takes ``windows`` windows of ``window_chars``
characters (the start of the page and evenly spaced points after it: navigation and headers in
another language fill the start of many pages, the article sits further in). Each window is
identified by lid.176 with the script rules of ``language_id`` (no second opinion). A page is
dropped (reason ``language_not_kept``) only when **every** window is in a language that is not
kept with a score of at least ``min_score``; anything uncertain goes on to the real
``language_id`` after extraction, which keeps the last word.

The parsed tree is handed to ``extract_html`` (:mod:`datamill.steps.extract.parsed`), so a page
that goes on is parsed once. Measured on the 1,255 real pages of the shared data (see
docs/extraction.md "Language pre-filter"): with the defaults, no page kept by the full pipeline
is lost for English, German, French, Spanish, Chinese or Japanese as the kept language.

It pays off before an expensive extractor (``trafilatura``: 1.74x less CPU end to end, same
output) but not before Resiliparse, whose main-content extraction costs about what the cheap
pass does (13 % more CPU); ``recipes/fineweb.yaml`` does not use it.
"""

from __future__ import annotations

from typing import Any

from datamill.core.record import Batch
from datamill.core.step import Filter, Resources, register
from datamill.steps.extract import parsed
from datamill.steps.extract.html import _is_html_type, decode_html
from datamill.steps.langid.rules import normalize_code


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
    min_score:
        A window counts as "not kept" only when its language is not kept with at least this
        score (0.8: measured safe on the shared pages, see docs/extraction.md).
    window_chars, windows:
        How much of the page's plain text is read: ``windows`` windows of ``window_chars``.
    model_path:
        lid.176 model file (default: as ``language_id``).
    """

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=256)
    path_params = ("model_path",)

    def __init__(self, languages: list[str], min_score: float = 0.8, window_chars: int = 600,
                 windows: int = 3, model_path: str | None = None):
        super().__init__()
        if not languages:
            raise ValueError("html_language_prefilter needs the kept `languages`")
        if not 0.0 < min_score <= 1.0:
            raise ValueError(f"min_score must be within (0, 1], got {min_score}")
        if window_chars < 50:
            raise ValueError(f"window_chars must be >= 50, got {window_chars}")
        if windows < 1:
            raise ValueError(f"windows must be >= 1, got {windows}")
        self.languages = frozenset(normalize_code(str(l)) for l in languages)
        self.min_score = float(min_score)
        self.window_chars = int(window_chars)
        self.windows = int(windows)
        self.model_path = model_path

    def preflight(self) -> None:
        import os

        from datamill.steps.langid.model import ENV_VAR, resolve_model_path

        if self.model_path or os.environ.get(ENV_VAR):
            resolve_model_path(self.model_path, download=False)

    def setup(self) -> None:
        from resiliparse.extract.html2text import extract_plain_text

        from datamill.steps.langid.identify import Identifier
        from datamill.steps.langid.model import load_model

        self._plain = extract_plain_text
        self._identifier = Identifier(load_model(self.model_path), max_chars=self.window_chars,
                                      script_first=True, second_opinion=False)
        unknown = sorted(self.languages - set(self._identifier.model.labels))
        if unknown:
            raise ValueError(f"html_language_prefilter: no label {unknown} in lid.176; labels "
                             "are ISO 639-1 codes where one exists (see docs/langid.md)")

    def prefork(self) -> None:
        """Load lid.176 in the parent before workers are forked."""
        self.ensure_setup()

    def cheap_text(self, record: dict[str, Any]) -> str:
        """The page's plain text without main-content detection ('' when there is none)."""
        raw = record.get("text")
        if raw is None:
            return ""
        kind = _is_html_type((record.get("metadata") or {}).get("content_type"))
        if kind is None:
            return ""  # not text: extract_html drops it
        html = decode_html(raw) if not isinstance(raw, str) else raw
        if kind is False:
            return html
        if not html or html.isspace():
            return ""
        tree = parsed.parse(html) if isinstance(raw, str) else None
        if tree is None:
            from resiliparse.parse.html import HTMLTree

            tree = HTMLTree.parse(html)
        return self._plain(tree, main_content=False, alt_texts=False, links=False,
                           form_fields=False, noscript=False)

    def drop_reason_batch(self, batch: Batch) -> list:
        self.ensure_setup()
        texts = self.each(batch, self.cheap_text)
        spans: list[tuple[int, int] | None] = []
        flat: list[str] = []
        for t in texts:
            if isinstance(t, str) and t.strip():
                wins = windows_of(t, self.window_chars, self.windows)
                spans.append((len(flat), len(flat) + len(wins)))
                flat.extend(wins)
            else:
                spans.append(None)
        ids = self._identifier.identify(flat) if flat else []
        out: list = []
        for t, span in zip(texts, spans):
            if not isinstance(t, str):
                out.append(t)  # Failed: quarantined by the base class
            elif span is None:
                out.append(None)  # nothing to read here: extract_html decides
            else:
                confident_other = all(
                    r.language not in self.languages and r.score >= self.min_score
                    for r in ids[span[0]:span[1]])
                out.append("language_not_kept" if confident_other else None)
        for record, verdict in zip(batch, out):
            if verdict is not None and isinstance(record.get("text"), str):
                parsed.take(record["text"])  # dropped: its tree is not needed any more
        return out
