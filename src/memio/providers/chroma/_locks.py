"""Write locks shared by every process writing one Chroma collection (`config.lock_url`).

Chroma has no transactions: "is this id taken?", "is this fact stored already?" and "what does
this fact hold now?" are reads followed by a separate write, so two gateway replicas over one
Chroma server can both see "absent" and both write (two 201s for one doc_id, a fact stored twice,
two updates of one fact that both start from the same old state and fork its history). Within one
process the stores serialise their writes with an `asyncio.Lock`; across processes they take
these locks, held in Redis (redis-py's `Lock`: SET NX PX with a random token, released by a
compare-and-delete script), one per item a write decides on:

- ``doc:<id>`` / ``fact:<id>``: creating an explicit id, updating, deleting;
- ``same:<hash>``: a fact's dedup key (content key and exact scope), so two adds of one fact
  cannot both find it absent.

A write takes every lock it needs in sorted order (so two writes never wait for each other in a
cycle), re-reads under them, writes, and releases. Each lock expires after `ttl` seconds should
its holder die; waiting for one gives up after `wait` seconds with a ProviderError (the write did
not happen). Without `lock_url` nothing is locked across processes: a Chroma server then has one
writing gateway (see docs/providers/chroma.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from memio.errors import NotSupportedError, ProviderError

__all__ = ["WriteLocks", "check_redis_installed", "namespace_of"]

logger = logging.getLogger("memio.providers.chroma")

_POLL = 0.01  # seconds between tries while another process holds a lock


def check_redis_installed() -> None:
    if importlib.util.find_spec("redis") is None:
        raise NotSupportedError(
            "config.lock_url needs the redis package", hint="pip install 'memio[redis]'"
        )


class WriteLocks:
    """Per-item locks across processes in Redis; a no-op without a URL."""

    def __init__(
        self, url: str | None, *, namespace: str, provider: str, ttl: float, wait: float
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.provider = provider
        self.ttl = ttl
        self.wait = wait
        self._client: Any = None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as redis

            self._client = redis.from_url(self.url, socket_timeout=self.wait)
        return self._client

    @asynccontextmanager
    async def hold(self, operation: str, keys: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of `keys` (taken in sorted order) for the block."""
        names = sorted({f"{self.namespace}:{_short(key)}" for key in keys})
        if not self.enabled or not names:
            yield
            return
        from redis.exceptions import LockNotOwnedError, RedisError

        held = []
        try:
            for name in names:
                lock = self._redis().lock(
                    name,
                    timeout=self.ttl,
                    sleep=_POLL,
                    blocking_timeout=self.wait,
                    thread_local=False,
                )
                try:
                    acquired = await lock.acquire()
                except RedisError as exc:
                    raise ProviderError(
                        f"could not reach Redis for the write lock ({type(exc).__name__}: {exc})",
                        provider=self.provider,
                        operation=operation,
                        cause=exc,
                    ) from exc
                if not acquired:
                    raise ProviderError(
                        f"another process held the write lock {name!r} for more than "
                        f"{self.wait:g} s; nothing was written, try again",
                        provider=self.provider,
                        operation=operation,
                    )
                held.append(lock)
            yield
        finally:
            for lock in reversed(held):
                try:
                    await lock.release()
                except LockNotOwnedError:
                    logger.warning(
                        "write lock %s expired before %s finished (lock_ttl %g s is too short)",
                        lock.name,
                        operation,
                        self.ttl,
                    )
                except RedisError as exc:  # it expires by itself after ttl
                    logger.warning("could not release write lock %s: %s", lock.name, exc)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _short(key: str) -> str:
    """A Redis key part of bounded length for any id (ids may be long or hold any text)."""
    kind, _, rest = key.partition(":")
    return f"{kind}:{hashlib.blake2s(rest.encode(), digest_size=16).hexdigest()}"


def namespace_of(*parts: str) -> str:
    """The lock namespace of one collection on one Chroma server."""
    digest = hashlib.blake2s("\x1f".join(parts).encode(), digest_size=12).hexdigest()
    return f"memio:chroma:{digest}"
