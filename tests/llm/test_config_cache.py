"""LLM settings, the reply cache and Retry-After parsing (no server needed)."""

import os
import time
import email.utils

import pytest

from datamill.core.errors import DatamillError
from datamill.llm.cache import ReplyCache, cache_key
from datamill.llm.client import parse_retry_after
from datamill.llm.config import LLMConfig


def test_config_env_defaults_and_validation(monkeypatch):
    monkeypatch.setenv("DATAMILL_LLM_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("DATAMILL_LLM_MODEL", "m")
    cfg = LLMConfig.from_dict({"max_concurrency": "4", "temperature": 0})
    assert cfg.base_url == "http://127.0.0.1:9/" and cfg.model == "m" and cfg.max_concurrency == 4
    assert cfg.resolved().base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(DatamillError, match="api_key_env"):
        LLMConfig.from_dict({"api_key": "sk-secret"})
    with pytest.raises(DatamillError, match="unknown setting"):
        LLMConfig.from_dict({"base_ur": "x"})
    with pytest.raises(DatamillError, match="max_concurrency"):
        LLMConfig.from_dict({"max_concurrency": 0})
    monkeypatch.delenv("DATAMILL_LLM_BASE_URL")
    with pytest.raises(DatamillError, match="DATAMILL_LLM_BASE_URL"):
        LLMConfig.from_dict({}).resolved()


def test_cache_key_covers_request_and_cache_roundtrip(tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7, "seed": 1}
    k = cache_key("http://h/v1", "/chat/completions", body)
    assert k == cache_key("http://h/v1/", "/chat/completions", dict(reversed(list(body.items()))))
    for change in ({"seed": 2}, {"temperature": 0.1}, {"model": "n"},
                   {"messages": [{"role": "user", "content": "hi!"}]}):
        assert cache_key("http://h/v1", "/chat/completions", {**body, **change}) != k
    assert cache_key("http://other/v1", "/chat/completions", body) != k
    cache = ReplyCache(str(tmp_path))
    assert cache.get(k) is None
    cache.put(k, body, {"choices": [{"message": {"content": "hello"}}]})
    assert cache.get(k)["choices"][0]["message"]["content"] == "hello"
    assert len(cache) == 1
    assert not [f for _r, _d, fs in os.walk(tmp_path) for f in fs if f.startswith(".tmp-")]


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3.0 <= parse_retry_after(when) <= 5.5
