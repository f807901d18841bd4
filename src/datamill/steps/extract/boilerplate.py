"""Line-level boilerplate removal for text extracted from HTML.

Resiliparse's main-content heuristics remove navigation and page chrome by structure; what they
leave is mostly line-shaped: cookie and newsletter notices, share/"read more" widgets, photo
credits, bylines and datelines above the article, "related stories" and copyright lines below
it. ``clean_lines`` removes those with cheap per-line rules (one pass of a few precompiled
regular expressions), so it costs a fraction of the extraction itself.

The rules are deliberately generic (no site names): they are phrases that mean "page chrome"
on any news or blog site, plus the position rule used by jusText and trafilatura (short lines
before the first and after the last real paragraph are not article text).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")

# A whole (short) line that is nothing but a widget label or navigation word.
_CHROME_LINE = re.compile(
    r"""^[\W_]*(?:
        advert(?:isement|isements|ising)?|sponsored(?:\ (?:links?|content|stories))?|ad|ads|
        share(?:\ (?:this|on\ \w+|via\ \w+)(?:\ (?:article|story|post|page))?)?|shares?|
        \d[\d,.]*\s*(?:shares?|comments?|views?)|sharing\ is\ caring|tweet|pin(?:\ it)?|
        e-?mail|print|comments?|post\ comment.*|leave\ a\ (?:comment|reply)|reply|
        read\ (?:more|next|full\ (?:story|article))|continue\ reading(?:\ below)?|
        more\ (?:stories|news|articles|from\ .{1,40}|in\ .{1,40}|great\ .{1,40})|
        related(?:\ (?:articles?|stories|posts|content|coverage|links|topics|videos?))?|
        (?:you\ (?:may|might)\ also\ like|recommended(?:\ for\ you)?|trending(?:\ now)?|
           most\ (?:popular|read|viewed)|popular\ (?:on|in|now)\b.*|top\ stories|latest\ news)|
        (?:filed\ under|tags?|topics?|categor(?:y|ies)|sections?|posted\ in|keywords?)\b.{0,80}|
        home(?:page)?|menu|search|close|x|skip\ to\ .*|back\ to\ top|go\ to\ .{1,30}|
        subscribe(?:\ now|\ today)?|newsletters?|daily\ newsletter|sign\ ?(?:up|in)|log\ ?(?:in|out)|
        register|submit|next|previous|prev|listen(?:\ live)?|watch(?:\ live)?|
        (?:breaking\ news|news\ alerts?)(?:\ emails?)?|cookie\ (?:settings|policy|preferences)|
        privacy\ policy|terms\ (?:of\ (?:use|service)|and\ conditions)|contact\ us|about\ us|
        follow\ (?:us|me)\b.*|like\ us\ on\ .*|image\ \d+\ (?:of|/).*|photos?|videos?|
        (?:chevron|arrow)_\w+|loading\.*|please\ wait\.*|feedback
    )[\W_]*$""",
    re.IGNORECASE | re.VERBOSE,
)

# The same widget labels in the other languages most common in web crawls (de, fr, es, it,
# pt, nl, pl): "read also", "share", "advertisement", "more on this topic", "you might like".
_CHROME_LINE_INTL = re.compile(
    r"""^[\W_]*(?:
        das\ k(?:ö|oe)nnte\ (?:dich|sie)\ auch\ interessieren|auch\ interessant|lesen\ sie\ auch|
        auch\ lesen|weiterlesen|zum\ weiterlesen|mehr\ zum\ thema.{0,40}|(?:diesen\ )?artikel\ teilen|
        teilen|drucken|kommentare?|anzeige|werbung|jetzt\ registrieren|zur\ startseite|
        newsletter\ abonnieren|weitere\ (?:artikel|themen|nachrichten).{0,40}|
        (?:à\ )?lire\ (?:aussi|la\ suite|également)|voir\ aussi|partager|publicité|
        sur\ le\ même\ sujet|
        lee\ también|leer\ más|te\ puede\ interesar|compartir|publicidad|noticias\ relacionadas|
        ver\ también|s[ií]guenos\ en\ .{0,60}|
        leggi\ anche|condividi|pubblicità|leia\ (?:também|mais)|compartilhe|publicidade|
        czytaj\ (?:też|także|więcej)|udostępnij|reklama|lees\ (?:ook|meer)|deel\ dit\ artikel|
        advertentie
    )[\W_]*$""",
    re.IGNORECASE | re.VERBOSE,
)

# Phrases that mark a notice or promotion wherever they appear in a line of moderate length.
_NOTICE = re.compile(
    r"""(?:
        \b(?:we|this\ (?:site|website))\ uses?\ cookies|\bcookies?\ (?:policy|settings|consent)|
        \buse\ of\ cookies|\baccept\ (?:all\ )?cookies|
        \ball\ rights\ reserved|^\W*(?:copyright|©)|©\ ?\d{4}|
        \bsign\ up\ (?:for|to)\ (?:our|the|\w+\ )?\w*\ ?newsletter|\bsubscribe\ to\ (?:our|the)\b|
        \bnewsletter\ delivered|\bdelivered\ (?:to|straight\ to)\ your\ inbox|
        \bget\ (?:\w+\ ){0,3}(?:updates|news)\ delivered|\byou\ can\ unsubscribe|
        \bby\ subscribing\b|\benter\ your\ e-?mail|\byou\ have\ been\ successfully\ subscribed|
        \bclick\ here\ (?:to|for)\b|\bfollow\ (?:us|him|her|them)\ on\ (?:twitter|facebook|instagram)|
        \b(?:image|photo|picture)\ credit|\(credit:|\bcredit:\ |\bfile\ photo\b|
        \b(?:AP|Reuters|AFP|Getty)\ (?:Photo|Images)\b|\bphoto(?:graph)?:\ |\bimage:\ |
        \bthis\ (?:post|article|page)\ (?:may\ )?contains?\ affiliate|\baffiliate\ links?\b|
        \bmay\ (?:get|earn)\ a\ (?:share|commission)|
        \bupdate\ to\ a\ modern\ browser|\byour\ browser\ (?:is|does)\b|\benable\ javascript|
        \bjoin\ our\ \w+|\btell\ us\ what\ you\ think|
        \bwe\ welcome\ your\ comments|\bplease\ (?:be\ respectful|keep\ it\ civil)|
        \bterms\ of\ (?:use|service)\b.*\bprivacy|\bprivacy\ policy\b.*\bterms\b|
        \bis\ (?:a|an)\ (?:freelance\ )?(?:writer|reporter|journalist|editor|correspondent)\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# Datelines, timestamps and bylines standing alone on a line.
_MONTH = (r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?")
_META_LINE = re.compile(
    rf"""^[\W_]*(?:
        (?:(?:published|posted|updated|last\ updated|modified|created|date)\b:?\s*(?:on\ )?)?
        (?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s*)?
        (?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+\d{{4}})?|\d{{1,2}}\.?\s+{_MONTH},?(?:\s+\d{{4}})?|
           \d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}})
        (?:,?\s*(?:at\s+)?\d{{1,2}}[:.]\d{{2}}(?:\s*[ap]\.?m\.?)?(?:\s*[A-Z]{{2,4}})?)?
      |(?:published|posted|updated|last\ updated)\b.{{0,60}}
      |\d{{1,2}}[:.]\d{{2}}\s*[ap]\.?m\.?.{{0,40}}
      |by\ [\w.'’-]+(?:\ [\w.'’-]+){{0,4}}(?:\s*(?:,|and|&|\|)\s*[\w.'’-]+(?:\ [\w.'’-]+){{0,3}})*
    )[\W_]*$""",
    re.IGNORECASE | re.VERBOSE,
)

# Markup that leaked into text (for example <noscript> tracking pixels parsed as text).
_MARKUP_LINE = re.compile(r"^\s*<\/?[a-zA-Z][^>]*>")


# Cheap prefilter for _NOTICE: every branch of it contains one of these (lower-cased) strings,
# and a substring test is two orders of magnitude faster than the alternation.
_NOTICE_HINTS = ("cookie", "rights reserved", "copyright", "\u00a9", "newsletter", "subscri",
                 "inbox", "delivered", "mail", "click here", "follow", "credit", "photo", "image",
                 "affiliate", "commission", "share", "browser", "javascript", "join our",
                 "tell us", "comment", "respectful", "civil", "terms of", "privacy", "writer",
                 "reporter", "journalist", "editor", "correspondent", "getty", "reuters", "afp")


def _n_words(line: str) -> int:
    return len(_WORD.findall(line))


def _is_notice(line: str) -> bool:
    low = line.lower()
    for hint in _NOTICE_HINTS:
        if hint in low:
            return _NOTICE.search(line) is not None
    return False


def clean_lines(text: str, *, min_paragraph_words: int = 10, max_notice_words: int = 70,
                trim_head: bool = True, trim_tail: bool = False, dedupe: bool = True) -> str:
    """Drop boilerplate lines from extracted text; keep the article's paragraphs in order.

    * a short line that is only a widget label ("Advertisement", "Share", "Read more",
      "Related articles", "Tags: ...") or a standalone date/byline is dropped anywhere;
    * a line of up to ``max_notice_words`` words carrying a notice phrase (cookies, newsletter,
      copyright, photo credit, affiliate disclosure, author blurb) is dropped anywhere;
    * leaked markup lines (``<img ...>``) and repeated short lines (after their first
      occurrence) go;
    * with ``trim_head`` (``trim_tail``), lines shorter than ``min_paragraph_words`` words
      before the first (after the last) line of at least that many words are dropped
      (jusText's rule: a page's head and foot are short labels, an article is long lines).

    Paragraph breaks (blank lines) of the input are kept between the surviving lines.
    """
    if not text:
        return ""
    kept: list[str] = []
    words: list[int] = []
    breaks: list[bool] = []
    seen: set[str] = set()
    blank_before = False
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            blank_before = True
            continue
        n = _n_words(line)
        if n == 0:
            continue
        if dedupe and n <= 12:
            key = line.lower()
            if key in seen:
                continue
            seen.add(key)
        if n <= 12 and (_CHROME_LINE.match(line) or _META_LINE.match(line)
                        or _CHROME_LINE_INTL.match(line)):
            continue
        if n <= max_notice_words and _is_notice(line):
            continue
        if line[0] == "<" and _MARKUP_LINE.match(line):
            continue
        kept.append(line)
        words.append(n)
        breaks.append(blank_before)
        blank_before = False
    if not kept:
        return ""
    start, end = 0, len(kept)
    if trim_head or trim_tail:
        long_idx = [i for i, n in enumerate(words) if n >= min_paragraph_words]
        if long_idx:
            if trim_head:
                start = long_idx[0]
            if trim_tail:
                end = long_idx[-1] + 1
    out = [kept[start]]
    for i in range(start + 1, end):
        out.append("\n\n" if breaks[i] else "\n")
        out.append(kept[i])
    return "".join(out)
