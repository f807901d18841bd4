"""One parse per page: a small cache of Resiliparse trees shared by the steps of one worker.

``html_language_prefilter`` parses a page to read its language cheaply; ``extract_html`` then
needs the same tree. Steps run over a whole batch before the next starts, so the cache holds a
batch's worth of trees (``MAX_TREES``) keyed by the identity of the HTML ``str`` object: a hit
needs the very same object (``is``), so a page that was copied, rewritten or serialised in
between is simply parsed again. ``take`` removes the entry (each tree is used at most twice).
"""

from __future__ import annotations

from collections import OrderedDict

MAX_TREES = 512

_TREES: "OrderedDict[int, tuple[str, object]]" = OrderedDict()


def parse(html: str):
    """A Resiliparse ``HTMLTree`` of ``html``, remembered for :func:`take`."""
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    _TREES[id(html)] = (html, tree)
    while len(_TREES) > MAX_TREES:
        _TREES.popitem(last=False)
    return tree


def take(html: str):
    """The tree :func:`parse` made of this very ``html`` object (and forget it), else ``None``."""
    hit = _TREES.pop(id(html), None)
    if hit is not None and hit[0] is html:
        return hit[1]
    return None


def clear() -> None:
    _TREES.clear()
