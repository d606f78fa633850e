"""Coalesce concurrent small embed calls into one model run (memio.coalescing).

Under concurrent searches every request embeds one query; `CoalescingEmbedder` queues small calls
while a model run is in progress and embeds everything queued in the next run (up to `max_batch`
texts), then hands each caller its own rows. A lone call runs at once, so an idle server adds no
latency. Large calls (ingestion batches) pass straight through.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from memio.coalescing import Coalescer
from memio.protocols import Embedder

__all__ = ["CoalescingEmbedder"]


class CoalescingEmbedder:
    """Wraps `inner`; calls of at most `max_call` texts are merged with concurrent ones.

    Vectors are the inner embedder's for the same texts (MiniLM pads per batch with an attention
    mask and quantizes each token by itself, so batch neighbours change nothing beyond float
    rounding).
    """

    def __init__(self, inner: Embedder, *, max_batch: int = 64, max_call: int = 8) -> None:
        if max_batch < 1 or max_call < 1:
            raise ValueError("max_batch and max_call must be >= 1")
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.max_call = min(max_call, max_batch)
        self._together: Coalescer[list[str], np.ndarray] = Coalescer(
            self._embed_together, max_batch=max_batch, size=len
        )

    @property
    def runs(self) -> int:
        """How many model runs coalesced calls took."""
        return self._together.runs

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Small calls join the next model run; others go straight to `inner`."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not a single str")
        if not texts or len(texts) > self.max_call:
            return await self.inner.embed(texts)
        return await self._together(list(texts))

    async def _embed_together(self, calls: list[list[str]]) -> list[np.ndarray]:
        vectors = await self.inner.embed([text for texts in calls for text in texts])
        bounds = itertools.accumulate((len(texts) for texts in calls), initial=0)
        return [vectors[start:end].copy() for start, end in itertools.pairwise(bounds)]

    def load(self) -> str | None:
        """Load the wrapped model now, if it loads lazily (MiniLM does), instead of on first use;
        what it says it loaded."""
        load = getattr(self.inner, "load", None)
        return None if load is None else load()

    async def aclose(self) -> None:
        """Close the wrapped embedder."""
        await self.inner.aclose()
