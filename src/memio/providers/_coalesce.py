"""Group commit: concurrent single writes of a store run as one batch.

A backend write often costs the same for one record as for a hundred (an embedded Chroma commits
every call with several fsyncs), and a store that serialises its writes behind a lock then queues
concurrent writers one commit each: under load the queue, not the write, is the latency.
`WriteCoalescer` queues the requests that arrive while a batch is being written and hands all of
them to the next batch, which answers each request on its own (a result or an exception). A lone
request starts at once, so an idle store adds no latency.

The batch runs in a task of its own: a caller that gives up (cancelled) before its batch starts
is dropped from it; once its batch has started, its write completes like any other.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from memio.errors import ConflictError, InvalidRequestError, MemioError

__all__ = ["WriteCoalescer", "together_or_alone"]

R = TypeVar("R")
T = TypeVar("T")

# One batch returns, for each request in order, its result or the exception to raise for it.
RunBatch = Callable[[list[R]], Awaitable[Sequence["T | BaseException"]]]


@dataclass
class _Queue(Generic[R, T]):
    """Per event loop: requests waiting for the next batch, and the drain running (if any)."""

    pending: list[tuple[R, asyncio.Future[T]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class WriteCoalescer(Generic[R, T]):
    """`await submit(request)` runs `run_batch` over every request queued meanwhile (at most
    `max_batch` per batch, in arrival order) and returns this request's own result."""

    def __init__(self, run_batch: RunBatch[R, T], *, max_batch: int = 256) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.batches = 0
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[R, T]] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, request: R) -> T:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[T] = loop.create_future()
        queue.pending.append((request, future))
        if queue.task is None:
            queue.task = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue[R, T]) -> None:
        try:
            while queue.pending:
                batch = [item for item in queue.pending[: self.max_batch] if not item[1].done()]
                del queue.pending[: self.max_batch]
                if not batch:
                    continue
                self.batches += 1
                try:
                    results = await self._run_batch([request for request, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(
                            f"a write batch answered {len(results)} of {len(batch)} requests"
                        )
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
            queue.task = None
            for _, future in queue.pending:  # only left when the loop is shutting down
                if not future.done():
                    future.cancel()
            queue.pending.clear()


async def together_or_alone(
    requests: list[R],
    together: Callable[[list[R]], Awaitable[list[T]]],
    alone: Callable[[R], Awaitable[T]],
    *,
    joinable: bool = True,
) -> list[T | MemioError]:
    """A batch's outcomes, in arrival order: `together` (one write for all) when there are
    several and they are `joinable`; when one of them is a client mistake (an id that exists, a
    merge over the caps) the joint write would fail as a whole, so each is then decided `alone`,
    with the outcome it would have had by itself."""
    if len(requests) > 1 and joinable:
        try:
            return list(await together(requests))
        except (ConflictError, InvalidRequestError):
            pass
    out: list[T | MemioError] = []
    for request in requests:
        try:
            out.append(await alone(request))
        except MemioError as exc:
            out.append(exc)
    return out
