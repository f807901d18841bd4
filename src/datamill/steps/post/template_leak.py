"""``template_leak_filter``: chat-template tokens leaked into message text.

A record whose text holds the special tokens of a chat template was rendered and parsed back
wrongly somewhere upstream; training on it teaches the model to print them. Found:

* ``<|…|>`` tokens (ChatML ``<|im_start|>``/``<|im_end|>``, Llama 3 ``<|eot_id|>``,
  ``<|start_header_id|>``, ``<|begin_of_text|>``, Phi ``<|user|>``/``<|end|>``, GPT
  ``<|endoftext|>``…) and DeepSeek's ``<｜begin▁of▁sentence｜>`` style;
* Llama 2 / Mistral ``[INST]``, ``[/INST]``, ``<<SYS>>``, ``<</SYS>>``; Gemma
  ``<start_of_turn>``/``<end_of_turn>``; ``<bos>``/``<eos>``; ``</s>`` anywhere and ``<s>`` at the
  start of a message (elsewhere ``<s>`` is HTML strikethrough);
* Alpaca headers ``### Instruction:``, ``### Input:``, ``### Response:`` at the start of a line.

Reason ``template_leak``. With ``role_labels`` an answer (assistant turn) holding a line that
starts with a dialogue label — ``Human:``, ``User:``, ``### Human:``, ``USER:``, ``Assistant:``
after the first line — is dropped as ``role_label_leak``: the model went on to write the next
turn itself. ``extra_tokens`` adds literal strings. The token found and its field are kept in
``signals["template_leak"]``.
"""

from __future__ import annotations

import re

from datamill.core.record import Record
from datamill.core.step import Filter, register
from datamill.post.walk import iter_messages
from datamill.steps.post.sides import set_signals

TEMPLATE_PATTERNS = [
    r"<\|[A-Za-z][A-Za-z0-9_]{1,30}\|>",
    r"<｜[^｜<>\n]{1,40}｜>",
    r"\[/?INST\]",
    r"<</?SYS>>",
    r"<(?:start|end)_of_turn>",
    r"<(?:bos|eos)>",
    r"</s>",
    r"\A\s*<s>",
    r"^#{2,4} ?(?:Instruction|Input|Response)s?:",
]
ROLE_LABEL = re.compile(r"(?:^|\n)[ \t]*(?:#{2,4} ?)?(?:Human|User|USER|HUMAN)\s?:"
                        r"|\n[ \t]*(?:#{2,4} ?)?(?:Assistant|ASSISTANT)\s?:")


@register("template_leak_filter")
class TemplateLeakFilter(Filter):
    """Drop records whose messages contain chat-template tokens (``template_leak``)."""

    def __init__(self, role_labels: bool = True, include_prompt: bool = True,
                 extra_tokens: list[str] | None = None):
        self.role_labels = role_labels
        self.include_prompt = include_prompt
        self.extra_tokens = list(extra_tokens or ())
        pats = TEMPLATE_PATTERNS + [re.escape(t) for t in self.extra_tokens]
        self._tokens = re.compile("|".join(f"(?:{p})" for p in pats), re.MULTILINE)

    def keep(self, record: Record) -> None | str:
        for field, msg in iter_messages(record):
            content = msg.get("content")
            if not isinstance(content, str) or not content:
                continue
            role = msg.get("role")
            if not self.include_prompt and field.startswith("messages") and role != "assistant":
                continue
            m = self._tokens.search(content)
            if m:
                set_signals(record, self.label, template_leak={"token": m.group(0).strip(), "field": f"{field}.content"})
                return "template_leak"
            if self.role_labels and role == "assistant":
                m = ROLE_LABEL.search(content)
                if m:
                    set_signals(record, self.label, template_leak={"token": m.group(0).strip(),
                                                       "field": f"{field}.content"})
                    return "role_label_leak"
        return None
