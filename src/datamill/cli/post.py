"""Post-training commands: convert, select, quality-model, template, export, mix, validate.
(Python twins: datamill.post.formats / select / quality_model / template / export / mix / validate)"""

from __future__ import annotations

import os
import sys

import click

from datamill.cli.catalog import register_options, register_output
from datamill.cli.root import main
from datamill.core.errors import DatamillError, friendly_errors


@main.command()
@click.argument("input_path", metavar="INPUT", type=str)
@click.argument("output", type=str)
@click.option("--from", "from_", default="auto", show_default=True,
              help="Input format: auto, alpaca, sharegpt, openai, trl, hh_rlhf, llamafactory_v1, self_instruct, datamill.")
@click.option("--to", "to", default="datamill", show_default=True,
              help="Output format: alpaca, sharegpt, openai, trl, trl_implicit, trl_standard, trl_standard_implicit, "
                   "hh_rlhf, llamafactory_v1, self_instruct, datamill (the internal schema).")
@click.option("--dataset-info", default=None, help="A LLaMA-Factory dataset_info.json to load --dataset from "
              "(default INPUT/dataset_info.json); INPUT is then the folder holding the data files.")
@click.option("--dataset", default=None, help="The dataset_info.json entry to load.")
@click.option("--register", default=None, metavar="NAME",
              help="Also add OUTPUT to a dataset_info.json beside it as NAME (alpaca, sharegpt or openai).")
@click.option("--show-errors", default=5, show_default=True, type=click.IntRange(0, 10_000),
              help="Print this many quarantined rows with file, line and reason.")
@click.option("--ranking-to", type=click.Choice(["pairs", "best-worst"]), default=None,
              help="Turn ranking records into preference pairs: every (better, worse) pair, or best vs worst.")
@click.option("--to-kto", is_flag=True, help="Turn preference pairs into KTO samples (chosen desirable, rejected not).")
@register_options
@friendly_errors
def convert(input_path, output, from_, to, dataset_info, dataset, register, show_errors, ranking_to, to_kto,
            catalog_register, catalog_root):
    """Convert post-training data between formats (OUTPUT: .json array or .jsonl[.gz|.zst]).

    Rows that cannot be read or that the output format cannot hold are counted and skipped;
    the summary names them. Python twin: `datamill.post.formats.convert(INPUT, OUTPUT, to=...)`.
    """
    from datamill.post.formats import FORMATS, convert as convert_records

    for name, value in (("--from", from_), ("--to", to)):
        if value not in FORMATS and not (name == "--from" and value == "auto"):
            raise DatamillError(f"{name} {value!r}: expected one of {', '.join(FORMATS)}")
    if dataset_info and not dataset:
        raise DatamillError("--dataset-info needs --dataset NAME")
    errors: list = []
    result = convert_records(input_path, output, from_=None if from_ == "auto" else from_, to=to, dataset=dataset,
                             dataset_info=dataset_info, register=register, errors=errors,
                             ranking_to=ranking_to, to_kto=to_kto)
    formats = sorted(set(result["formats"].values()))
    click.echo(f"read {result['read']:,} records ({', '.join(formats) or 'no files'}) from {input_path}")
    if result["written"]:
        click.echo(f"wrote {result['written']:,} records as {to} to {output}")
    else:
        click.echo(f"wrote nothing: no record could be written as {to}; {output} was not created")
    if result.get("dataset_info"):
        click.echo(f"registered {register!r} in {result['dataset_info']}")
    for w in result.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    if result["errors"]:
        click.echo(f"skipped {sum(result['errors'].values()):,} rows:")
        for key, count in result["errors"].items():
            click.echo(f"  {count:>8,}  {key}")
        for err in errors[:show_errors]:
            click.echo(f"  e.g. {err}")
    if not result["written"]:
        sys.exit(1)
    if catalog_register:
        register_output(catalog_register, output, root=catalog_root, inputs=[input_path])



def _read_post_records(path, fmt=None):
    from datamill.post.formats import read_records

    bad: list = []
    records = list(read_records(path, None if fmt in (None, "auto") else fmt, errors=bad))
    if bad:
        click.echo(f"datamill: skipped {len(bad):,} unreadable rows of {path}", err=True)
    return records


