"""API-key authentication: who is calling, and may they use admin routes.

Keys arrive in any of the three ways memio's clients send them: ``Authorization: Bearer <key>``
(memio, any HTTP client; the scheme name is case-insensitive), ``Authorization: Token <key>``
(mem0's SDK) and ``X-API-Key: <key>`` (mem0's self-hosted server). Only SHA-256 digests of the
configured keys are held, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from memio.server.config import ApiKey
from memio.server.errors import error_response

__all__ = [
    "ALWAYS_PUBLIC",
    "ApiKeyInfo",
    "AuthMiddleware",
    "KeyRing",
    "presented_key",
    "require_admin",
    "route_path",
]

ALWAYS_PUBLIC = frozenset({"/health"})
_SCHEMES = frozenset({"bearer", "token"})


@dataclass(frozen=True)
class ApiKeyInfo:
    """The authenticated caller, as stored in ``scope["state"]["api_key"]``."""

    name: str
    admin: bool


class KeyRing:
    """The configured keys' digests; `match` compares against all of them in constant time."""

    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys = [
            (bytes.fromhex(key.sha256 or ""), ApiKeyInfo(name=key.name, admin=key.admin))
            for key in keys
        ]

    def match(self, presented: str) -> ApiKeyInfo | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        for stored, info in self._keys:  # no early exit: timing does not say which key matched
            if hmac.compare_digest(stored, digest):
                found = info
        return found


def presented_key(headers: Headers) -> str | None:
    """The key from ``Authorization: Bearer|Token <key>``, else from ``X-API-Key``."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() in _SCHEMES and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key", "").strip() or None


def route_path(scope: Scope) -> str:
    """The request path below the app's mount point (what routes match against)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class AuthMiddleware:
    """401 without a key, 403 with a wrong one; public paths (/health, maybe docs) pass."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: Sequence[ApiKey],
        public_paths: Collection[str] = ALWAYS_PUBLIC,
        public_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.ring = KeyRing(keys)
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = public_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._public(route_path(scope)):
            await self.app(scope, receive, send)
            return
        key = presented_key(Headers(scope=scope))
        if key is None:
            response = error_response(
                scope,
                401,
                "missing API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        info = self.ring.match(key)
        if info is None:
            await error_response(scope, 403, "invalid API key")(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = info
        await self.app(scope, receive, send)

    def _public(self, path: str) -> bool:
        return path in self.public_paths or path.startswith(self.public_prefixes)


async def require_admin(request: Request) -> None:
    """Dependency for admin-only routes: 403 unless the caller used an admin key (auth off:
    everyone may)."""
    if not request.app.state.config.auth_enabled:
        return
    info = request.scope.get("state", {}).get("api_key")
    if not isinstance(info, ApiKeyInfo) or not info.admin:
        raise HTTPException(403, "this route needs an admin API key")
