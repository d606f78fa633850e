"""Prometheus metrics: request counts and latency by route template, provider errors.

Each app has its own registry, so several apps in one process (tests, embedding) never mix their
numbers. Routes are labelled by template (``/v1/facts/{fact_id}``), never by raw path, so label
cardinality stays bounded whatever clients send.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memio.server.asgi import RouteFinder

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

    def summary(self) -> dict[str, list[dict[str, Any]]]:
        """The same numbers as JSON (for clients that read JSON, not Prometheus text): requests
        by method, route and status; answer times (count and total seconds) by method and route;
        provider errors by provider and operation."""
        latency: dict[tuple[str, ...], dict[str, Any]] = {}
        for sample in _samples(self.latency):
            key = (sample.labels["method"], sample.labels["route"])
            entry = latency.setdefault(key, {**sample.labels, "count": 0, "seconds": 0.0})
            if sample.name.endswith("_count"):
                entry["count"] = int(sample.value)
            elif sample.name.endswith("_sum"):
                entry["seconds"] = sample.value
        return {
            "requests": _counts(self.requests),
            "latency": list(latency.values()),
            "provider_errors": _counts(self.provider_errors),
        }


def _samples(metric: Counter | Histogram) -> list[Any]:
    return [sample for family in metric.collect() for sample in family.samples]


def _counts(counter: Counter) -> list[dict[str, Any]]:
    return [
        {**sample.labels, "count": int(sample.value)}
        for sample in _samples(counter)
        if sample.name.endswith("_total")
    ]


class RouteTemplates:
    """Finds the route template of a request, even one refused before routing (401, 413, 429):
    see `memio.server.asgi.RouteFinder`."""

    def __init__(self, routers: Sequence[APIRouter]) -> None:
        self.find = RouteFinder(routers)

    def __call__(self, scope: Scope) -> str:
        return getattr(self.find(scope), "path", None) or "unmatched"


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
