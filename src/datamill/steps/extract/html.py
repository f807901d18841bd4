"""HTML → text: the ``extract_html`` step.

Three backends, one step:

* ``resiliparse`` — Resiliparse's main-content extraction with its defaults: fast (C++/Cython,
  ~1,000 pages/s on one core here) but keeps captions, titles, bylines and widget text.
* ``trafilatura`` — trafilatura's extractor (``favor_precision`` by default): the most precise
  of the open-source extractors, ~15× slower.
* ``datamill`` (default) — Resiliparse's main-content extraction tuned for article bodies
  (title, ``<header>``, figures, captions and image alt texts skipped, comment sections and
  post metadata left out) followed by :func:`~datamill.steps.extract.boilerplate.clean_lines`,
  which drops notice, widget, byline and credit lines. It matches trafilatura's F1 on the
  Scrapinghub article-extraction benchmark at ~10× its speed; see ``docs/extraction.md`` and
  ``benchmarks/eval_extraction.py``.

The reader puts the page in ``record["text"]`` (``str``, or ``bytes`` whose encoding is then
detected) and its MIME type in ``metadata["content_type"]``. The step replaces ``text`` with the
extracted text, stores the page ``<title>`` in ``metadata["title"]`` and returns ``None`` (drop
reason ``empty``) when nothing is left.
"""

from __future__ import annotations

from typing import Callable, Literal

from datamill.core.record import Record
from datamill.core.step import Resources, Transform, register
from datamill.steps.extract import parsed

Backend = Literal["resiliparse", "trafilatura", "datamill"]

# Elements the datamill backend never takes text from: the headline (kept as metadata "title"),
# article/page headers (headline, byline, date), figures and their captions/credits.
DATAMILL_SKIP = ("h1", "header", "figure", "figcaption", '[class*="caption"]', '[class*="credit"]')

_PLAIN_TYPES = ("text/plain",)


def _is_html_type(content_type: str | None) -> bool | None:
    """True for HTML/XHTML (or unknown), False for plain text, None for anything else."""
    if not content_type:
        return True
    ct = content_type.split(";", 1)[0].strip().lower()
    if not ct or "html" in ct or ct in ("application/xml", "text/xml", "application/octet-stream",
                                        "unknown", "application/unknown"):
        return True
    if ct in _PLAIN_TYPES:
        return False
    return None


def decode_html(data: bytes | str) -> str:
    """Bytes of unknown encoding → str (Resiliparse's detector: meta charset, BOM, statistics)."""
    if isinstance(data, str):
        return data
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    return bytes_to_str(bytes(data), detect_encoding(bytes(data)))


