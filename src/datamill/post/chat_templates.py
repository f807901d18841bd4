"""Chat templates: the built-in ones (with ``{% generation %}`` markers around what the
assistant says, so TRL's ``assistant_only_loss`` and ``transformers``' ``return_assistant_tokens_mask``
work), loading a template from a file, a ``tokenizer_config.json`` or text, and rendering
records the way ``transformers``' ``apply_chat_template`` does (sandboxed Jinja,
``trim_blocks``/``lstrip_blocks``, ``raise_exception``, ``strftime_now``, the ``generation``
block)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from datamill.core.errors import DatamillError

CHAT_TEMPLATES: dict[str, str] = {
    "chatml": (
        "{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\n' }}"
        "{% if message['role'] == 'assistant' %}{% generation %}"
        "{% if message['content'] is string %}{{ message['content'] }}{% endif %}"
        "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}"
        "{{ '\n<tool_call>\n' + call['function'] | tojson + '\n</tool_call>' }}"
        "{% endfor %}{% endif %}"
        "{{ '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
        "{% else %}"
        "{% if message['content'] is string %}{{ message['content'] }}{% endif %}"
        "{{ '<|im_end|>\n' }}"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "llama3": (
        "{{ bos_token }}"
        "{% for message in messages %}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
        "{% if message['role'] == 'assistant' %}{% generation %}"
        "{% if message['content'] is string %}{{ message['content'] | trim }}{% endif %}"
        "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}"
        "{{ call['function'] | tojson }}{% endfor %}{% endif %}"
        "{{ '<|eot_id|>' }}{% endgeneration %}"
        "{% else %}"
        "{% if message['content'] is string %}{{ message['content'] | trim }}{% endif %}"
        "{{ '<|eot_id|>' }}"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    ),
    "zephyr": (
        "{% for message in messages %}"
        "{{ '<|' + message['role'] + '|>\n' }}"
        "{% if message['role'] == 'assistant' %}"
        "{% generation %}{{ (message['content'] or '') + eos_token }}{% endgeneration %}{{ '\n' }}"
        "{% else %}{{ (message['content'] or '') + eos_token + '\n' }}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    ),
    "alpaca": (
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'user' %}{{ '### Instruction:\n' + message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'assistant' %}{{ '### Response:\n' }}"
        "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{{ '\n\n' }}"
        "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '### Response:\n' }}{% endif %}"
    ),
}
# what LLaMA-Factory / Axolotl call the built-in templates
_LF_TEMPLATE = {"chatml": "chatml", "llama3": "llama3", "zephyr": "zephyr", "alpaca": "alpaca"}
_AXOLOTL_TEMPLATE = {"chatml": "chatml", "llama3": "llama3", "zephyr": "zephyr"}
_DEFAULT_TOKENS = {"chatml": ("", "<|im_end|>"), "llama3": ("<|begin_of_text|>", "<|eot_id|>"),
                   "zephyr": ("", "</s>"), "alpaca": ("", "</s>")}


class ExportError(DatamillError):
    """An export that cannot be written (unknown trainer, a kind the trainer cannot take…)."""


# ---------------------------------------------------------------------------------------------
# chat templates
# ---------------------------------------------------------------------------------------------

@dataclass
class ChatTemplate:
    """A Jinja chat template and the special tokens it may use."""

    name: str                 # a built-in name, a file path or "custom"
    source: str               # the Jinja text
    bos_token: str = ""
    eos_token: str = ""
    builtin: bool = False
    _compiled: Any = field(default=None, repr=False)

    def render(self, messages: Sequence[dict], *, add_generation_prompt: bool = False,
               tools: Sequence[dict] | None = None, **extra: Any) -> str:
        """The conversation as the model sees it (our schema's messages are turned into the
        Hugging Face / OpenAI shape first: tool calls as ``{type, function: {name, arguments}}``)."""
        if self._compiled is None:
            self._compiled = _compile_chat_template(self.source, self.name)
        try:
            return self._compiled.render(messages=[hf_message(m) for m in messages], tools=tools or None,
                                         add_generation_prompt=add_generation_prompt,
                                         bos_token=self.bos_token, eos_token=self.eos_token, **extra)
        except ExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - any Jinja runtime error, one line
            raise ExportError(f"chat template {self.name!r}: {type(exc).__name__}: {exc}") from exc


def _raise(message: str):
    raise ExportError(f"chat template raised: {message}")


def _generation_extension():
    """``{% generation %}…{% endgeneration %}``: marks what the assistant generates (the part a
    trainer computes the loss on); renders its body unchanged, as ``transformers`` does."""
    from jinja2 import nodes
    from jinja2.ext import Extension

    class Generation(Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

        def _render(self, caller):
            return caller()

    return Generation


def _compile_chat_template(source: str, name: str):
    from jinja2 import TemplateSyntaxError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols, _generation_extension()])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise ExportError(f"chat template {name!r}: Jinja syntax error on line {exc.lineno}: {exc.message}") from exc


def load_chat_template(spec: str | os.PathLike | None = None, *, bos_token: str | None = None,
                       eos_token: str | None = None) -> ChatTemplate:
    """A built-in name (default ``chatml``), a ``.jinja`` file, a ``tokenizer_config.json`` or a
    folder with one (its ``chat_template``, and its ``bos_token``/``eos_token``), or the text of
    a template (anything holding ``{{`` or ``{%``)."""
    spec = "chatml" if spec is None else os.fspath(spec)
    if spec in CHAT_TEMPLATES:
        bos, eos = _DEFAULT_TOKENS.get(spec, ("", ""))
        return ChatTemplate(spec, CHAT_TEMPLATES[spec], bos if bos_token is None else bos_token,
                            eos if eos_token is None else eos_token, builtin=True)
    if "{{" in spec or "{%" in spec:
        return ChatTemplate("custom", spec, bos_token or "", eos_token or "")
    p = Path(spec)
    if p.is_dir():
        p = p / "tokenizer_config.json"
        if not p.is_file():
            raise ExportError(f"{spec}: no tokenizer_config.json in the folder")
    if not p.is_file():
        raise ExportError(f"chat template {spec!r}: not a built-in ({', '.join(CHAT_TEMPLATES)}), "
                          "a file, or template text")
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json":
        try:
            cfg = json.loads(text)
        except ValueError as exc:
            raise ExportError(f"{p}: not JSON ({exc})") from exc
        tmpl = cfg.get("chat_template")
        if isinstance(tmpl, list):  # [{"name": "default", "template": …}, …]
            named = {t.get("name"): t.get("template") for t in tmpl if isinstance(t, dict)}
            tmpl = named.get("default") or next(iter(named.values()), None)
        if not tmpl:
            jinja = p.with_name("chat_template.jinja")
            if jinja.is_file():
                tmpl = jinja.read_text(encoding="utf-8")
            else:
                raise ExportError(f"{p}: has no chat_template")

        def tok(v):
            return v.get("content", "") if isinstance(v, dict) else (v or "")

        return ChatTemplate(str(p), tmpl, tok(cfg.get("bos_token")) if bos_token is None else bos_token,
                            tok(cfg.get("eos_token")) if eos_token is None else eos_token)
    return ChatTemplate(str(p), text, bos_token or "", eos_token or "")


def hf_message(m: dict) -> dict:
    """One of our messages in the Hugging Face chat-template shape."""
    out = {"role": m.get("role"), "content": m.get("content") or ""}
    if m.get("tool_calls"):
        calls = []
        for c in m["tool_calls"]:
            fn = {"name": c.get("name"), "arguments": c.get("arguments")}
            call = {"type": "function", "function": fn}
            if c.get("id"):
                call["id"] = c["id"]
            calls.append(call)
        out["tool_calls"] = calls
    for k in ("tool_call_id", "name"):
        if m.get(k):
            out[k] = m[k]
    return out


def render_record(record: dict, template: ChatTemplate | str | None = None) -> dict[str, str]:
    """The rendered texts of a record: ``text`` (SFT: the whole conversation), or ``prompt``
    (with the generation prompt) and ``chosen``/``rejected``/``completion`` (the continuation
    after it) for the other kinds."""
    t = template if isinstance(template, ChatTemplate) else load_chat_template(template)
    tools = record.get("tools")
    kind = record.get("kind", "sft")
    msgs = record.get("messages") or []
    if kind == "sft":
        return {"text": t.render(msgs, tools=tools)}
    prompt = t.render(msgs, tools=tools, add_generation_prompt=True)
    out = {"prompt": prompt}
    conts: dict[str, list] = {}
    if kind == "preference":
        conts = {"chosen": record.get("chosen") or [], "rejected": record.get("rejected") or []}
    elif kind == "kto":
        conts = {"completion": record.get("completion") or []}
    elif kind == "ranking":
        ranked = sorted(record.get("responses") or [], key=lambda r: r.get("rank", 1 << 30))
        conts = {f"response_{i + 1}": r.get("messages") or [] for i, r in enumerate(ranked)}
    base = t.render(msgs, tools=tools)
    for key, cont in conts.items():
        full = t.render(list(msgs) + list(cont), tools=tools)
        out[key] = full[len(base):] if full.startswith(base) else full
        # the generation prompt is part of the prompt text, not of the answer
        if full.startswith(prompt):
            out[key] = full[len(prompt):]
    return out


