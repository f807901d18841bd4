"""Object ids in URLs: positive 64-bit integers. A larger number (``2**70``) is a 422 like any
malformed parameter, never a database overflow (500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_ID = 2**63 - 1

DbId = Annotated[int, Path(ge=1, le=MAX_ID, description="a positive 64-bit id")]
