"""The LLM client against a real llama.cpp server (SmolLM2-135M-Instruct), through a real
counting proxy that can answer 429/503."""

import os
import time

import pytest

from datamill.llm.client import LLMClient, reply_text
from datamill.llm.config import LLMConfig
from datamill.llm.errors import ContextOverflow, LLMError, LLMUnavailable
from datamill.llm.serve import DEFAULT_ALIAS, free_port

HELLO = [{"role": "user", "content": "Say hello in one word."}]


def client(settings, **extra):
    return LLMClient(LLMConfig.from_dict({**settings, **extra}))


def test_health_check_names_the_endpoint(llm_settings):
    with client(llm_settings) as c:
        assert DEFAULT_ALIAS in c.health_check() and c.model == DEFAULT_ALIAS
    with client(llm_settings, model="no-such-model") as c, pytest.raises(LLMUnavailable) as exc:
        c.health_check()
    assert llm_settings["base_url"] in str(exc.value) and "no-such-model" in str(exc.value)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with client(llm_settings, base_url=dead) as c, pytest.raises(LLMUnavailable, match=dead.replace(".", r"\.")):
        c.health_check()


def test_chat_counts_tokens_and_the_cache_makes_no_call_twice(llm_settings, llm_proxy):
    with client(llm_settings) as c:
        c.health_check()
        first = c.chat(HELLO, max_tokens=8)
        assert reply_text(first).strip()
        assert c.usage["calls"] == 1 and c.usage["prompt_tokens"] > 0 and c.usage["completion_tokens"] > 0
        again = c.chat(HELLO, max_tokens=8)
        assert again == first and c.usage["cache_hits"] == 1
        c.chat(HELLO, max_tokens=8, seed=7)  # another seed is another request
    assert llm_proxy.calls() == 2
    with client(llm_settings) as fresh:  # a new process would see the same cache on disk
        fresh.model = DEFAULT_ALIAS
        assert fresh.chat(HELLO, max_tokens=8) == first
        assert fresh.usage["calls"] == 0
    assert llm_proxy.calls() == 2


def test_concurrent_map_keeps_order(llm_settings, llm_proxy):
    prompts = [[{"role": "user", "content": f"What is {i} plus {i}?"}] for i in range(4)]
    with client(llm_settings, max_concurrency=4) as c:
        c.health_check()
        out = c.map(lambda m: c.chat(m, max_tokens=8), prompts)
    assert all(isinstance(o, dict) for o in out) and llm_proxy.calls() == 4


def test_429_with_retry_after_slows_down_and_finishes(llm_settings, llm_proxy):
    with client(llm_settings) as c:
        c.health_check()
        llm_proxy.fail_next += [(429, {"Retry-After": "1"}), (503, {}), (429, {"Retry-After": "1"})]
        t0 = time.monotonic()
        reply = c.chat(HELLO, max_tokens=4)
        waited = time.monotonic() - t0
    assert reply_text(reply) is not None
    assert waited >= 2.0  # two Retry-After: 1 honoured
    assert c.usage["rate_limited"] == 2 and c.usage["retries"] == 3 and c.usage["calls"] == 1
    assert llm_proxy.calls() == 4


def test_health_check_waits_out_a_429(llm_settings, llm_proxy):
    llm_proxy.fail_next += [(429, {"Retry-After": "1"})]
    with client(llm_settings) as c:
        assert DEFAULT_ALIAS in c.health_check()


def test_gives_up_after_max_retries(llm_settings, llm_proxy):
    llm_proxy.fail_next += [(500, {})] * 3
    with client(llm_settings, max_retries=2) as c:
        c.model = DEFAULT_ALIAS
        with pytest.raises(LLMError, match="gave up after 3 attempts"):
            c.chat(HELLO, max_tokens=4)


def test_context_overflow_is_its_own_error(llm_settings):
    long = "word " * 5000  # far beyond the 2,048-token context
    with client(llm_settings) as c:
        c.health_check()
        with pytest.raises(ContextOverflow):
            c.chat([{"role": "user", "content": long}], max_tokens=8)


def test_api_key_goes_to_the_server_and_nowhere_else(llm_settings, llm_proxy, tmp_path, monkeypatch):
    secret = "sk-datamill-test-" + os.urandom(6).hex()
    monkeypatch.setenv("MY_LLM_KEY", secret)
    with client(llm_settings, api_key_env="MY_LLM_KEY") as c:
        c.health_check()
        c.chat(HELLO, max_tokens=4)
        assert secret not in repr(c.config.public())
    assert llm_proxy.last_headers.get("Authorization") == f"Bearer {secret}"
    for root, _dirs, files in os.walk(llm_settings["cache_dir"]):
        for f in files:
            assert secret not in open(os.path.join(root, f), encoding="utf-8", errors="replace").read()
