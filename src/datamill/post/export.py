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

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from datamill.post.chat_templates import (_AXOLOTL_TEMPLATE, _DEFAULT_TOKENS, _LF_TEMPLATE,  # noqa: F401
                                          CHAT_TEMPLATES, ChatTemplate, ExportError, hf_message,
                                          load_chat_template, render_record)
from datamill.post.packing import PackingResult, format_packing, pack_lengths  # noqa: F401

TRAINERS = ("trl", "llamafactory", "axolotl")

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
    out.parent.mkdir(parents=True, exist_ok=True)
    # everything is written into a temporary folder beside OUTDIR and moved in at the end, so a
    # failed export (a record the trainer's layout cannot hold…) leaves nothing half-written
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        report = _export_into(records, out, work, trainer, kind, tmpl, tokenizer, pack, name, max_length,
                              write_text, count)
        out.mkdir(parents=True, exist_ok=True)
        for f in report["files"]:
            os.replace(work / f, out / f)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _export_into(records, out: Path, work: Path, trainer, kind, tmpl, tokenizer, pack, name, max_length,
                 write_text, count) -> dict[str, Any]:
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
        with open(work / "packs.jsonl", "w", encoding="utf-8") as fh:
            for pid, members in enumerate(packing.packs):
                fh.write(json.dumps({"pack": pid, "ids": [records[i].get("id") for i in members],
                                     "lengths": [packing.lengths[i] for i in members],
                                     "tokens": sum(packing.lengths[i] for i in members)}) + "\n")
        files.append("packs.jsonl")

    tmpl_file = work / "chat_template.jinja"
    tmpl_file.write_text(tmpl.source, encoding="utf-8")
    files.append(tmpl_file.name)
    stage = {"sft": "sft", "preference": "dpo", "kto": "kto"}[kind]

    if trainer == "trl":
        from datamill.post.formats import write_records

        write_records(records, str(work / "train.jsonl"), "trl")
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
        (work / "trl_config.yaml").write_text(_yaml(cfg, header), encoding="utf-8")
        files.append("trl_config.yaml")
    elif trainer == "llamafactory":
        from datamill.post.formats import write_records

        fname = f"{name}.json"
        existing = out / "dataset_info.json"
        if existing.is_file():  # add our entry to the folder's dataset_info.json, not a new one
            shutil.copyfile(existing, work / "dataset_info.json")
        write_records(records, str(work / fname), "sharegpt", dataset_info=name)
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
        (work / "llamafactory.yaml").write_text(_yaml(cfg, header), encoding="utf-8")
        files.append("llamafactory.yaml")
    else:
        rows = _axolotl_rows(records, kind)
        _write_jsonl(rows, work / "data.jsonl")
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
        (work / "axolotl.yaml").write_text(_yaml(cfg, header), encoding="utf-8")
        files.append("axolotl.yaml")

    if write_text:
        rows = []
        for r in records:
            rr = render_record(r, tmpl)
            rows.append({"id": r.get("id"), **rr})
        _write_jsonl(rows, work / "text.jsonl")
        files.append("text.jsonl")
    report["files"] = sorted(files + ["export_report.json"])
    (work / "export_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
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
