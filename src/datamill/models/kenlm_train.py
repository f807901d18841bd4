"""``datamill lm train``: a KenLM n-gram model on CCNet-normalised text, with its card.

Steps: read every document of the sources (plain text with one document per line, JSONL or
Parquet with a ``text`` field, or output folders), hold out a reference sample, normalise and
tokenise the rest (:mod:`.ccnet_norm`), count with ``lmplz`` and write a binary with
``build_binary`` (both built from kenlm's source by ``scripts/build_kenlm.sh``), then score the
reference sample to store per-language perplexity cut-offs (CCNet's 30th and 60th percentiles:
head below the first, tail above the second) in the card.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Sequence

import numpy as np

from datamill.core.errors import DatamillError, InputError
from datamill.models.card import read_card, write_card
from datamill.models.ccnet_norm import document_lines
from datamill.models.labelled import file_digest, read_source_texts
from datamill.models.text_prep import script_language
from datamill.text.words import base_language

KIND = "kenlm"
CUTOFF_PERCENTILES = (30, 60)
_BUILD_HINT = "build it with scripts/build_kenlm.sh (make install does) or put KenLM's bin/ on PATH"


class KenLMToolError(DatamillError):
    """lmplz or build_binary is missing or failed."""


def find_tool(name: str) -> str:
    """``name`` beside this Python (the venv's bin/, where the build script installs it) or on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(local, os.X_OK):
        return local
    found = shutil.which(name)
    if not found:
        raise KenLMToolError(f"{name} not found: {_BUILD_HINT}")
    return found


def read_documents(sources: Sequence[str], text_field: str = "text") -> tuple[list[str], list[dict[str, Any]]]:
    """Documents of ``sources``: a ``.txt`` file is one document per line; anything else is read
    as records (JSONL, Parquet, WET, output folders)."""
    docs: list[str] = []
    described: list[dict[str, Any]] = []
    record_sources = []
    for src in sources:
        if src.endswith((".txt", ".txt.gz")) and os.path.isfile(src):
            import fsspec

            with fsspec.open(src, "rt", encoding="utf-8", compression="infer") as fh:
                lines = [line.strip() for line in fh if line.strip()]
            docs += lines
            described.append({"path": src, "sha256": file_digest(src), "records": len(lines)})
        else:
            record_sources.append(src)
    if record_sources:
        texts, files = read_source_texts(record_sources, text_field)
        docs += texts
        described += files
    return docs, described


def doc_language(text: str) -> str:
    return script_language(text)


def perplexity_of_lines(model, lines: Sequence[str]) -> float | None:
    """Document perplexity from per-line log10 probabilities, weighted by length: 10 to the
    minus (sum of log-probs / number of scored tokens, end-of-sentence included)."""
    total, n = 0.0, 0
    for line in lines:
        total += model.score(line, bos=True, eos=True)
        n += line.count(" ") + 2  # words + </s>
    if n == 0:
        return None
    return float(10.0 ** (-total / n))


def train_lm(sources: Sequence[str], output: str, *, order: int = 5, text_field: str = "text",
             reference_fraction: float = 0.1, language: str | None = None, memory: str = "20%",
             seed: int = 0, prune: Sequence[int] | None = None) -> dict[str, Any]:
    """Python twin of ``datamill lm train``: writes ``output`` (KenLM binary) and its card."""
    if order < 2 or order > 9:
        raise InputError(f"order must be between 2 and 9, not {order}")
    lmplz, build_binary = find_tool("lmplz"), find_tool("build_binary")
    docs, described = read_documents(sources, text_field)
    if len(docs) < 10:
        raise InputError(f"{len(docs)} documents in {', '.join(sources)}: need at least 10 to train a language model")
    rng = np.random.default_rng(seed)
    order_idx = rng.permutation(len(docs))
    n_ref = max(1, int(round(len(docs) * reference_fraction))) if reference_fraction > 0 else 0
    ref_docs = [docs[i] for i in order_idx[:n_ref]]
    train_docs = [docs[i] for i in order_idx[n_ref:]]
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    n_lines = n_tokens = 0
    with tempfile.TemporaryDirectory(prefix="datamill-lm-", dir=parent) as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        from tqdm import tqdm

        with open(corpus, "w", encoding="utf-8") as fh:
            for doc in tqdm(train_docs, desc="normalising", unit="doc", disable=len(train_docs) < 5000,
                            leave=False):
                for line in document_lines(doc, language):
                    fh.write(line + "\n")
                    n_lines += 1
                    n_tokens += line.count(" ") + 1
        arpa = os.path.join(tmp, "model.arpa")
        cmd = [lmplz, "-o", str(order), "-S", memory, "-T", tmp, "--discount_fallback"]
        if prune:
            cmd += ["--prune", *map(str, prune)]
        with open(corpus, "rb") as fin, open(arpa, "wb") as fout:
            proc = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise KenLMToolError(f"lmplz failed (exit {proc.returncode}): {' | '.join(tail)}")
        binary = os.path.join(tmp, "model.bin")
        proc = subprocess.run([build_binary, arpa, binary], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise KenLMToolError(f"build_binary failed (exit {proc.returncode}): {' | '.join(tail)}")
        os.replace(binary, output)
    cutoffs = reference_cutoffs(output, ref_docs, language)
    card = {"kind": KIND, "order": order, "normalisation": "ccnet (lower, accents, digits->0, punct->ascii) "
            "+ datamill.text.words (CJK segmented)", "language": language,
            "training": {"documents": len(train_docs), "lines": n_lines, "tokens": n_tokens, "sources": described},
            "reference": {"documents": len(ref_docs), "percentiles": list(CUTOFF_PERCENTILES)},
            "cutoffs": cutoffs, "size_bytes": os.path.getsize(output)}
    write_card(output, card)
    return card


def reference_cutoffs(model_path: str, docs: Sequence[str], language: str | None = None) -> dict[str, list[float]]:
    """Per-language (and ``all``) 30th/60th percentile perplexities of ``docs``."""
    import kenlm

    model = kenlm.Model(model_path)
    by_lang: dict[str, list[float]] = {}
    for doc in docs:
        lang = base_language(language) if language else doc_language(doc)
        pp = perplexity_of_lines(model, document_lines(doc, lang))
        if pp is not None and math.isfinite(pp):
            by_lang.setdefault(lang, []).append(pp)
            by_lang.setdefault("all", []).append(pp)
    return {lang: [float(np.percentile(v, p)) for p in CUTOFF_PERCENTILES]
            for lang, v in by_lang.items() if len(v) >= 3 or lang == "all"}


class PerplexityModel:
    """A KenLM model written by :func:`train_lm`, with its card's cut-offs."""

    def __init__(self, path: str):
        self.card = read_card(path, KIND)
        self.path = path
        self._model = None

    def load(self) -> "PerplexityModel":
        import kenlm

        try:
            self._model = kenlm.Model(self.path)
        except (OSError, RuntimeError) as exc:
            raise InputError(f"model {self.path}: not a KenLM model ({exc})") from None
        return self

    def perplexity(self, text: str, language: str | None = None) -> float | None:
        if self._model is None:
            self.load()
        return perplexity_of_lines(self._model, document_lines(text, language))

    def bucket(self, perplexity: float, language: str | None = None) -> str | None:
        cut = self.card.get("cutoffs") or {}
        pair = cut.get(base_language(language) if language else "") or cut.get("all")
        if not pair:
            return None
        return "head" if perplexity < pair[0] else ("middle" if perplexity < pair[1] else "tail")
