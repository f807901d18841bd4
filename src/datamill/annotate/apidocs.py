"""``/docs``: Swagger UI for the JSON API, served from this server with no CDN.

The Swagger UI bundle and stylesheet come from the ``fastapi-offline`` wheel (its ``static/``
folder); the start-up script is ``annotate/static/swagger-init.js``. The page is sent with a
Content-Security-Policy that allows scripts and styles from this server only
(:data:`DOCS_CSP`), so an injected script cannot run there either.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
OWN_STATIC = Path(__file__).with_name("static")
ASSETS = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css",
          "swagger-init.js": "application/javascript"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>datamill annotate: API</title>
<link rel="stylesheet" href="/docs-assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script>
<script src="/docs-assets/swagger-init.js"></script>
</body></html>
"""

router = APIRouter(include_in_schema=False)


def _vendor_dir() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.origin:
        return None
    d = Path(spec.origin).parent / "static"
    return d if d.is_dir() else None


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    if _vendor_dir() is None:
        raise HTTPException(503, "API docs need the Swagger UI assets: pip install fastapi-offline "
                                 "(the spec itself is at /openapi.json)")
    return HTMLResponse(PAGE)


@router.get("/docs-assets/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, "no such asset")
    base = OWN_STATIC if name == "swagger-init.js" else _vendor_dir()
    if base is None or not (base / name).is_file():
        raise HTTPException(404, "no such asset")
    return FileResponse(base / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
