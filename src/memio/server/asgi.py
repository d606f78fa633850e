"""Small facts about an ASGI request that several middleware need."""

from __future__ import annotations

from starlette.types import Scope

__all__ = ["ALWAYS_PUBLIC", "client_address", "route_path"]

# Paths that answer without a credential and are never rate limited (liveness probes).
ALWAYS_PUBLIC = frozenset({"/health"})


def route_path(scope: Scope) -> str:
    """The request path below the app's mount point (what routes match against)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"
