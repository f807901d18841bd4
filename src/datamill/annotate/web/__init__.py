"""The HTML pages: server-rendered Jinja2 templates (``annotate/templates/``), plain forms, no
JavaScript. Every form that changes something carries ``csrf_token``; every control has an
``id`` and a ``data-testid`` (listed in ``docs/annotation.md``) so browser tests can drive it.

Everything shown comes through Jinja2's autoescaping: text people typed (answers, comments,
prompts, dataset content, user and project names) is displayed as text, never as markup.

One module per role: :mod:`.login`, :mod:`.annotator`, :mod:`.reviewer`, :mod:`.admin`, on the
shared plumbing of :mod:`.common`; :data:`router` holds them all.
"""

from __future__ import annotations

from fastapi import APIRouter

from datamill.annotate.web import admin, annotator, login, reviewer
from datamill.annotate.web.common import render, render_error

router = APIRouter(include_in_schema=False)
for _module in (login, annotator, reviewer, admin):
    router.routes.extend(_module.router.routes)  # flat, so the route list can be walked

__all__ = ["router", "render", "render_error"]
