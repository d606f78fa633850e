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
from memio.embeddings.minilm import MiniLMEmbedder, ModelIntegrityError
from memio.embeddings.openai import OpenAIEmbedder

__all__ = [
    "CachedEmbedder",
    "CoalescingEmbedder",
    "MiniLMEmbedder",
    "ModelIntegrityError",
    "OpenAIEmbedder",
    "default_embedder",
]

_default: MiniLMEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> MiniLMEmbedder:
    """The shared MiniLM embedder (created on first call; the model loads on first embed)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MiniLMEmbedder()
        return _default
