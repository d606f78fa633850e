"""The /v1 store routers of the memio REST server (memio 0.3.1 routes plus additions)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["all_routers"]


def all_routers() -> list[APIRouter]:
    """The /v1 routers: facts, history, documents, graph, keys; then the mem0 dialects (platform,
    self-hosted and local-first APIs, all over the facts store)."""
    from memio.server.mem0_api import routers as mem0_routers
    from memio.server.routers import documents, facts, graph, history, keys

    return [
        facts.router,
        history.router,
        documents.router,
        graph.router,
        keys.router,
        *mem0_routers(),
    ]
