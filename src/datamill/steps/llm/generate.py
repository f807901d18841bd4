"""``generate``: N responses per prompt, as a ``ranking`` record (UltraFeedback's first step).

Response ``i`` uses ``temperatures[i % len]`` and ``models[i % len]`` (one endpoint, several
models, as vLLM or Ollama serve them) and its own sampling seed, so the N answers differ and a
rerun replays them from the cache. The responses carry no rank yet: ``llm_judge`` rates and
ranks them. Which model/temperature made each answer is in ``metadata.generate``.
"""

from __future__ import annotations

from typing import Any

from datamill.core.record import Record
from datamill.core.step import register
from datamill.llm.client import finish_reason
from datamill.post.schema import message, ranking
from datamill.steps.llm.base import LLMStep
from datamill.steps.llm.records import prompt_messages

VERSION = "generate/v1"


@register("generate")
class Generate(LLMStep):
    """N responses per prompt (different temperatures/models) -> ranking records."""

    template_version = VERSION

    def __init__(self, n: int = 2, temperatures: list[float] | None = None, models: list[str] | None = None,
                 system: str | None = None, seed: int = 0, llm: dict[str, Any] | None = None):
        if n < 1:
            raise ValueError("n must be >= 1")
        super().__init__(llm)
        self.n = n
        self.temperatures = list(temperatures or [self.llm_config.temperature])
        self.models = list(models or [])
        self.system, self.seed = system, seed

    def process(self, record: Record) -> list[Record] | str:
        prompt = prompt_messages(record)
        if not prompt:
            return "no_prompt"
        send = ([{"role": "system", "content": self.system}] if self.system else []) + prompt
        responses, info = [], []
        for i in range(self.n):
            params: dict[str, Any] = {"temperature": self.temperatures[i % len(self.temperatures)],
                                      "seed": self.seed * 1_000_003 + i}
            if self.models:
                params["model"] = self.models[i % len(self.models)]
            text, reply = self.chat_text(send, **params)
            if not text.strip():
                self.note("empty_response")
                continue
            responses.append({"messages": [message("assistant", text.strip())]})
            info.append({"model": reply.get("model") or params.get("model"), "temperature": params["temperature"],
                         "finish_reason": finish_reason(reply), "seed": params["seed"]})
        if len(responses) < min(2, self.n):
            return "too_few_responses"
        meta = dict(record.get("metadata") or {})
        meta["generate"] = info
        out = ranking(str(record.get("id")), prompt, responses, metadata=meta)
        return [self.stamp(out, None, n=self.n)]