def _output_format(path, fmt):
    return fmt or "datamill"


@main.command("select")
@click.argument("input", type=str)
@click.argument("output", type=str)
@click.option("--budget", type=click.IntRange(0), default=None, help="Keep at most N records.")
@click.option("--budget-tokens", type=click.IntRange(0), default=None,
              help="Keep at most N tokens (records rendered as text, counted with --tokenizer).")
@click.option("--method", default="kcenter", show_default=True,
              type=click.Choice(["kcenter", "random", "cluster", "deita", "quality", "ifd"]),
              help="kcenter: cover the prompt space; cluster: k-means balanced; deita: quality × complexity "
                   "minus near neighbours; quality: best scores; ifd: highest instruction-following "
                   "difficulty (signal from the ifd_score step); random: baseline.")
@click.option("--quality-model", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A model from `datamill quality-model train` to score quality.")
@click.option("--quality-keys", default=None, help="Comma-separated signal/rating names to use as quality.")
@click.option("--clusters", type=click.IntRange(1), default=None, help="k-means clusters (default √budget).")
@click.option("--min-distance", type=float, default=0.1, show_default=True,
              help="deita: skip records closer than this cosine distance to one kept.")
@click.option("--explain", "explain_path", default=None, type=str,
              help="Write one JSON line per kept record: score, cluster, nearest kept neighbour, why.")
@click.option("--embeddings", "embeddings_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Precomputed embeddings (.npy, one row per input record) instead of embedding prompts.")
@click.option("--embed-model", default=None,
              help="multilingual-e5-small (default, offline), ngram-hash, or a sentence-transformers folder.")
@click.option("--no-cache", is_flag=True,
              help="Do not read or write the embedding cache (INPUT's folder/.datamill-embeddings/MODEL.npz).")
@click.option("--tokenizer", default=None, help="tokenizer.json for --budget-tokens (default: datamill BPE).")
@click.option("--input-format", default=None, help="Input format (default: detected).")
@click.option("--format", "out_format", default=None, help="Output format (default: datamill records).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", "-q", is_flag=True, help="No table.")
@register_options
@friendly_errors
def select_cmd(input, output, budget, budget_tokens, method, quality_model, quality_keys, clusters, min_distance,
               explain_path, embeddings_path, embed_model, no_cache, tokenizer, input_format, out_format, seed,
               quiet, catalog_register, catalog_root):
    """Keep the records that are good and cover the data, within a budget.

    Python: datamill.post.select.select(records, budget, method=...).
    """
    import numpy as np
    import orjson

    from datamill.post.formats import write_records
    from datamill.post.select import format_explanation, select

    if budget is None and budget_tokens is None:
        raise click.UsageError("give --budget N (records) and/or --budget-tokens N")
    records = _read_post_records(input, input_format)
    embeddings = np.load(embeddings_path) if embeddings_path else None
    embed_fn = cache_path = None
    if embeddings is None:
        from datamill.embed import get_embedder, multilingual_default
        from datamill.embed.cache import default_cache_path

        embed_model = embed_model or multilingual_default()
        embed_fn = get_embedder(embed_model).embed
        cache_path = None if no_cache else str(default_cache_path(input, embed_model))
    qm = None
    if quality_model:
        from datamill.post.quality_model import load_quality_model

        qm = load_quality_model(quality_model)
        qm.embed_model = embed_model or qm.embed_model
    count = None
    if budget_tokens is not None:
        from datamill.post.export import count_tokens

        def count(texts):
            return count_tokens(texts, tokenizer)
    sel = select(records, budget, budget_tokens=budget_tokens, method=method, embeddings=embeddings,
                 embed_fn=embed_fn, count_tokens=count, quality_model=qm,
                 quality_keys=[k.strip() for k in quality_keys.split(",")] if quality_keys else None,
                 n_clusters=clusters, min_distance=min_distance, seed=seed, cache_path=cache_path)
    for w in sel.summary.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    write_records(sel.records(records, annotate=True), output, _output_format(output, out_format))
    if explain_path:
        from datamill.io.atomic import atomic_open

        with atomic_open(explain_path, "wb") as fh:
            for e in sel.explanations:
                fh.write(orjson.dumps(e) + b"\n")
    if not quiet:
        click.echo(format_explanation(sel))
    if catalog_register:
        register_output(catalog_register, output, root=catalog_root, inputs=[input], quiet=quiet)


@main.group("quality-model")
def quality_model_group() -> None:
    """Train a small quality / reward model (embeddings + linear or MLP head, CPU) and score with it."""


@quality_model_group.command("train")
@click.argument("input", type=str)
@click.argument("model", type=str)
@click.option("--head", default="linear", show_default=True, type=click.Choice(["linear", "mlp"]))
@click.option("--objective", default="auto", show_default=True,
              type=click.Choice(["auto", "pairwise", "ratings", "binary"]),
              help="pairwise: Bradley-Terry on chosen vs rejected; ratings: numeric ratings; binary: KTO labels.")
@click.option("--epochs", default=300, show_default=True, type=click.IntRange(1))
@click.option("--hidden", default=64, show_default=True, type=click.IntRange(1), help="MLP hidden units.")
@click.option("--l2", default=1e-3, show_default=True, type=float)
@click.option("--embed-model", default=None, help="Embedding model folder (default: packaged all-MiniLM-L6-v2).")
@click.option("--input-format", default=None, help="Input format (default: detected).")
@click.option("--seed", default=0, show_default=True, type=int)
@friendly_errors
def quality_model_train(input, model, head, objective, epochs, hidden, l2, embed_model, input_format, seed):
    """Train on rated, preference, ranking or KTO records; save to MODEL (.npz).

    Python: datamill.post.quality_model.train_quality_model(records, head=...).
    """
    from datamill.post.quality_model import train_quality_model

    records = _read_post_records(input, input_format)
    m = train_quality_model(records, head=head, objective=objective, epochs=epochs, hidden=hidden, l2=l2,
                            seed=seed, embed_model=embed_model)
    path = m.save(model)
    r = m.report
    click.echo(f"  trained a {head} head ({r['objective']}) on {r['items']:,} responses from {r['records']:,} records")
    for part in ("train", "valid", "fit_all"):
        if part in r:
            click.echo(f"    {part:<8} " + ", ".join(f"{k} {v:.3f}" for k, v in r[part].items()))
    click.echo(f"  saved {path}")


@quality_model_group.command("score")
@click.argument("input", type=str)
@click.argument("output", type=str)
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--signal", default="quality_score", show_default=True, help="Signal name to write.")
@click.option("--input-format", default=None, help="Input format (default: detected).")
@click.option("--format", "out_format", default=None, help="Output format (default: datamill records).")
@friendly_errors
def quality_model_score(input, output, model_path, signal, input_format, out_format):
    """Write each record with its model score in signals.SIGNAL (0 to 1).

    Python: datamill.post.quality_model.load_quality_model(path).predict(records).
    """
    from datamill.post.formats import write_records
    from datamill.post.quality_model import load_quality_model

    records = _read_post_records(input, input_format)
    scores = load_quality_model(model_path).predict(records)
    for r, s in zip(records, scores):
        r["signals"] = dict(r.get("signals") or {}, **{signal: round(float(s), 5)})
    write_records(records, output, _output_format(output, out_format))
    click.echo(f"  scored {len(records):,} records into signals.{signal}")


@main.command("template")
@click.argument("data", type=str)
@click.argument("template", type=str)
@click.argument("output", type=str)
@click.option("--few-shot", "few_shot", type=click.IntRange(0), default=0,
              help="Make few-shot prompts with K solved examples from other rows.")
@click.option("--cot", is_flag=True, help="Chain-of-thought: trigger in the prompt, rationale in the answer.")
@click.option("--all-variants", is_flag=True, help="Emit zero-shot, few-shot and CoT records for every row.")
@click.option("--column", "columns", multiple=True, metavar="VAR=COLUMN",
              help="Map a template variable to a dataset column (repeatable).")
@click.option("--choose", default="random", show_default=True, type=click.Choice(["random", "cycle", "all"]),
              help="Which template a row gets: a seeded random one, in turn, or all of them.")
@click.option("--few-shot-style", default="inline", show_default=True, type=click.Choice(["inline", "chat"]))
@click.option("--format", "out_format", default=None, help="Output format (default: datamill records).")
@click.option("--seed", default=0, show_default=True, type=int)
@friendly_errors
def template_cmd(data, template, output, few_shot, cot, all_variants, columns, choose, few_shot_style,
                 out_format, seed):
    """Turn a labelled dataset (JSONL/JSON/CSV/Parquet) into instruction data with Jinja templates.

    TEMPLATE is a YAML template set, a Jinja file or template text. Python:
    datamill.post.template.template_file(data, template, variants=[...]).
    """
    from collections import Counter

    from datamill.post.formats import write_records
    from datamill.post.template import template_file

    mapping = {}
    for c in columns:
        if "=" not in c:
            raise click.UsageError(f"--column {c!r}: write VAR=COLUMN")
        var, col = c.split("=", 1)
        mapping[var.strip()] = col.strip()
    if all_variants:
        variants = ["zero_shot", "few_shot", "cot"]
        k = few_shot or 3
        use_cot = False
    elif few_shot:
        variants, k, use_cot = ["few_shot"], few_shot, cot
    else:
        variants, k, use_cot = (["cot"] if cot else ["zero_shot"]), 0, False
    skipped: list = []
    records = template_file(data, template, columns=mapping or None, variants=variants, k=k, cot=use_cot,
                            few_shot_style=few_shot_style, choose=choose, seed=seed, skipped=skipped)
    write_records(records, output, _output_format(output, out_format))
    by = Counter(r["metadata"]["variant"] for r in records)
    click.echo(f"  wrote {len(records):,} records to {output} (" + ", ".join(f"{v} {n:,}" for v, n in by.items()) + ")")
    if skipped:
        click.echo(f"  skipped {len(skipped):,} chain-of-thought records with an empty rationale, e.g. {skipped[0][2]}")


@main.command("export")
@click.argument("input", type=str)
@click.argument("outdir", type=str)
@click.option("--trainer", required=True, type=click.Choice(["trl", "llamafactory", "axolotl"]))
@click.option("--chat-template", default=None,
              help="chatml (default), llama3, zephyr, alpaca, a .jinja file, a tokenizer_config.json / model "
                   "folder, or template text.")
@click.option("--tokenizer", default=None, help="tokenizer.json for token counts (default: datamill BPE).")
@click.option("--pack", type=click.IntRange(1), default=None, metavar="LENGTH",
              help="Plan packing into LENGTH-token sequences; report the padding waste.")
@click.option("--max-length", type=click.IntRange(1), default=None, help="The trainer's sequence limit.")
@click.option("--name", default="datamill", show_default=True, help="Dataset name (LLaMA-Factory).")
@click.option("--text", "write_text", is_flag=True, help="Also write text.jsonl rendered with the chat template.")
@click.option("--input-format", default=None, help="Input format (default: detected).")
@register_options
@friendly_errors
def export_cmd(input, outdir, trainer, chat_template, tokenizer, pack, max_length, name, write_text, input_format,
               catalog_register, catalog_root):
    """Write INPUT as a ready dataset + config for TRL, LLaMA-Factory or Axolotl, with token counts.

    Python: datamill.post.export.export_for_trainer(records, outdir, trainer).
    """
    from datamill.post.export import export_for_trainer, format_export

    records = _read_post_records(input, input_format)
    report = export_for_trainer(records, outdir, trainer, chat_template=chat_template, tokenizer=tokenizer,
                                pack=pack, name=name, max_length=max_length, write_text=write_text)
    click.echo(format_export(report))
    if catalog_register:
        data = [f for f in report.get("files", []) if f.endswith((".jsonl", ".json"))
                and f not in ("dataset_info.json", "packs.jsonl", "text.jsonl", "export_report.json")]
        if not data:
            raise DatamillError(f"{outdir}: the export wrote no data file to register")
        register_output(catalog_register, os.path.join(outdir, data[0]), root=catalog_root, inputs=[input])


@main.command("mix")
@click.argument("output", type=str)
@click.option("--source", "-s", "sources", multiple=True, metavar="[NAME=]PATH[:WEIGHT[:MAX_EPOCHS]]",
              help="A source and its weight (share of the mix) and epoch cap (repeatable).")
@click.option("--config", default=None, help="A YAML mix (sources with name/path/weight/max_epochs, budget).")
@click.option("--budget-tokens", type=click.IntRange(0), default=None, help="Tokens in the final mix.")
@click.option("--budget-records", type=click.IntRange(0), default=None, help="Records in the final mix.")
@click.option("--max-epochs", type=float, default=None, help="Default cap on epochs per source [1].")
@click.option("--tokenizer", default=None, help="tokenizer.json for token counts (default: datamill BPE).")
@click.option("--format", "out_format", default=None, help="Output format (default: datamill records).")
@click.option("--seed", default=None, type=int, help="Sampling and shuffle seed [0].")
@click.option("--no-shuffle", is_flag=True, help="Keep sources in order instead of interleaving.")
@register_options
@friendly_errors
def mix_cmd(output, sources, config, budget_tokens, budget_records, max_epochs, tokenizer, out_format, seed,
            no_shuffle, catalog_register, catalog_root):
    """Mix sources by weight under a token or record budget, capping epochs; print the mix.

    Python: datamill.post.mix.mix([MixSource(...)], budget_tokens=...).
    """
    from datamill.post.formats import write_records
    from datamill.post.mix import format_mix, load_mix_config, mix, parse_source_spec

    cfg = load_mix_config(config) if config else {"sources": []}
    srcs = list(cfg["sources"]) + [parse_source_spec(s) for s in sources]
    if not srcs:
        raise click.UsageError("give sources with --source PATH[:WEIGHT[:MAX_EPOCHS]] or --config")
    bt = budget_tokens if budget_tokens is not None else cfg.get("budget_tokens")
    br = budget_records if budget_records is not None else cfg.get("budget_records")
    records, plan = mix(srcs, budget_tokens=bt, budget_records=br,
                        max_epochs=max_epochs if max_epochs is not None else float(cfg.get("max_epochs", 1.0)),
                        seed=seed if seed is not None else int(cfg.get("seed", 0)),
                        shuffle=not no_shuffle and cfg.get("shuffle", True),
                        tokenizer=tokenizer or cfg.get("tokenizer"))
    write_records(records, output, _output_format(output, out_format))
    click.echo(format_mix(plan))
    click.echo(f"  wrote {len(records):,} records to {output}")
    if catalog_register:
        paths = [getattr(src, "path", None) or (src.get("path") if isinstance(src, dict) else None) for src in srcs]
        register_output(catalog_register, output, root=catalog_root, inputs=[p for p in paths if p])


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--from", "fmt", default=None,
              help="Input format (alpaca, sharegpt, openai, trl, internal…); default: detected.")
