"""`datamill lm train|score`: KenLM perplexity models (CCNet). (Python twins:
datamill.models.kenlm_train.train_lm / PerplexityModel)"""

from __future__ import annotations

import json

import click

from datamill.cli.root import main
from datamill.core.errors import friendly_errors


@main.group()
def lm() -> None:
    """Train KenLM n-gram models for the perplexity step."""


@lm.command("train")
@click.option("--input", "inputs", multiple=True, required=True, metavar="SRC",
              help="Text (.txt: one document per line), JSONL/Parquet with text, or output folders.")
@click.option("--output", "-o", required=True, metavar="MODEL", help="KenLM binary to write (card beside it).")
@click.option("--order", default=5, show_default=True, help="n-gram order.")
@click.option("--text-field", default="text", show_default=True)
@click.option("--language", default=None, help="The sources' language (default: guessed per document).")
@click.option("--reference-fraction", default=0.1, show_default=True, type=float,
              help="Documents held out to compute the head/middle/tail cut-offs.")
@click.option("--memory", default="20%", show_default=True, help="lmplz -S (memory for sorting).")
@friendly_errors
def train_cmd(inputs, output, order, text_field, language, reference_fraction, memory):
    """Build a KenLM model with lmplz/build_binary on CCNet-normalised text.

    Python twin: `datamill.models.kenlm_train.train_lm([SRC...], MODEL, order=5)`.
    """
    from datamill.models.kenlm_train import train_lm

    card = train_lm(list(inputs), output, order=order, text_field=text_field, language=language,
                    reference_fraction=reference_fraction, memory=memory)
    t = card["training"]
    click.echo(f"trained a {order}-gram model on {t['documents']} documents ({t['lines']} lines, "
               f"{t['tokens']} tokens); held out {card['reference']['documents']} for cut-offs")
    for lang, (p30, p60) in sorted(card["cutoffs"].items()):
        click.echo(f"  {lang:<4} head < {p30:.1f} <= middle < {p60:.1f} <= tail")
    click.echo(f"wrote {output} ({card['size_bytes'] / 1e6:.1f} MB) and {output}.card.json")


@lm.command("score")
@click.argument("model")
@click.argument("text")
@click.option("--language", default=None)
@friendly_errors
def score_cmd(model, text, language):
    """Print the perplexity and bucket of TEXT as one JSON line."""
    from datamill.models.kenlm_train import PerplexityModel

    m = PerplexityModel(model).load()
    pp = m.perplexity(text, language)
    click.echo(json.dumps({"perplexity": pp, "bucket": m.bucket(pp, language) if pp is not None else None}))
