"""The JSON API (``/api/...``), documented by the app's OpenAPI spec (``/openapi.json``,
``/docs``).

Authenticate with ``POST /api/auth/login`` (``{"username", "password"}``): the reply holds a
``token`` for ``Authorization: Bearer <token>`` and also sets the session cookie; cookie-based
calls that change something must send the session's ``csrf_token`` as ``X-CSRF-Token``.
Errors are ``{"detail": ...}`` with 400 (bad input), 401 (not logged in), 403 (not allowed,
CSRF), 404 (no such object, or not yours), 409 (state changed: already submitted, reviewed…),
413 (payload too large), 422 (malformed JSON or an answer that does not fit the schema), 429
(too many failed logins).

One module per concern: :mod:`.users` (login, users), :mod:`.projects` (projects, members,
imports, items, dashboards, exports), :mod:`.tasks` (tasks and reviews), on :mod:`.common`
(the request's user, bodies, response shapes); :data:`router` holds them all.
"""

from __future__ import annotations

from fastapi import APIRouter

from datamill.annotate.api import projects, tasks, users
from datamill.annotate.api.common import (api_admin, api_principal, project_json, public_view, task_json,
                                          user_json)

router = APIRouter()
for _module in (users, projects, tasks):
    router.routes.extend(_module.router.routes)  # flat, so the route list can be walked

__all__ = ["router", "api_admin", "api_principal", "project_json", "public_view", "task_json", "user_json"]
