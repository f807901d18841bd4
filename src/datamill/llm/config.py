"""Endpoint settings of an LLM step: a recipe's ``llm:`` block, a step's ``llm:`` parameter,
or the environment.

Precedence: the step's own ``llm:`` mapping, then the recipe-level ``llm:`` block (merged into
each LLM step by :mod:`datamill.core.recipe`), then the environment
(``DATAMILL_LLM_BASE_URL``, ``DATAMILL_LLM_MODEL``, ``DATAMILL_LLM_CACHE``), then the defaults
below. The API key is never a setting: ``api_key_env`` names the environment variable that
holds it, so recipes, run.json, stats, the cache and logs never contain it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from datamill.core.errors import DatamillError

ENV_BASE_URL = "DATAMILL_LLM_BASE_URL"
ENV_MODEL = "DATAMILL_LLM_MODEL"
ENV_CACHE = "DATAMILL_LLM_CACHE"
DEFAULT_API_KEY_ENV = "DATAMILL_LLM_API_KEY"


@dataclass(frozen=True)
class LLMConfig:
    base_url: str = ""
    model: str = ""
    api_key_env: str = DEFAULT_API_KEY_ENV
    max_concurrency: int = 8
    requests_per_minute: float = 0.0  # 0: no client-side rate limit
    timeout: float = 600.0
    temperature: float = 0.7
    max_tokens: int = 512
    top_p: float | None = None
    seed: int = 0
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    cache: bool = True
    cache_dir: str = ""
    health_check: bool = True

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, *, where: str = "llm") -> "LLMConfig":
        values = dict(values or {})
        if "api_key" in values:
            raise DatamillError(f"{where}: 'api_key' is not accepted (keys never go into recipes); "
                                f"put the key in an environment variable and name it with 'api_key_env'")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise DatamillError(f"{where}: unknown setting(s) {', '.join(unknown)}; expected some of "
                                f"{', '.join(sorted(known))}")
        out: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue
            default = known[key].default
            try:
                if isinstance(default, bool):
                    if not isinstance(value, bool):
                        raise ValueError("expected true or false")
                elif isinstance(default, int):
                    value = int(value)
                elif isinstance(default, float) or key == "top_p":
                    value = float(value)
                else:
                    value = str(value)
            except (TypeError, ValueError) as exc:
                raise DatamillError(f"{where}: setting {key!r} = {value!r}: {exc}") from None
            out[key] = value
        out.setdefault("base_url", os.environ.get(ENV_BASE_URL, ""))
        out.setdefault("model", os.environ.get(ENV_MODEL, ""))
        out.setdefault("cache_dir", os.environ.get(ENV_CACHE, ""))
        cfg = cls(**out)
        if cfg.max_concurrency < 1:
            raise DatamillError(f"{where}: max_concurrency must be >= 1")
        if cfg.max_retries < 0:
            raise DatamillError(f"{where}: max_retries must be >= 0")
        return cfg

    def resolved(self) -> "LLMConfig":
        """Check that an endpoint is configured; normalise the base URL to end in ``/v1``."""
        if not self.base_url:
            raise DatamillError(f"no LLM endpoint: set llm.base_url in the recipe or {ENV_BASE_URL} "
                                f"(for a local model: `datamill llm serve`)")
        url = self.base_url.rstrip("/")
        if not url.endswith("/v1"):
            url += "/v1"
        return LLMConfig(**{**asdict(self), "base_url": url})

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    def cache_path(self) -> str:
        if self.cache_dir:
            return self.cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "datamill", "llm")

    def public(self) -> dict[str, Any]:
        """The settings safe to show or store (never the key: only the variable's name)."""
        return asdict(self)
