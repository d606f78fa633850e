"""Authentication: who is calling, and for which scope.

A credential arrives in any of the ways memio's clients send one: ``Authorization: Bearer <key or
token>`` (memio, browsers, any HTTP client; the scheme name is case-insensitive), ``Authorization:
Token <key>`` (mem0's SDK) and ``X-API-Key: <key>`` (mem0's self-hosted server). It becomes a
`Principal`: an operator (acts for anyone; an admin also opens the admin routes) or a credential
bound to a `Scope`. Everything downstream reads the principal from ``scope["state"]``; the stores
a route gets are confined to its scope (server/deps.py), so no route checks tenancy itself.

Three kinds of credential are tried in this order: a signed token (when ``auth.jwt`` is set and the
credential looks like a JWT), a key from the config (SHA-256 digests compared in constant time),
a key created at run time (looked up in the key store on every request, so a revocation holds on
the next request everywhere). Failed attempts are counted per client address and refused with
429 past ``auth.failure_limit``, so keys cannot be guessed at speed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeVar

from fastapi import Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as ASGIScope

from memio.config import ApiKey
from memio.errors import ForbiddenError, ProviderError
from memio.models import utcnow
from memio.scoping import Scope
from memio.server.asgi import ALWAYS_PUBLIC, client_address, route_path
from memio.server.errors import error_response, request_id_of
from memio.server.keystore import KeyStore, RateLimitSpec
from memio.server.ratelimit import Counters
from memio.server.tokens import TokenError, TokenVerifier, looks_like_token

__all__ = [
    "ANONYMOUS",
    "AuthFailure",
    "AuthMiddleware",
    "Authenticator",
    "FailureThrottle",
    "Principal",
    "presented_credential",
    "principal_of",
    "require_admin",
    "require_admin_unless_bound",
    "require_operator",
]

logger = logging.getLogger("memio.server")

_SCHEMES = frozenset({"bearer", "token"})
_TOUCH_EVERY = 60.0  # seconds between last_used_at writes of one runtime key
_T = TypeVar("_T")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as stored in ``scope["state"]["principal"]``."""

    name: str  # key name, or "token:<sub>"
    admin: bool = False
    scope: Scope = field(default_factory=Scope)
    kind: Literal["key", "token", "anonymous"] = "key"
    rate_limit: RateLimitSpec = None  # this credential's own limits; None: its kind's default

    @property
    def bound(self) -> bool:
        return self.scope.bound


# Auth off: every caller is an admin operator, as before auth existed.
ANONYMOUS = Principal(name="anonymous", admin=True, kind="anonymous")


class AuthFailure(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


class _KeyRing:
    """The configured keys' digests; `match` compares against all of them in constant time."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys = [
            (
                bytes.fromhex(key.sha256 or ""),
                Principal(
                    name=key.name, admin=key.admin, scope=key.scope, rate_limit=key.rate_limit
                ),
            )
            for key in keys
        ]

    def match(self, digest: bytes) -> Principal | None:
        found = None
        for stored, principal in self._keys:  # no early exit: timing does not say which matched
            if hmac.compare_digest(stored, digest):
                found = principal
        return found


class Authenticator:
    """Turns a presented credential into a Principal, or raises AuthFailure."""

    def __init__(
        self,
        keys: Sequence[ApiKey],
        *,
        tokens: TokenVerifier | None = None,
        key_store: KeyStore | None = None,
    ) -> None:
        self._ring = _KeyRing(keys)
        self._tokens = tokens
        self._key_store = key_store
        self._touched: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def authenticate(self, credential: str) -> Principal:
        if self._tokens is not None and looks_like_token(credential):
            try:
                token = await self._tokens.verify(credential)
            except TokenError as exc:
                raise AuthFailure(401, exc.detail) from None
            return Principal(name=token.name, scope=token.scope, kind="token")
        digest = hashlib.sha256(credential.encode()).digest()
        principal = self._ring.match(digest)
        if principal is not None:
            return principal
        if self._key_store is not None:
            return await self._runtime_key(digest.hex())
        raise AuthFailure(403, "invalid API key")

    async def _runtime_key(self, sha256: str) -> Principal:
        assert self._key_store is not None
        try:
            stored = await self._key_store.find(sha256)
        except ProviderError as exc:
            logger.error("key store lookup failed: %s", exc.message)
            raise AuthFailure(503, "the key store is unavailable; try again shortly") from None
        if stored is None:
            raise AuthFailure(403, "invalid API key")
        now = utcnow()
        if stored.expired(now):
            raise AuthFailure(403, f"API key {stored.name!r} expired")
        self._touch(stored.name, now)
        return Principal(name=stored.name, scope=stored.scope, rate_limit=stored.rate_limit)

    def _touch(self, name: str, now: datetime) -> None:
        """Record last use at most once a minute per key, without delaying the request."""
        clock = time.monotonic()
        if clock - self._touched.get(name, -_TOUCH_EVERY) < _TOUCH_EVERY:
            return
        self._touched[name] = clock
        task = asyncio.create_task(self._write_touch(name, now))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _write_touch(self, name: str, now: datetime) -> None:
        assert self._key_store is not None
        try:
            await self._key_store.touch(name, now)
        except ProviderError as exc:
            logger.warning("could not record the use of key %r: %s", name, exc.message)

    def forget(self, name: str) -> None:
        """A key was revoked: drop what this process remembers of it."""
        self._touched.pop(name, None)


class FailureThrottle:
    """Counts failed authentications per client address (in the shared counters, so replicas
    add up); an address whose failures fill a window is refused, whatever it sends, until the
    window frees. The refusal is remembered in process, so a request with a good credential
    costs no round trip to the counters."""

    _PRUNE_AT = 10_000  # remembered addresses before the expired ones are dropped

    def __init__(self, counters: Counters, limits: Sequence[str]) -> None:
        self.counters = counters
        self.items = counters.parse(limits)
        self._blocked: dict[str, float] = {}  # address -> time.monotonic() when it may retry

    def refused(self, address: str) -> int | None:
        """Seconds `address` must wait, or None when it may try."""
        until = self._blocked.get(address)
        if until is None:
            return None
        wait = until - time.monotonic()
        if wait > 0:
            return max(1, math.ceil(wait))
        del self._blocked[address]
        return None

    async def failed(self, address: str) -> None:
        decision = await self.counters.hit("auth-failures", address, self.items)
        if decision.allowed and decision.remaining > 0:
            return
        if len(self._blocked) >= self._PRUNE_AT:
            now = time.monotonic()
            self._blocked = {a: t for a, t in self._blocked.items() if t > now}
        self._blocked[address] = time.monotonic() + max(1.0, decision.reset - time.time())


def presented_credential(headers: Headers) -> str | None:
    """The credential from ``Authorization: Bearer|Token <it>``, else from ``X-API-Key``."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() in _SCHEMES and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key", "").strip() or None


