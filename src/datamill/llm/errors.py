"""Errors of the LLM client: each names the endpoint and what went wrong."""

from __future__ import annotations

from datamill.core.errors import DatamillError


class LLMError(DatamillError):
    """A request that failed for good (after retries), or a reply the server refused."""

    reason = "llm_error"


class LLMUnavailable(LLMError):
    """The endpoint cannot be reached or does not serve the configured model (health check)."""

    reason = "llm_unavailable"


class ContextOverflow(LLMError):
    """The prompt (plus max_tokens) does not fit the model's context: the record is dropped
    with reason ``too_long``."""

    reason = "too_long"


class LLMParseError(LLMError):
    """A reply that does not have the shape a task expects; the raw text is kept."""

    reason = "llm_parse_error"

    def __init__(self, message: str, raw: str = ""):
        super().__init__(message)
        self.raw = raw
