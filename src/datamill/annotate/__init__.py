"""Annotation and review of training data: a web app (FastAPI + SQLAlchemy) and its JSON API,
plus agreement metrics, aggregation and weak supervision.

* :func:`create_app` (``datamill annotate serve``) — the app; see ``docs/annotation.md``.
* :mod:`.db` models, :mod:`.auth` users/sessions/CSRF, :mod:`.distribution` task assignment,
  :mod:`.review` review rounds, :mod:`.export` post-training records, :mod:`.dashboard`,
  :mod:`.templates_catalog` ready question schemas, :mod:`.questions` schema and answers.
* :mod:`.agreement`, :mod:`.aggregate`, :mod:`.weak` — the metrics, usable without the app.

Importing this package does not import the web stack; :func:`create_app` does.
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any):
    """See :func:`datamill.annotate.app.create_app`."""
    from datamill.annotate.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
