"""Coalesce concurrent small embed calls into one model run.

Under concurrent searches every request embeds one query; run one by one, each pays the model's
fixed cost per call and they fight over the same cores. `CoalescingEmbedder` queues small calls
while a run is in progress and embeds everything queued in the next run (up to `max_batch`
texts), then hands each caller its own rows. A lone call runs at once, so an idle server adds
no latency. Large calls (ingestion batches) pass straight through.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from memio.protocols import Embedder

__all__ = ["CoalescingEmbedder"]


@dataclass
class _Queue:
    """Per event loop: the calls waiting for the next model run, and whether one is running."""

    pending: list[tuple[list[str], asyncio.Future[np.ndarray]]] = field(default_factory=list)
    running: bool = False
    task: asyncio.Task[None] | None = None  # the drain in progress (kept so it is not collected)


class CoalescingEmbedder:
    """Wraps `inner`; calls of at most `max_call` texts are merged with concurrent ones.

    Vectors are the inner embedder's for the same texts (MiniLM pads per batch with an attention
    mask, so batch neighbours change nothing beyond float rounding).
    """

    def __init__(self, inner: Embedder, *, max_batch: int = 64, max_call: int = 8) -> None:
        if max_batch < 1 or max_call < 1:
            raise ValueError("max_batch and max_call must be >= 1")
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.max_batch = max_batch
        self.max_call = min(max_call, max_batch)
        self.runs = 0
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Small calls join the next model run; others go straight to `inner`."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not a single str")
        if not texts or len(texts) > self.max_call:
            return await self.inner.embed(texts)
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        queue.pending.append((list(texts), future))
        if not queue.running:
            queue.running = True
            queue.task = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue) -> None:
        try:
            while queue.pending:
                batch: list[tuple[list[str], asyncio.Future[np.ndarray]]] = []
                count = 0
                while queue.pending and (
                    not batch or count + len(queue.pending[0][0]) <= self.max_batch
                ):
                    item = queue.pending.pop(0)
                    if item[1].done():  # the caller gave up (cancelled)
                        continue
                    batch.append(item)
                    count += len(item[0])
                if not batch:
                    continue
                try:
                    self.runs += 1
                    vectors = await self.inner.embed([t for texts, _ in batch for t in texts])
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                start = 0
                for texts, future in batch:
                    if not future.done():
                        future.set_result(vectors[start : start + len(texts)].copy())
                    start += len(texts)
        finally:
            queue.running = False
            for _, future in queue.pending:  # only left when the loop is shutting down
                if not future.done():
                    future.cancel()
            queue.pending.clear()

    def load(self) -> str | None:
        """Load the wrapped model now, if it loads lazily (MiniLM does), instead of on first use;
        what it says it loaded."""
        load = getattr(self.inner, "load", None)
        return None if load is None else load()

    async def aclose(self) -> None:
        """Close the wrapped embedder."""
        await self.inner.aclose()
