"""Rate limiting per credential (per client address when auth is off), with `limits`.

Bound credentials (keys for one user or app, and tokens) get by default 100 requests a minute with
bursts of at most 20 in 10 seconds, per key or per token subject; operator keys are not limited
unless `operator_limits` says so, so a backend looping over adds never meets 429. Windows are
counted as moving windows in process memory, or in Redis so replicas share the counts. Limited
responses carry ``X-RateLimit-Limit/-Remaining/-Reset`` for the tightest window; a refused request
gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memio.server.asgi import ALWAYS_PUBLIC, client_address, route_path
from memio.server.errors import error_response, request_id_of

if TYPE_CHECKING:
    from memio.server.auth import Principal

__all__ = ["Counters", "Decision", "RateLimitMiddleware", "RateLimiter", "describe"]

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


class Counters:
    """Moving-window counters in process memory or Redis (so replicas share them). `open()` runs
    in the app's lifespan, because the storage's locks and connections belong to the event loop
    that serves requests."""

    def __init__(self, storage_uri: str) -> None:
        self.storage_uri = storage_uri
        self._limiter: MovingWindowRateLimiter | None = None
        self._parsed: dict[tuple[str, ...], list[RateLimitItem]] = {}

    def open(self) -> None:
        uri = self.storage_uri
        uri = uri if uri.startswith("async+") else f"async+{uri}"
        options = {"implementation": "redispy"} if "redis" in uri.partition("://")[0] else {}
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri, **options))

    def parse(self, limits: Sequence[str]) -> list[RateLimitItem]:
        """Windows of `limits`, shortest first (cached: runtime keys repeat the same specs)."""
        key = tuple(limits)
        items = self._parsed.get(key)
        if items is None:
            items = self._parsed[key] = _items(limits)
        return items

    @property
    def limiter(self) -> MovingWindowRateLimiter:
        if self._limiter is None:
            raise RuntimeError("Counters.open() was not called (the app's lifespan did not run)")
        return self._limiter

    async def hit(self, namespace: str, identity: str, items: Sequence[RateLimitItem]) -> Decision:
        """Count one request against every window; the first full window refuses it.

        Shorter windows are tried first, so a request refused by the burst window does not use
        up the longer windows' allowance."""
        limiter = self.limiter
        for item in items:
            if not await limiter.hit(item, namespace, identity):
                stats = await limiter.get_window_stats(item, namespace, identity)
                return Decision(False, item, 0, stats.reset_time)
        windows = [
            (item, await limiter.get_window_stats(item, namespace, identity)) for item in items
        ]
        item, stats = min(windows, key=lambda pair: pair[1].remaining)
        return Decision(True, item, max(0, stats.remaining), stats.reset_time)


class RateLimiter:
    """Which windows apply to a caller: its credential's own limits, else the default of its kind
    (bound credentials and anonymous clients: `limits`; operator keys: `operator_limits`)."""

    def __init__(
        self,
        counters: Counters,
        *,
        limits: Sequence[str],
        operator_limits: Sequence[str] | Literal[False],
    ) -> None:
        self.counters = counters
        self.default = counters.parse(limits)
        self.operator: list[RateLimitItem] | Literal[False] = (
            False if operator_limits is False else counters.parse(operator_limits)
        )

    def limits_for(self, principal: Principal | None) -> list[RateLimitItem] | Literal[False]:
        if principal is None or principal.kind == "anonymous":
            return self.default
        if principal.rate_limit is False:
            return False
        if principal.rate_limit:
            return self.counters.parse(principal.rate_limit)
        return self.default if principal.bound else self.operator

    async def hit(self, identity: str, items: Sequence[RateLimitItem]) -> Decision:
        return await self.counters.hit("memio", identity, items)


class RateLimitMiddleware:
    """Applies the RateLimiter; sits inside auth so it knows which key is calling."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) in ALWAYS_PUBLIC:
            await self.app(scope, receive, send)
            return
        principal = scope.get("state", {}).get("principal")
        items = self.limiter.limits_for(principal)
        if items is False:
            await self.app(scope, receive, send)
            return
        if principal is not None:
            identity, caller = f"key:{principal.name}", "credential"
        else:
            identity, caller = f"addr:{client_address(scope)}", "client address"
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