@register("extract_html")
class ExtractHTML(Transform):
    """Replace the HTML in ``text`` by the page's main text.

    Parameters
    ----------
    backend:
        ``datamill`` (default; Resiliparse + boilerplate line rules), ``resiliparse`` (plain
        Resiliparse main content) or ``trafilatura`` (precise, slower; needs ``trafilatura`` and
        ``lxml_html_clean``).
    favour_precision:
        trafilatura: its ``favor_precision``. datamill: also drop short lines before the first
        and after the last paragraph (a little more precision, a little less recall). Ignored
        by ``resiliparse``.
    include_tables:
        Keep text from ``<table>`` elements (all backends).
    include_comments:
        Keep user comment sections (all backends).
    keep_title:
        Store the page ``<title>`` in ``metadata["title"]``.
    min_text_chars:
        Drop (reason ``empty``) pages whose extracted text is shorter than this.
    """

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=256)

    def __init__(self, backend: Backend = "datamill", favour_precision: bool = True,
                 include_tables: bool = True, include_comments: bool = False,
                 keep_title: bool = True, min_text_chars: int = 1):
        super().__init__()
        if backend not in ("resiliparse", "trafilatura", "datamill"):
            raise ValueError(f"unknown backend {backend!r}; "
                             "use 'datamill', 'resiliparse' or 'trafilatura'")
        if min_text_chars < 0:
            raise ValueError("min_text_chars must be >= 0")
        self.backend = backend
        self.favour_precision = favour_precision
        self.include_tables = include_tables
        self.include_comments = include_comments
        self.keep_title = keep_title
        self.min_text_chars = min_text_chars
        self._extract: Callable[[str], tuple[str, str | None]] | None = None

    # --- life cycle --------------------------------------------------------------------------
    def setup(self) -> None:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        self._parse = HTMLTree.parse
        self._html2text = extract_plain_text
        if self.backend == "trafilatura":
            try:
                import trafilatura
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError("backend 'trafilatura' needs `pip install trafilatura "
                                  "lxml_html_clean`") from exc
            self._trafilatura = trafilatura.extract
            self._extract = self._extract_trafilatura
        elif self.backend == "resiliparse":
            self._extract = self._extract_resiliparse
        else:
            # the boilerplate rules (their regular expressions take 20-45 ms to compile) are
            # imported only by the backend that uses them
            from datamill.steps.extract.boilerplate import clean_lines

            self._clean_lines = clean_lines
            skip = list(DATAMILL_SKIP)
            if not self.include_tables:
                skip.append("table")
            self._skip = skip
            self._extract = self._extract_datamill

    def prefork(self) -> None:
        """Import the extractor in the parent before workers are forked."""
        self.ensure_setup()

    # --- backends: html str → (text, title) --------------------------------------------------
    def _title(self, tree) -> str | None:
        if not self.keep_title:
            return None
        title = tree.title
        return (title.strip() or None) if title else None

    def _tree(self, html: str):
        # the tree html_language_prefilter already made of this page, if any
        tree = parsed.take(html)
        return tree if tree is not None else self._parse(html)

    def _extract_resiliparse(self, html: str) -> tuple[str, str | None]:
        tree = self._tree(html)
        text = self._html2text(tree, main_content=True, preserve_formatting=True,
                               comments=self.include_comments,
                               skip_elements=None if self.include_tables else ["table"])
        return text, self._title(tree)

    def _extract_datamill(self, html: str) -> tuple[str, str | None]:
        tree = self._tree(html)
        text = self._html2text(tree, main_content=True, preserve_formatting=True,
                               comments=self.include_comments, post_meta=False,
                               alt_texts=False, skip_elements=self._skip)
        if self.favour_precision:
            text = self._clean_lines(text, trim_head=True, trim_tail=True, min_paragraph_words=6)
        else:
            text = self._clean_lines(text, trim_head=False, trim_tail=False)
        return text, self._title(tree)

    def _extract_trafilatura(self, html: str) -> tuple[str, str | None]:
        text = self._trafilatura(html, favor_precision=self.favour_precision,
                                 include_comments=self.include_comments,
                                 include_tables=self.include_tables,
                                 include_images=False, deduplicate=False,
                                 with_metadata=False, output_format="txt")
        title = self._title(self._tree(html)) if self.keep_title else None
        return text or "", title

    # --- the step ----------------------------------------------------------------------------
    def extract(self, html: str | bytes) -> tuple[str, str | None]:
        """Extract ``(text, title)`` from one page (no record needed)."""
        self.ensure_setup()
        if isinstance(html, (bytes, bytearray, memoryview)):
            html = decode_html(bytes(html))
        if not html or html.isspace():
            return "", None
        return self._extract(html)

    def transform(self, record: Record) -> Record | None:
        self.ensure_setup()
        raw = record.get("text")
        if raw is None:
            return None
        meta = record.get("metadata")
        if meta is None:
            meta = record["metadata"] = {}
        kind = _is_html_type(meta.get("content_type"))
        if kind is None:  # images, PDFs, … : nothing to extract as text
            return None
        if kind is False:
            text = decode_html(raw).strip()
            title = None
        else:
            text, title = self.extract(raw)
            text = text.strip()
        if len(text) < max(1, self.min_text_chars):
            return None
        record["text"] = text
        if title:
            meta["title"] = title
        return record

    def transform_batch(self, batch: list[Record]) -> list:
        self.ensure_setup()
        return self.each(batch, self.transform)  # a page that raises is quarantined alone
