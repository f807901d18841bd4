"""``normalize_unicode``: one canonical Unicode form, clean line endings, no control characters.

Order of operations (each optional part is a parameter):

1. ``fix_text`` — ftfy repairs mojibake (``â€™`` → ``’``), HTML entities left in text and
   similar damage; quotes, ligatures and character widths are left to ``form``. Needs the
   optional ``ftfy`` package (``pip install 'datamill[text]'``).
2. ``unify_newlines`` — ``\\r\\n``, ``\\r``, NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH
   SEPARATOR (U+2029) become ``\\n``.
3. ``remove_control`` — control characters (category Cc: C0, DEL, C1) are removed except ``\\n``
   and ``\\t`` (``\\r`` and NEL count as line breaks, left to ``unify_newlines``); so is the
   byte-order mark U+FEFF. Format characters such as ZWJ (needed in emoji and Indic scripts)
   and soft hyphens are kept.
4. ``form`` — Unicode normalisation: NFC (default, canonical composition, lossless),
   NFKC (also folds compatibility characters: ligatures, full-width forms, superscripts — lossy,
   what many web pipelines use before dedup), NFD or NFKD.
5. ``collapse_whitespace`` — runs of spaces/tabs/other horizontal space (incl. NBSP) become one
   space, spaces at line ends are removed, three or more newlines become two, and the text is
   stripped.

ASCII text skips normalisation (it is already in every form), and ``unicodedata.is_normalized``
skips the rewrite for text that is already normalised, so clean input costs little.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from typing import Literal

from datamill.core.record import Record
from datamill.core.step import Transform, register

_NEWLINES_RE = re.compile("\r\n?|[\u0085\u2028\u2029]")
# Cc minus \t, \n and the line breaks \r and NEL (left to unify_newlines), plus the BOM.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]")
_HSPACE_RE = re.compile(r"[^\S\n]+")          # whitespace except newline
_TRAILING_SPACE_RE = re.compile(r" +\n")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")


@register("normalize_unicode")
class NormalizeUnicode(Transform):
    """Normalise ``record["text"]``: Unicode form, line endings, control characters, spaces.

    Args:
        form: Unicode normalisation form.
        fix_text: repair mojibake and other encoding damage with ftfy first (optional extra).
        remove_control: drop control characters except newline and tab (and the BOM).
        unify_newlines: turn CRLF, CR, NEL, U+2028 and U+2029 into ``\\n``.
        collapse_whitespace: squeeze horizontal whitespace and blank lines, strip the text.
    """

    def __init__(self, form: Literal["NFC", "NFKC", "NFD", "NFKD"] = "NFC",
                 fix_text: bool = False, remove_control: bool = True,
                 unify_newlines: bool = True, collapse_whitespace: bool = False) -> None:
        super().__init__()
        if form not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise ValueError(f"form must be NFC, NFKC, NFD or NFKD, not {form!r}")
        if fix_text and importlib.util.find_spec("ftfy") is None:
            raise ImportError("normalize_unicode(fix_text=True) needs the 'ftfy' package: "
                              "pip install 'datamill[text]' (or pip install ftfy)")
        self.form = form
        self.fix_text = fix_text
        self.remove_control = remove_control
        self.unify_newlines = unify_newlines
        self.collapse_whitespace = collapse_whitespace
        self._ftfy = None

    def setup(self) -> None:
        if self.fix_text:
            import ftfy

            self._ftfy = ftfy
            # Repair encoding damage only: keep curly quotes, ligatures and widths (the chosen
            # ``form`` decides those) and line breaks (unify_newlines does them).
            self._ftfy_config = ftfy.TextFixerConfig(
                uncurl_quotes=False, fix_latin_ligatures=False, fix_character_width=False,
                fix_line_breaks=False, normalization=None)

    def normalize(self, text: str) -> str:
        if self.fix_text:
            if self._ftfy is None:
                self.setup()
            text = self._ftfy.fix_text(text, self._ftfy_config)
        if self.unify_newlines and ("\r" in text or not text.isascii()):
            text = _NEWLINES_RE.sub("\n", text)
        if self.remove_control:
            text = _CONTROL_RE.sub("", text)
        if not text.isascii() and not unicodedata.is_normalized(self.form, text):
            text = unicodedata.normalize(self.form, text)
        if self.collapse_whitespace:
            text = _HSPACE_RE.sub(" ", text)
            text = _TRAILING_SPACE_RE.sub("\n", text)
            text = _MANY_NEWLINES_RE.sub("\n\n", text)
            text = text.strip()
        return text

    def transform(self, record: Record) -> Record:
        text = record.get("text")
        if text:
            record["text"] = self.normalize(text)
        return record
