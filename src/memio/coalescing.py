"""Run concurrent calls of one kind together: a call made while a run is in progress waits, and
the next run takes every call queued meanwhile.

Under concurrent load every request makes the same small calls: embed one query, compare one
vector with every stored one, write one record. Run one by one, each pays a run's fixed cost (the
model's weights or the stored vectors read from memory, a commit's fsyncs) and they queue for the
same cores or lock. A lone call runs at once, so an idle server adds no latency.

A run goes in a task of its own: a caller that gives up (cancelled) before its run starts is
dropped from it; once its run has started, the call completes like any other.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Coalescer"]

Call = TypeVar("Call")
Result = TypeVar("Result")


@dataclass
class _Queue:
    """Per event loop: the calls waiting for the next run, and whether one is running."""

    pending: list[tuple[Any, asyncio.Future[Any]]] = field(default_factory=list)
    running: bool = False
    task: asyncio.Task[None] | None = None  # the drain in progress (kept so it is not collected)


class Coalescer(Generic[Call, Result]):
    """`await coalescer(call)` is this call's result from `run(calls)`, which answers each call
    of a run in order: its result, or the exception to raise for it alone. A run takes the
    queued calls in arrival order while their `size` sums to at most `max_batch` (a larger call
    runs alone). A run that fails fails each of its calls, and the next run goes on."""

    def __init__(
        self,
        run: Callable[[list[Call]], Awaitable[Sequence[Result | BaseException]]],
        *,
        max_batch: int,
        size: Callable[[Call], int] = lambda call: 1,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._run = run
        self._size = size
        self.max_batch = max_batch
        self.runs = 0
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, call: Call) -> Result:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[Result] = loop.create_future()
        queue.pending.append((call, future))
        if not queue.running:
            queue.running = True
            queue.task = loop.create_task(self._drain(queue))
        return await future

    def _next_batch(self, queue: _Queue) -> list[tuple[Any, asyncio.Future[Any]]]:
        batch: list[tuple[Any, asyncio.Future[Any]]] = []
        total = 0
        while queue.pending and (
            not batch or total + self._size(queue.pending[0][0]) <= self.max_batch
        ):
            call, future = queue.pending.pop(0)
            if future.done():  # the caller gave up (cancelled)
                continue
            batch.append((call, future))
            total += self._size(call)
        return batch

    async def _drain(self, queue: _Queue) -> None:
        try:
            while queue.pending:
                batch = self._next_batch(queue)
                if not batch:
                    continue
                self.runs += 1
                try:
                    results = await self._run([call for call, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"a run answered {len(results)} of {len(batch)} calls")
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:  # the loop is shutting down
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            queue.running = False
            for _, future in queue.pending:  # only left when the loop is shutting down
                if not future.done():
                    future.cancel()
            queue.pending.clear()
