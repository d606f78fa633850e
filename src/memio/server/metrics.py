"""Prometheus metrics: request counts and latency by route template, provider errors.

Each app has its own registry, so several apps in one process (tests, embedding) never mix their
numbers. Routes are labelled by template (``/v1/facts/{fact_id}``), never by raw path, so label
cardinality stays bounded whatever clients send.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import chain

from fastapi import APIRouter
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware", "RouteTemplates"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "memio_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "memio_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "memio_provider_errors",
            "Backend failures (ProviderError), by provider and operation",
            ["provider", "operation"],
            registry=self.registry,
        )

    def provider_error(self, provider: str, operation: str) -> None:
        self.provider_errors.labels(provider=provider, operation=operation).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RouteTemplates:
    """Finds the route template of a request, even one refused before routing (401, 413, 429).

    Routed requests carry their route in the scope. For the others the app's own routes (docs,
    static assets) and the routes of its routers are matched like the router would.
    """

    def __init__(self, routers: Sequence[APIRouter]) -> None:
        self.routers = routers

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            candidates = chain(
                scope["app"].router.routes, *(router.routes for router in self.routers)
            )
            partial = None
            for candidate in candidates:
                if not hasattr(candidate, "path"):
                    continue
                match = candidate.matches(scope)[0]
                if match is Match.FULL:
                    route = candidate
                    break
                if match is Match.PARTIAL and partial is None:
                    partial = candidate
            route = route or partial
        return getattr(route, "path", None) or "unmatched"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, routers: Sequence[APIRouter]) -> None:
        self.app = app
        self.metrics = metrics
        self.route_template = RouteTemplates(routers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            route = self.route_template(scope)
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(
                time.perf_counter() - start
            )
