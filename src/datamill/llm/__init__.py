"""LLMs in the loop: one client for every OpenAI-compatible server, an on-disk reply cache,
a local llama.cpp server for tests and demos, and the prompt templates of the LLM steps.

The client (:class:`datamill.llm.client.LLMClient`) is built on ``httpx``: see its module
docstring for why not the ``openai`` package.
"""

from datamill.llm.config import LLMConfig  # noqa: F401
from datamill.llm.errors import (ContextOverflow, LLMError, LLMParseError, LLMUnavailable)  # noqa: F401