class AuthMiddleware:
    """401 without a credential, 401/403 with a bad one, 429 after too many failures from one
    address; public paths (/health, maybe the docs) pass without one."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        throttle: FailureThrottle | None = None,
        public_paths: Collection[str] = ALWAYS_PUBLIC,
        public_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.throttle = throttle
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = public_prefixes

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._public(route_path(scope)):
            await self.app(scope, receive, send)
            return
        credential = presented_credential(Headers(scope=scope))
        if credential is None:
            response = error_response(
                scope,
                401,
                "missing API key: send 'Authorization: Bearer <key or token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope, credential)
        except AuthFailure as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
            refused = error_response(
                scope, exc.status, exc.detail, bad_credential=exc.status == 403, headers=headers
            )
            await refused(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: ASGIScope, credential: str) -> Principal:
        address = client_address(scope)
        if self.throttle is not None:
            wait = self.throttle.refused(address)
            if wait is not None:
                raise AuthFailure(
                    429,
                    f"too many failed authentications from this address; retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        try:
            return await self.authenticator.authenticate(credential)
        except AuthFailure as exc:
            if self.throttle is not None and exc.status in (401, 403):
                await self._throttle_call(scope, self.throttle.failed(address))
            raise

    @staticmethod
    async def _throttle_call(scope: ASGIScope, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except Exception as exc:  # any storage backend: refuse rather than run unthrottled
            rid = request_id_of(scope)
            logger.error("auth throttle storage failed (request_id=%s): %r", rid, exc)
            raise AuthFailure(503, "rate limit storage is unavailable") from None

    def _public(self, path: str) -> bool:
        return path in self.public_paths or path.startswith(self.public_prefixes)


def principal_of(request: Request) -> Principal:
    """Who is calling (ANONYMOUS when auth is off)."""
    principal = request.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else ANONYMOUS


async def require_admin(request: Request) -> None:
    """Dependency for admin-only routes: 403 unless the caller used an admin key (auth off:
    everyone may)."""
    if not principal_of(request).admin:
        raise ForbiddenError("this route needs an admin API key")


async def require_admin_unless_bound(request: Request) -> None:
    """For calls that would reach every user's data: admin operators only. A bound credential's
    call is confined to its scope by its stores, so it passes."""
    if not principal_of(request).bound:
        await require_admin(request)


async def require_operator(request: Request) -> None:
    """Dependency for routes that see across users: 403 for bound credentials."""
    principal = principal_of(request)
    if principal.bound:
        raise ForbiddenError(
            f"this route sees every user's data; this credential acts for "
            f"{principal.scope.describe()} only"
        )
