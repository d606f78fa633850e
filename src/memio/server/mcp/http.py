"""/mcp: the MCP tools over Streamable HTTP, inside the app like any route.

Stateless and JSON-only: every MCP message is one HTTP request answered with one JSON body, so it
passes the app's whole middleware stack (request id, metrics, timeout, authentication, rate limit,
body limit) and its tools act with that request's credential, through the same scoped stores as
the REST routes (`deps.scoped_store`). No MCP session outlives a request: replicas need no shared
session state, and a session can never be carried from one credential to another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from memio.server.auth import principal_of
from memio.server.deps import get_memio, scoped_store
from memio.server.errors import request_id_of
from memio.server.mcp.tools import Caller, build_server

__all__ = ["MCP_PATH", "McpEndpoint"]

MCP_PATH = "/mcp"


def _caller(request: Request) -> Caller:
    return Caller(
        scope=principal_of(request).scope,
        store=lambda kind: scoped_store(request, kind),
        kinds=get_memio(request).stores.keys(),
        request_id=request_id_of(request.scope),
        provider_failed=lambda exc: request.app.state.metrics.provider_error(
            exc.provider, exc.operation
        ),
    )


class McpEndpoint:
    """The ASGI endpoint of /mcp; `running()` must wrap the app's lifetime (its lifespan)."""

    def __init__(self) -> None:
        self._manager = StreamableHTTPSessionManager(
            build_server(_caller), stateless=True, json_response=True
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._manager.handle_request(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self._manager.run():
            yield

    def route(self) -> Route:
        """POST only: a stateless server never sends on its own, so it offers no GET event
        stream (the spec's 405) and has no session to DELETE."""
        return Route(MCP_PATH, endpoint=self, methods=["POST"], include_in_schema=False)
