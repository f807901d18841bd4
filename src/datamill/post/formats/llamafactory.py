"""LLaMA-Factory: ``dataset_info.json`` (read an entry the way LLaMA-Factory would; write one
beside an export) and its newer "v1" message format.

Reading an entry: ``file_name`` (a file or a folder of files) relative to the dataset folder
(by default the folder of ``dataset_info.json``); ``formatting`` ``alpaca`` (default) or
``sharegpt``; ``ranking`` (a preference dataset); ``columns`` and ``tags`` as LLaMA-Factory
documents them: only the columns an entry names are read (besides alpaca's ``instruction``/
``input``/``output`` defaults), and only the role tags it names (or LLaMA-Factory's defaults).
Hub-only entries (``hf_hub_url`` …) and pretraining entries (a ``prompt`` column alone, ``.txt``
files) are refused with a :class:`DatasetInfoError`.

The v1 format (``llamafactory_v1``): ``{"messages": [{"role", "content": [{"type": "text" |
"reasoning" | "tool_call", "value"}], "loss_weight"}], "tools": "<JSON>"}``, preferences as
``chosen_messages``/``rejected_messages`` (whole dialogues, implicit prompt). ``loss_weight`` must
be the default (1 for assistant turns, 0 otherwise); other part types are a :class:`FormatError`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import fsspec
import orjson

from datamill.core.errors import DatamillError
from datamill.post.formats.common import (build, carry, emit, kind_of, record_id, split_implicit, text,
                                          tool_calls_from_json, tool_calls_to_json, tools_in)
from datamill.post.formats.errors import FormatError
from datamill.io.atomic import atomic_write_bytes

HUB_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")
ALPACA_COLUMNS = ("prompt", "query", "response", "history", "system", "chosen", "rejected", "kto_tag")
SHAREGPT_COLUMNS = ("messages", "system", "tools", "chosen", "rejected", "kto_tag")
OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "system_tag": "system"}


class DatasetInfoError(DatamillError):
    """A dataset_info.json or an entry of it that cannot be loaded."""


# --- reading dataset_info.json ---------------------------------------------------------------

def load_dataset_info(path: str) -> dict[str, Any]:
    try:
        with fsspec.open(path, "rb") as fh:
            info = orjson.loads(fh.read())
    except FileNotFoundError:
        raise DatasetInfoError(f"{path}: no such file") from None
    except orjson.JSONDecodeError as exc:
        raise DatasetInfoError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise DatasetInfoError(f"{path}: expected an object of dataset entries")
    return info


def resolve_entry(info_path: str, name: str, dataset_dir: str | None = None) -> tuple[list[str], str, dict[str, Any]]:
    """(files, format, reader options) for the entry ``name`` of ``info_path``."""
    info = load_dataset_info(info_path)
    if name not in info:
        import difflib

        hint = difflib.get_close_matches(name, list(info), n=1)
        raise DatasetInfoError(f"{info_path}: no dataset {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
    entry = info[name]
    if not isinstance(entry, dict):
        raise DatasetInfoError(f"{info_path}: entry {name!r} is not an object")
    if "file_name" not in entry:
        hub = next((k for k in HUB_KEYS if k in entry), None)
        raise DatasetInfoError(f"{info_path}: dataset {name!r} has no file_name"
                               + (f" ({hub}: {entry[hub]}; download it and add a file_name)" if hub else ""))
    formatting = entry.get("formatting", "alpaca")
    if formatting not in ("alpaca", "sharegpt", "openai"):
        raise DatasetInfoError(f"{info_path}: dataset {name!r}: formatting {formatting!r} "
                               "(expected alpaca, sharegpt or openai)")
    openai_style = formatting == "openai"
    if openai_style:  # LLaMA-Factory reads it as sharegpt with OpenAI's keys and role names
        formatting = "sharegpt"
    columns = dict(entry.get("columns") or {})
    allowed = ALPACA_COLUMNS if formatting == "alpaca" else SHAREGPT_COLUMNS
    columns = {k: v for k, v in columns.items() if k in allowed}  # images/videos/audios: carried as extra
    ranking = bool(entry.get("ranking", False))
    if formatting == "alpaca" and not ranking and "response" not in columns and "kto_tag" not in columns \
            and "prompt" in columns:
        raise DatasetInfoError(f"dataset {name!r} is pretraining text (columns {entry.get('columns')}), "
                               f"not post-training data")
    if ranking:
        columns.setdefault("chosen", "chosen")
        columns.setdefault("rejected", "rejected")
    base = dataset_dir or os.path.dirname(info_path) or "."
    target = os.path.join(base, entry["file_name"])
    fs, p = fsspec.core.url_to_fs(target)
    if not fs.exists(p):
        raise DatasetInfoError(f"dataset {name!r}: {target} not found (pass the folder holding it as the "
                               f"dataset folder)")
    files = sorted(f for f in fs.find(p) if not os.path.basename(f).startswith(".")) if fs.isdir(p) else [target]
    for f in files:
        if f.lower().endswith(".txt"):
            raise DatasetInfoError(f"dataset {name!r}: {f} is plain text (pretraining), not post-training data")
    options: dict[str, Any] = {"columns": columns, "ranking": ranking}
    if formatting == "sharegpt":
        options["tags"] = {**(OPENAI_TAGS if openai_style else {}), **dict(entry.get("tags") or {})}
        if openai_style:
            options["columns"] = {"messages": "messages", **options["columns"]}
    return files, formatting, options


# --- writing dataset_info.json ---------------------------------------------------------------

def dataset_info_entry(file_name: str, fmt: str, kinds: set[str], keys: set[str], uses_tools: bool) -> dict[str, Any]:
    """The entry that makes LLaMA-Factory load a file this package wrote as ``fmt``."""
    if len(kinds) > 1:
        raise FormatError("kind", f"LLaMA-Factory datasets hold one kind, this file mixes {sorted(kinds)}")
    kind = next(iter(kinds), "sft")
    entry: dict[str, Any] = {"file_name": file_name}
    if kind == "ranking":
        raise FormatError("kind", "LLaMA-Factory cannot load ranking records")
    if kind == "preference":
        entry["ranking"] = True
    if fmt == "alpaca":
        cols = {"prompt": "instruction", "query": "input"}
        if kind == "preference":
            cols.update(chosen="chosen", rejected="rejected")
        else:
            cols["response"] = "output"
        for col in ("system", "history", "kto_tag"):
            if col in keys:
                cols[col] = col
        entry["columns"] = cols
    elif fmt == "sharegpt":
        entry["formatting"] = "sharegpt"
        cols = {"messages": "conversations"}
        for col in ("tools", "chosen", "rejected", "kto_tag"):
            if col in keys:
                cols[col] = col
        entry["columns"] = cols
    elif fmt == "openai":
        if kind == "preference":
            raise FormatError("kind", "LLaMA-Factory cannot load OpenAI-style preference rows; write sharegpt")
        if uses_tools:
            raise FormatError("tool_calls", "LLaMA-Factory reads tool calls in sharegpt, not OpenAI's shape; "
                                            "write sharegpt")
        entry["formatting"] = "sharegpt"
        entry["columns"] = {"messages": "messages", **({"kto_tag": "label"} if kind == "kto" else {})}
        entry["tags"] = dict(OPENAI_TAGS)
    else:
        raise FormatError("format", f"LLaMA-Factory cannot load the {fmt!r} format; write alpaca, sharegpt or openai")
    return entry


def write_dataset_info(folder: str, name: str, entry: dict[str, Any]) -> str:
    """Add (or replace) ``name`` in ``folder/dataset_info.json``, atomically; returns its path."""
    path = os.path.join(folder, "dataset_info.json")
    fs, p = fsspec.core.url_to_fs(path)
    info = load_dataset_info(path) if fs.exists(p) else {}
    info[name] = entry
    atomic_write_bytes(path, json.dumps(info, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
    return path


# --- the v1 format ---------------------------------------------------------------------------

_DEFAULT_WEIGHT = {"assistant": 1.0}


def _v1_message(msg: Any, field: str, hints: dict) -> dict[str, Any]:
    if not isinstance(msg, dict):
        raise FormatError(field, "a message must be an object")
    role = msg.get("role")
    if role not in ("system", "user", "assistant", "tool"):
        raise FormatError(f"{field}.role", f"unknown role {role!r}")
    if "loss_weight" in msg:
        hints["lf_loss_weight"] = True
        if msg["loss_weight"] != _DEFAULT_WEIGHT.get(role, 0.0):
            raise FormatError(f"{field}.loss_weight", f"only the default loss weight is supported "
                                                      f"({_DEFAULT_WEIGHT.get(role, 0.0)} for {role})")
    parts = msg.get("content")
    if isinstance(parts, str):
        parts = [{"type": "text", "value": parts}]
    if not isinstance(parts, list):
        raise FormatError(f"{field}.content", "expected a list of {type, value} parts")
    out: dict[str, Any] = {"role": role, "content": ""}
    texts: list[str] = []
    for i, part in enumerate(parts):
        pf = f"{field}.content[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        value = text(part.get("value") if isinstance(part, dict) else None, f"{pf}.value")
        if kind == "text":
            texts.append(value)
        elif kind == "reasoning" and role == "assistant":
            out["reasoning"] = out.get("reasoning", "") + value
        elif kind == "tool_call" and role == "assistant":
            out.setdefault("tool_calls", []).extend(tool_calls_from_json(value, f"{pf}.value"))
        else:
            raise FormatError(f"{pf}.type", f"a {kind!r} part on a {role} message is not supported")
    out["content"] = "".join(texts)
    return out


def _v1_messages(value: Any, field: str, hints: dict) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise FormatError(field, "expected a list of messages")
    return [_v1_message(m, f"{field}[{i}]", hints) for i, m in enumerate(value)]


def v1_to_internal(obj: dict[str, Any], rid: str) -> list[dict[str, Any]]:
    hints: dict[str, Any] = {"lf_loss_weight": False}
    tools = tools_in(obj.get("tools"), "tools")
    rid = record_id(obj, rid)
    if "chosen_messages" in obj or "rejected_messages" in obj:
        prompt, chosen, rejected = split_implicit(_v1_messages(obj.get("chosen_messages"), "chosen_messages", hints),
                                                  _v1_messages(obj.get("rejected_messages"), "rejected_messages", hints))
        return [build("preference", rid, prompt, carry(obj, ("chosen_messages", "rejected_messages", "tools")),
                      tools=tools, hints=hints, chosen=chosen, rejected=rejected)]
    if "messages" not in obj:
        raise FormatError("messages", "missing: the LLaMA-Factory v1 format needs messages")
    return [build("sft", rid, _v1_messages(obj["messages"], "messages", hints), carry(obj, ("messages", "tools")),
                  tools=tools, hints=hints)]


def _v1_out(msg: dict[str, Any], weights: bool) -> dict[str, Any]:
    parts = []
    if msg.get("reasoning") is not None:
        parts.append({"type": "reasoning", "value": msg["reasoning"]})
    if msg.get("content") or not (parts or msg.get("tool_calls")):
        parts.append({"type": "text", "value": msg.get("content") or ""})
    for call in msg.get("tool_calls") or []:
        parts.append({"type": "tool_call", "value": tool_calls_to_json([call])})
    out: dict[str, Any] = {"role": msg["role"], "content": parts}
    if weights:
        out["loss_weight"] = _DEFAULT_WEIGHT.get(msg["role"], 0.0)
    return out


def v1_from_internal(record: dict[str, Any], *, keep_extra: bool = True) -> dict[str, Any]:
    kind = kind_of(record, "llamafactory_v1", ("sft", "preference"))
    weights = bool((record.get("metadata") or {}).get("lf_loss_weight", True))
    msgs = list(record.get("messages") or [])
    out: dict[str, Any]
    if kind == "sft":
        out = {"messages": [_v1_out(m, weights) for m in msgs]}
    else:
        out = {"chosen_messages": [_v1_out(m, weights) for m in msgs + list(record.get("chosen") or [])],
               "rejected_messages": [_v1_out(m, weights) for m in msgs + list(record.get("rejected") or [])]}
    if record.get("tools"):
        out["tools"] = json.dumps(record["tools"], ensure_ascii=False)
    return emit(out, record, keep_extra)