@click.option("--max-tokens", type=click.IntRange(1, None), default=None,
              help="Flag conversations longer than N tokens (prompt + each response).")
@click.option("--tokenizer", default=None,
              help="tokenizer.json (or a folder with one) to count tokens; default: datamill's BPE "
                   "trained on the shared instruction data (cached).")
@click.option("--strict", is_flag=True, help="Exit with code 1 when any error is found.")
@click.option("--no-truncation", is_flag=True, help="Skip the cut-mid-sentence check.")
@click.option("--ignore", multiple=True, help="Issue code to leave out; repeatable.")
@click.option("--show", default=20, show_default=True, type=click.IntRange(0, None),
              help="How many issues to print per file.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@friendly_errors
def validate(files, fmt, max_tokens, tokenizer, strict, no_truncation, ignore, show, as_json):
    """Check post-training FILES: role order, empty turns, final assistant turn, tool calls,
    chosen == rejected, truncated answers, token limits. Each issue names file:record:field.

    Python twin: `datamill.post.validate.validate_file(FILE, fmt=, max_tokens=, tokenizer=, strict=)`.
    """
    from datamill.post.validate_files import validate_file

    failed = False
    reports = []
    for path in files:
        report = validate_file(path, fmt=fmt, max_tokens=max_tokens, tokenizer=tokenizer,
                               strict=strict, truncation=not no_truncation, ignore=ignore)
        reports.append(report)
        failed = failed or report.failed
        if not as_json:
            click.echo(report.summary(show=show))
    if as_json:
        import json

        click.echo(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=1))
    if failed:
        sys.exit(1)


