"""Export post-training records for trainers, render chat templates, count tokens, plan packing.

Trainers (:func:`export_for_trainer`, ``datamill export``), each a folder ready to point at:

``trl``
    ``train.jsonl`` in TRL's conversational format (``messages``; ``prompt``/``chosen``/
    ``rejected``; ``prompt``/``completion``/``label``), written by
    :mod:`datamill.post.formats`, plus ``trl_config.yaml`` (an ``SFTConfig``/``DPOConfig``/
    ``KTOConfig`` snippet: ``max_length``, ``packing``).
``llamafactory``
    ``<name>.json`` in sharegpt layout with its ``dataset_info.json`` entry (written by
    :mod:`datamill.post.formats`), plus ``llamafactory.yaml`` (``stage``, ``dataset``,
    ``dataset_dir``, ``template``, ``cutoff_len``, ``packing``).
``axolotl``
    ``data.jsonl`` in the ``chat_template`` layout (``messages`` with role/content, OpenAI tool
    calls and ``tools``; preferences as ``messages`` + ``chosen``/``rejected`` messages for
    ``chat_template.default``), plus ``axolotl.yaml`` (``datasets``, ``chat_template`` or
    ``chat_template_jinja``, ``sequence_len``, ``sample_packing``; ``rl: dpo`` for preferences).

Every export also writes ``chat_template.jinja`` (the template used for the token counts) and
``export_report.json`` (token statistics and, with ``pack``, the packing report).

Chat templates are Jinja, rendered the way ``transformers``' ``apply_chat_template`` does
(sandboxed, ``trim_blocks``/``lstrip_blocks``, ``raise_exception``, ``strftime_now``,
``messages``/``tools``/``add_generation_prompt``/``bos_token``/``eos_token``). Give a built-in
name (``chatml`` (default), ``llama3``, ``zephyr``, ``alpaca``), a ``.jinja`` file, a
``tokenizer_config.json`` (or a model folder holding one) or the template text itself.

Token counts use :mod:`datamill.post.tokenizer` (a ``tokenizer.json`` you give, else datamill's
BPE trained offline on the shared instruction data). The template's markers are counted as the
tokenizer splits them: with the model's own ``tokenizer.json`` they are its special tokens.

Packing (:func:`pack_lengths`): best-fit decreasing of the rendered lengths into sequences of
``seq_len`` tokens; the report compares the padding with and without packing.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from datamill.core.errors import DatamillError

TRAINERS = ("trl", "llamafactory", "axolotl")

CHAT_TEMPLATES: dict[str, str] = {
    "chatml": (
        "{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\n' }}"
        "{% if message['content'] is string %}{{ message['content'] }}{% endif %}"
        "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}"
        "{{ '\n<tool_call>\n' + call['function'] | tojson + '\n</tool_call>' }}"
        "{% endfor %}{% endif %}"
        "{{ '<|im_end|>\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "llama3": (
        "{{ bos_token }}"
        "{% for message in messages %}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
        "{% if message['content'] is string %}{{ message['content'] | trim }}{% endif %}"
        "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}"
        "{{ call['function'] | tojson }}{% endfor %}{% endif %}"
        "{{ '<|eot_id|>' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    ),
    "zephyr": (
        "{% for message in messages %}"
        "{{ '<|' + message['role'] + '|>\n' + (message['content'] or '') + eos_token + '\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    ),
    "alpaca": (
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'user' %}{{ '### Instruction:\n' + message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'assistant' %}{{ '### Response:\n' + message['content'] + eos_token + '\n\n' }}"
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


def _compile_chat_template(source: str, name: str):
    from jinja2 import TemplateSyntaxError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])

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


# ---------------------------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------------------------

def count_tokens(texts: Sequence[str], tokenizer: str | os.PathLike | None = None) -> list[int]:
    """Token count of each text with :func:`datamill.post.tokenizer.load_tokenizer` (a
    ``tokenizer.json`` path / model folder, ``$DATAMILL_TOKENIZER``, else datamill's BPE)."""
    from datamill.post.tokenizer import load_tokenizer

    return load_tokenizer(tokenizer).count_batch(list(texts))


def _pct(sorted_vals: list[int], q: float) -> int:
    if not sorted_vals:
        return 0
    return sorted_vals[min(len(sorted_vals) - 1, int(math.ceil(q * len(sorted_vals))) - 1)]


def length_stats(lengths: Sequence[int]) -> dict[str, Any]:
    s = sorted(int(x) for x in lengths)
    n = len(s)
    return {"count": n, "total": int(sum(s)), "mean": round(sum(s) / n, 1) if n else 0.0,
            "min": s[0] if n else 0, "p50": _pct(s, 0.5), "p90": _pct(s, 0.9), "p99": _pct(s, 0.99),
            "max": s[-1] if n else 0}


def record_lengths(records: Sequence[dict], template: ChatTemplate | str | None = None,
                   tokenizer: str | os.PathLike | None = None,
                   count: Callable[[list[str]], list[int]] | None = None) -> dict[str, list[int]]:
    """Rendered token lengths per record: ``sequence`` (what one training sequence holds: the
    SFT conversation, or the prompt plus the longer answer for pairs), and per part."""
    t = template if isinstance(template, ChatTemplate) else load_chat_template(template)
    rendered = [render_record(r, t) for r in records]
    keys = sorted({k for r in rendered for k in r})
    count = count or (lambda texts: count_tokens(texts, tokenizer))
    out: dict[str, list[int]] = {}
    for k in keys:
        out[k] = list(count([r.get(k, "") for r in rendered]))
    seq = []
    for i, r in enumerate(rendered):
        if "text" in r:
            seq.append(out["text"][i])
        else:
            conts = [out[k][i] for k in r if k != "prompt"]
            seq.append(out["prompt"][i] + (max(conts) if conts else 0))
    out["sequence"] = seq
    return out


# ---------------------------------------------------------------------------------------------
# packing
# ---------------------------------------------------------------------------------------------

@dataclass
class PackingResult:
    seq_len: int
    packs: list[list[int]]            # indices of the samples in each packed sequence
    lengths: list[int]                 # (possibly truncated) length of each sample
    report: dict[str, Any]


def pack_lengths(lengths: Sequence[int], seq_len: int, *, overflow: str = "truncate") -> PackingResult:
    """Best-fit decreasing: place each sample (longest first) into the open sequence with the
    least room that still fits it, else open a new one. ``overflow``: a sample longer than
    ``seq_len`` is ``truncate``-d to it (as trainers do) or ``drop``-ped.

    The report: samples, sequences, real tokens, padding tokens and waste (padding ÷ all
    positions) with packing, and the same without packing, padding every sample to ``seq_len``
    (and to the longest sample, whichever is smaller)."""
    if seq_len < 1:
        raise ExportError("the packing length must be at least 1 token")
    if overflow not in ("truncate", "drop"):
        raise ExportError("overflow must be 'truncate' or 'drop'")
    lens = [int(x) for x in lengths]
    kept = [i for i, x in enumerate(lens) if x <= seq_len or overflow == "truncate"]
    eff = [min(x, seq_len) for x in lens]
    too_long = sum(1 for x in lens if x > seq_len)
    order = sorted(kept, key=lambda i: -eff[i])
    room: list[tuple[int, int]] = []   # (free space, pack id), sorted
    packs: list[list[int]] = []
    for i in order:
        need = eff[i]
        j = bisect.bisect_left(room, (need, -1))
        if j < len(room):
            free, pid = room.pop(j)
        else:
            free, pid = seq_len, len(packs)
            packs.append([])
        packs[pid].append(i)
        free -= need
        if free > 0:
            bisect.insort(room, (free, pid))
    real = sum(eff[i] for i in kept)
    positions = len(packs) * seq_len
    pad = positions - real
    longest = max((eff[i] for i in kept), default=0)
    nopack_len = min(seq_len, longest) if kept else 0
    nopack_positions = len(kept) * nopack_len
    report = {
        "seq_len": seq_len, "samples": len(lens), "samples_packed": len(kept), "sequences": len(packs),
        "tokens": real, "padding_tokens": pad, "padding_waste": round(pad / positions, 4) if positions else 0.0,
        "samples_per_sequence": round(len(kept) / len(packs), 2) if packs else 0.0,
        "too_long": too_long, "overflow": overflow,
        "truncated_tokens": sum(lens[i] - seq_len for i in kept if lens[i] > seq_len),
        "unpacked_sequences": len(kept),
        "unpacked_padding_tokens": nopack_positions - real,
        "unpacked_padding_waste": round((nopack_positions - real) / nopack_positions, 4) if nopack_positions else 0.0,
        "unpacked_pad_to": nopack_len,
    }
    return PackingResult(seq_len=seq_len, packs=packs, lengths=eff, report=report)


def format_packing(report: dict[str, Any]) -> str:
    r = report
    lines = [f"  packing into {r['seq_len']:,}-token sequences (best-fit decreasing)",
             f"    {r['samples_packed']:,} samples → {r['sequences']:,} sequences "
             f"({r['samples_per_sequence']} per sequence); {r['tokens']:,} tokens",
             f"    padding with packing:    {r['padding_tokens']:>12,} tokens  ({100 * r['padding_waste']:.1f}% waste)",
             f"    padding without packing: {r['unpacked_padding_tokens']:>12,} tokens  "
             f"({100 * r['unpacked_padding_waste']:.1f}% waste, each sample padded to {r['unpacked_pad_to']:,})"]
    if r["too_long"]:
        what = f"truncated ({r['truncated_tokens']:,} tokens cut)" if r["overflow"] == "truncate" else "dropped"
        lines.append(f"    {r['too_long']:,} sample(s) longer than {r['seq_len']:,} tokens were {what}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# trainer exports
# ---------------------------------------------------------------------------------------------

def _yaml(data: dict[str, Any], header: str = "") -> str:
    import yaml

    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    return (header + "\n" if header else "") + body


def _one_kind(records: Sequence[dict], trainer: str) -> str:
    kinds = {r.get("kind", "sft") for r in records}
    if len(kinds) > 1:
        raise ExportError(f"{trainer}: one export holds one kind of record; this input mixes {sorted(kinds)} "
                          "(split it first)")
    kind = next(iter(kinds), "sft")
    if kind == "ranking":
        raise ExportError(f"{trainer}: ranking records have no trainer format; turn them into preference "
                          "pairs first")
    return kind


def _axolotl_rows(records: Sequence[dict], kind: str) -> list[dict]:
    from datamill.post.formats import from_internal
    from datamill.post.schema import sft

    rows = []
    for r in records:
        if kind == "sft":
            row = from_internal(r, "openai", keep_extra=False)
            rows.append({k: v for k, v in row.items() if k in ("messages", "tools")})
        elif kind == "preference":
            prompt = from_internal(sft(r["id"], list(r.get("messages") or []) + [{"role": "assistant", "content": ""}]),
                                   "openai", keep_extra=False)["messages"][:-1]
            row: dict[str, Any] = {"messages": prompt}
            for side in ("chosen", "rejected"):
                msgs = r.get(side) or []
                if len(msgs) != 1 or msgs[0].get("role") != "assistant" or msgs[0].get("tool_calls"):
                    raise ExportError(f"axolotl: record {r.get('id')!r}: {side} must be one plain assistant "
                                      "message for chat_template.default")
                row[side] = {"role": "assistant", "content": msgs[0].get("content") or ""}
            if r.get("tools"):
                row["tools"] = r["tools"]
            rows.append(row)
        else:
            raise ExportError("axolotl: KTO export is not supported here; export KTO records for TRL or LLaMA-Factory")
    return rows


def _write_jsonl(rows: Sequence[dict], path: Path) -> None:
    from datamill.io.atomic import atomic_open
    import orjson

    with atomic_open(str(path), "wb") as fh:
        for row in rows:
            fh.write(orjson.dumps(row) + b"\n")


def export_for_trainer(records: Sequence[dict], outdir: str | os.PathLike, trainer: str, *,
                       chat_template: str | ChatTemplate | None = None, tokenizer: str | None = None,
                       pack: int | None = None, name: str = "datamill", max_length: int | None = None,
                       write_text: bool = False,
                       count: Callable[[list[str]], list[int]] | None = None) -> dict[str, Any]:
    """Write ``records`` into ``outdir`` for ``trainer`` (see the module doc) and return the
    report (files, token statistics, packing). ``pack``: the packed sequence length (turns
    packing on in the config and adds the packing report). ``max_length``: the trainer's
    sequence limit (default: ``pack``, else the longest rendered record). ``write_text``: also
    write ``text.jsonl`` with each record rendered through the chat template."""
    if trainer not in TRAINERS:
        raise ExportError(f"unknown trainer {trainer!r}; choose one of {', '.join(TRAINERS)}")
    records = list(records)
    if not records:
        raise ExportError("nothing to export: the input has no records")
    kind = _one_kind(records, trainer)
    tmpl = chat_template if isinstance(chat_template, ChatTemplate) else load_chat_template(chat_template)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []

    lengths = record_lengths(records, tmpl, tokenizer, count)
    seq = lengths["sequence"]
    stats = {k: length_stats(v) for k, v in lengths.items()}
    limit = max_length or pack or (max(seq) if seq else 0)
    report: dict[str, Any] = {"trainer": trainer, "kind": kind, "records": len(records),
                              "chat_template": tmpl.name, "tokens": stats, "max_length": limit,
                              "over_max_length": sum(1 for x in seq if x > limit)}
    packing = None
    if pack:
        if kind != "sft":
            report["packing_note"] = ("packing is planned on prompt + longer answer; DPO/KTO trainers "
                                      "usually pad per pair instead")
        packing = pack_lengths(seq, pack)
        report["packing"] = packing.report
        with open(out / "packs.jsonl", "w", encoding="utf-8") as fh:
            for pid, members in enumerate(packing.packs):
                fh.write(json.dumps({"pack": pid, "ids": [records[i].get("id") for i in members],
                                     "lengths": [packing.lengths[i] for i in members],
                                     "tokens": sum(packing.lengths[i] for i in members)}) + "\n")
        files.append("packs.jsonl")

    tmpl_file = out / "chat_template.jinja"
    tmpl_file.write_text(tmpl.source, encoding="utf-8")
    files.append(tmpl_file.name)
    stage = {"sft": "sft", "preference": "dpo", "kto": "kto"}[kind]

    if trainer == "trl":
        from datamill.post.formats import write_records

        write_records(records, str(out / "train.jsonl"), "trl")
        files.append("train.jsonl")
        cfg_name = {"sft": "SFTConfig", "preference": "DPOConfig", "kto": "KTOConfig"}[kind]
        cfg: dict[str, Any] = {"trainer": {"sft": "SFTTrainer", "dpo": "DPOTrainer", "kto": "KTOTrainer"}[stage],
                               "dataset": {"path": "json", "data_files": str((out / "train.jsonl").resolve())},
                               "args": {"max_length": int(limit)}}
        if kind == "sft":
            cfg["args"]["packing"] = bool(pack)
            cfg["args"]["assistant_only_loss"] = True
        header = (f"# TRL {cfg_name} settings for this data (datamill export).\n"
                  "# load: datasets.load_dataset(\"json\", data_files=...)[\"train\"];\n"
                  "# set tokenizer.chat_template from chat_template.jinja when the model has none.")
        (out / "trl_config.yaml").write_text(_yaml(cfg, header), encoding="utf-8")
        files.append("trl_config.yaml")
    elif trainer == "llamafactory":
        from datamill.post.formats import write_records

        fname = f"{name}.json"
        write_records(records, str(out / fname), "sharegpt", dataset_info=name)
        files += [fname, "dataset_info.json"]
        cfg = {"stage": stage, "do_train": True, "finetuning_type": "lora", "dataset": name,
               "dataset_dir": str(out.resolve()), "cutoff_len": int(limit)}
        lf_name = _LF_TEMPLATE.get(tmpl.name) if tmpl.builtin else None
        cfg["template"] = lf_name or "default"
        if kind == "sft" and pack:
            cfg["packing"] = True
        if kind == "preference":
            cfg["pref_beta"] = 0.1
        header = "# LLaMA-Factory training settings for this data (datamill export); add model_name_or_path."
        if not lf_name:
            header += ("\n# template: set it to your model's LLaMA-Factory template name; the chat template used "
                       "for the token counts is in chat_template.jinja")
        (out / "llamafactory.yaml").write_text(_yaml(cfg, header), encoding="utf-8")
        files.append("llamafactory.yaml")
    else:
        rows = _axolotl_rows(records, kind)
        _write_jsonl(rows, out / "data.jsonl")
        files.append("data.jsonl")
        ds: dict[str, Any] = {"path": str((out / "data.jsonl").resolve()), "ds_type": "json"}
        cfg = {}
        if kind == "preference":
            cfg["rl"] = "dpo"
            ds.update({"type": "chat_template.default", "field_messages": "messages", "field_chosen": "chosen",
                       "field_rejected": "rejected",
                       "message_property_mappings": {"role": "role", "content": "content"}})
        else:
            ds.update({"type": "chat_template", "field_messages": "messages",
                       "message_property_mappings": {"role": "role", "content": "content"},
                       "roles_to_train": ["assistant"]})
            if any("tools" in r for r in rows):
                ds["field_tools"] = "tools"
        ax_name = _AXOLOTL_TEMPLATE.get(tmpl.name) if tmpl.builtin else None
        if ax_name:
            cfg["chat_template"] = ax_name
        else:
            cfg["chat_template"] = "jinja"
            cfg["chat_template_jinja"] = tmpl.source
        cfg["datasets"] = [ds]
        cfg["sequence_len"] = int(limit)
        cfg["sample_packing"] = bool(pack) and kind == "sft"
        cfg["pad_to_sequence_len"] = bool(pack) and kind == "sft"
        header = "# Axolotl settings for this data (datamill export); add base_model and training settings."
        (out / "axolotl.yaml").write_text(_yaml(cfg, header), encoding="utf-8")
        files.append("axolotl.yaml")

    if write_text:
        rows = []
        for r in records:
            rr = render_record(r, tmpl)
            rows.append({"id": r.get("id"), **rr})
        _write_jsonl(rows, out / "text.jsonl")
        files.append("text.jsonl")
    report["files"] = sorted(files + ["export_report.json"])
    (out / "export_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


def format_export(report: dict[str, Any]) -> str:
    t = report["tokens"]["sequence"]
    lines = [f"  {report['records']:,} {report['kind']} records for {report['trainer']} "
             f"(chat template {report['chat_template']})",
             f"  tokens per sequence: total {t['total']:,}, mean {t['mean']:,}, p50 {t['p50']:,}, "
             f"p90 {t['p90']:,}, max {t['max']:,}"]
    if report.get("over_max_length"):
        n = report["over_max_length"]
        lines.append(f"  {n:,} record{'s are' if n != 1 else ' is'} longer than max_length {report['max_length']:,}")
    if report.get("packing"):
        lines.append(format_packing(report["packing"]))
    lines.append("  files: " + ", ".join(report["files"]))
    return "\n".join(lines)
