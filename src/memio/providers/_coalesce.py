"""Group commit: concurrent single writes of a store run as one batch.

A backend write often costs the same for one record as for a hundred (an embedded Chroma commits
every call with several fsyncs), and a store that serialises its writes behind a lock then queues
concurrent writers one commit each: under load the queue, not the write, is the latency. The
stores queue their writes in a `memio.coalescing.Coalescer`, whose batch answers each request on
its own (a result or an exception); `together_or_alone` decides how.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from memio.errors import ConflictError, InvalidRequestError, MemioError

__all__ = ["WRITE_BATCH", "together_or_alone"]

WRITE_BATCH = 256  # requests one group commit takes at most

R = TypeVar("R")
T = TypeVar("T")


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
