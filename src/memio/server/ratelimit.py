"""Rate limiting per API key (per client address when auth is off), with the `limits` library.

Several windows apply at once (by default 100 a minute with bursts of at most 20 in 10 seconds),
counted as moving windows in process memory, or in Redis so replicas share the counts. Limited
responses carry ``X-RateLimit-Limit/-Remaining/-Reset`` for the tightest window; a refused request
gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memio.server.auth import ALWAYS_PUBLIC, ApiKeyInfo, route_path
from memio.server.errors import error_response, request_id_of

__all__ = ["Decision", "RateLimitMiddleware", "RateLimiter", "describe"]

logger = logging.getLogger("memio.server")


def _items(limits: Sequence[str]) -> list[RateLimitItem]:
    items = [item for text in limits for item in parse_many(text)]
    return sorted(items, key=lambda item: item.get_expiry())  # bursts first: see RateLimiter.hit


def describe(item: RateLimitItem) -> str:
    """'100 per minute', '20 per 10 seconds'."""
    unit = item.GRANULARITY.name
    return (
        f"{item.amount} per {unit}"
        if item.multiples == 1
        else f"{item.amount} per {item.multiples} {unit}s"
    )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    window: RateLimitItem  # the tightest (or the refusing) window
    remaining: int
    reset: float  # epoch seconds when the window frees a slot

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.window.amount),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset - time.time())))
        return headers


class RateLimiter:
    """The limits in force and their counters. `open()` runs in the app's lifespan, because
    the storage's locks and connections belong to the event loop that serves requests."""

    def __init__(
        self,
        *,
        limits: Sequence[str],
        per_key: Mapping[str, list[str] | Literal[False] | None],
        storage_uri: str,
    ) -> None:
        self.default = _items(limits)
        self.per_key = {
            name: (False if spec is False else _items(spec) if spec else self.default)
            for name, spec in per_key.items()
        }
        self.storage_uri = storage_uri
        self._limiter: MovingWindowRateLimiter | None = None

    def open(self) -> None:
        uri = self.storage_uri
        uri = uri if uri.startswith("async+") else f"async+{uri}"
        options = {"implementation": "redispy"} if "redis" in uri.partition("://")[0] else {}
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri, **options))

    def limits_for(self, key: ApiKeyInfo | None) -> list[RateLimitItem] | Literal[False]:
        return self.default if key is None else self.per_key.get(key.name, self.default)

    async def hit(self, identity: str, items: Sequence[RateLimitItem]) -> Decision:
        """Count one request against every window; the first full window refuses it.

        Shorter windows are tried first, so a request refused by the burst window does not use
        up the longer windows' allowance."""
        limiter = self._limiter
        if limiter is None:
            raise RuntimeError("RateLimiter.open() was not called (the app's lifespan did not run)")
        for item in items:
            if not await limiter.hit(item, "memio", identity):
                stats = await limiter.get_window_stats(item, "memio", identity)
                return Decision(False, item, 0, stats.reset_time)
        windows = [
            (item, await limiter.get_window_stats(item, "memio", identity)) for item in items
        ]
        item, stats = min(windows, key=lambda pair: pair[1].remaining)
        return Decision(True, item, max(0, stats.remaining), stats.reset_time)


class RateLimitMiddleware:
    """Applies the RateLimiter; sits inside auth so it knows which key is calling."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) in ALWAYS_PUBLIC:
            await self.app(scope, receive, send)
            return
        key = scope.get("state", {}).get("api_key")
        items = self.limiter.limits_for(key)
        if items is False:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        identity = f"key:{key.name}" if key else f"addr:{client[0] if client else 'unknown'}"
        caller = "API key" if key else "client address"
        try:
            decision = await self.limiter.hit(identity, items)
        except Exception as exc:  # any storage backend: refuse rather than run unlimited
            logger.error("rate limit storage failed (request_id=%s): %r", request_id_of(scope), exc)
            response = error_response(scope, 503, "rate limit storage is unavailable")
            await response(scope, receive, send)
            return
        headers = decision.headers()
        if not decision.allowed:
            detail = f"rate limit exceeded for this {caller}: {describe(decision.window)}"
            await error_response(scope, 429, detail, headers=headers)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
