"""Small facts about an ASGI request that several middleware need."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Scope

__all__ = [
    "ALWAYS_PUBLIC",
    "RouteFinder",
    "allowed_methods",
    "client_address",
    "matching_route",
    "route_path",
]

# Paths that answer without a credential and are never rate limited (liveness probes).
ALWAYS_PUBLIC = frozenset({"/health", "/v1/health"})


def route_path(scope: Scope) -> str:
    """The request path below the app's mount point (what routes match against)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def matching_route(scope: Scope, routes: Iterable[BaseRoute]) -> BaseRoute | None:
    """The route the router would pick for this request: the first full match, else the first
    whose path matches with another method (answered 405), else None. For middleware that acts
    before routing."""
    partial = None
    for route in routes:
        match = route.matches(scope)[0]
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial


class RouteFinder:
    """The route a request is for, even one refused before routing (401, 413, 429): the route it
    was routed to, else the one the app's own routes and its routers' routes would pick."""

    def __init__(self, routers: Sequence[Router]) -> None:
        self.routers = routers

    def __call__(self, scope: Scope) -> BaseRoute | None:
        route = scope.get("route")
        if route is not None:
            return route
        return matching_route(scope, self.routes(scope))

    def routes(self, scope: Scope) -> list[BaseRoute]:
        """Every route with its full path: the app's own, then its routers' (FastAPI 0.165 nests
        included routers as `_IncludedRouter`, so the app's list alone does not hold them)."""
        candidates = chain(scope["app"].router.routes, *(router.routes for router in self.routers))
        return [c for c in candidates if hasattr(c, "path")]


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods of the path a request names, for a 405's ``Allow`` header.

    Starlette answers 405 from the first route whose path matches, so its ``Allow`` names that
    route's methods only, and FastAPI makes one route per method: a path served by GET and POST
    advertised one of them. Here: every method of the routes sharing the path template the router
    dispatches to first (``/v1/facts/search``, not also ``/v1/facts/{fact_id}``), documented
    routes first (a hidden alias or refusal, such as ``POST /configure``, is not advertised)."""
    matching = [
        route
        for route in routes
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] is not Match.NONE
    ]
    documented = [route for route in matching if getattr(route, "include_in_schema", True)]
    candidates = documented or matching
    if not candidates:
        return []
    template = candidates[0].path_format
    return sorted(
        {m for route in candidates if route.path_format == template for m in route.methods}
    )


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"
