"""Embedders: the offline MiniLM default, an OpenAI-compatible remote one, and a query cache.

`default_embedder()` is the process-wide MiniLM instance every embedded store shares, so the
model loads once per process however many stores use it.
"""

from __future__ import annotations

import os
import threading

# Before onnxruntime is imported (memio imports it lazily, on the first embed).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from memio.embeddings.batching import CoalescingEmbedder
from memio.embeddings.cache import CachedEmbedder
from memio.embeddings.minilm import Compute, MiniLMEmbedder, ModelIntegrityError
from memio.embeddings.openai import OpenAIEmbedder

__all__ = [
    "CachedEmbedder",
    "CoalescingEmbedder",
    "MiniLMEmbedder",
    "ModelIntegrityError",
    "OpenAIEmbedder",
    "default_embedder",
]

_defaults: dict[Compute, MiniLMEmbedder] = {}
_default_lock = threading.Lock()


def default_embedder(compute: Compute = "auto") -> MiniLMEmbedder:
    """The shared MiniLM embedder of this `compute` setting (created on first call; the model
    loads on first embed)."""
    with _default_lock:
        embedder = _defaults.get(compute)
        if embedder is None:
            embedder = _defaults[compute] = MiniLMEmbedder(compute=compute)
        return embedder
