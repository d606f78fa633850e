"""An LRU of query embeddings in front of any Embedder.

Searches embed one query at a time and agents repeat queries a lot; a hit skips a model run (or a
remote round trip). Batches (ingestion) pass straight through, filling the cache on the way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from memio.protocols import Embedder

__all__ = ["CachedEmbedder"]


class CachedEmbedder:
    """Wraps `inner`; single-text calls are served from an LRU keyed by the exact text.

    Returned arrays are copies, so a caller mutating its result cannot poison the cache.
    """

    def __init__(self, inner: Embedder, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _put(self, text: str, vector: np.ndarray) -> None:
        self._cache[text] = vector.copy()
        self._cache.move_to_end(text)
        while len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One text: from the cache when present. Several: computed by `inner`, then cached."""
        if len(texts) == 1:
            text = texts[0]
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return cached[None, :].copy()
            self.misses += 1
        vectors = await self.inner.embed(texts)
        for text, vector in zip(texts, vectors, strict=True):
            self._put(text, vector)
        return vectors

    async def aclose(self) -> None:
        """Drop the cache and close the wrapped embedder."""
        self._cache.clear()
        await self.inner.aclose()
