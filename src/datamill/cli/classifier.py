"""`datamill classifier train|eval`: text classifiers for quality signals.
(Python twins: datamill.models.classifier.train / evaluate_file)"""

from __future__ import annotations

import json

import click

from datamill.cli.root import main
from datamill.core.errors import friendly_errors


@main.group()
def classifier() -> None:
    """Train and evaluate text classifiers (quality, toxicity) for the quality_classifier step."""


def _label_options(fn):
    fn = click.option("--text-field", default="text", show_default=True, help="Text column.")(fn)
    fn = click.option("--label-field", default="label", show_default=True, help="Label column.")(fn)
    fn = click.option("--label-kind", type=click.Choice(["auto", "binary", "graded"]), default="auto",
                      show_default=True, help="binary (two classes) or graded (e.g. 0-5 scores).")(fn)
    fn = click.option("--positive-label", default=None,
                      help="Which label value is the positive class (string labels).")(fn)
    return fn


@classifier.command("train")
@click.option("--positive", multiple=True, metavar="SRC", help="Positive examples: files or output folders.")
@click.option("--negative", multiple=True, metavar="SRC", help="Negative examples: files or output folders.")
@click.option("--labels", default=None, metavar="FILE", help="A CSV, JSONL or Parquet file with text and label.")
@_label_options
@click.option("--output", "-o", required=True, metavar="MODEL", help="Where to write the model (card beside it).")
@click.option("--backend", type=click.Choice(["fasttext", "embed"]), default="fasttext", show_default=True)
@click.option("--head", type=click.Choice(["linear", "mlp"]), default="linear", show_default=True,
              help="embed backend: the head on the embeddings.")
@click.option("--valid-fraction", default=0.2, show_default=True, type=float, help="Held-out share.")
@click.option("--epoch", default=10, show_default=True, help="fastText epochs.")
@click.option("--limit", default=None, type=int, help="At most this many texts per side (sources).")
@click.option("--seed", default=0, show_default=True)
@click.option("--no-quantize", is_flag=True, help="Keep the full fastText model (larger file).")
@click.option("--threads", default=2, show_default=True,
              help="fastText threads (1 makes training repeatable to the bit; more is faster).")
@friendly_errors
def train_cmd(positive, negative, labels, text_field, label_field, label_kind, positive_label, output, backend,
              head, valid_fraction, epoch, limit, seed, no_quantize, threads):
    """Train a classifier; print held-out precision/recall/F1/AUC (Spearman for graded labels).

    Python twin: `datamill.models.classifier.train(OUTPUT, positive=[...], negative=[...])`.
    """
    from datamill.models.classifier import train
    from datamill.models.metrics import format_table

    _, card = train(output, positive=positive, negative=negative, labels=labels, text_field=text_field,
                    label_field=label_field, label_kind=label_kind, positive_label=positive_label, limit=limit,
                    backend=backend, head=head, valid_fraction=valid_fraction, epoch=epoch, seed=seed,
                    quantize=not no_quantize, threads=threads)
    t = card["training"]
    click.echo(f"trained {card['backend']} {card['label_kind']} classifier on {t['train_rows']} rows "
               f"(held out {t['heldout_rows']}); classes {t['class_counts']}")
    if "heldout" in card["metrics"]:
        click.echo(format_table(card["metrics"]["heldout"], "held-out:"))
    click.echo(f"wrote {output} ({card['size_bytes'] / 1e6:.1f} MB) and {output}.card.json")


@classifier.command("eval")
@click.argument("model")
@click.option("--labels", required=True, metavar="FILE", help="A CSV, JSONL or Parquet file with text and label.")
@_label_options
@friendly_errors
def eval_cmd(model, labels, text_field, label_field, label_kind, positive_label):
    """Score a labelled file with MODEL; print a table, then the metrics as one JSON line.

    Python twin: `datamill.models.classifier.evaluate_file(MODEL, FILE, text_field, label_field)`.
    """
    from datamill.models.classifier import evaluate_file
    from datamill.models.metrics import format_table

    metrics = evaluate_file(model, labels, text_field, label_field, label_kind, positive_label)
    click.echo(format_table(metrics, f"{model} on {labels}:"))
    click.echo(json.dumps({k: metrics.get(k) for k in ("accuracy", "f1", "auc", "n", "precision", "recall",
                                                          "spearman") if k in metrics}))
