"""`memio mcp`: the MCP tools over stdio, for desktop agents that start memio themselves.

The process opens the configured stores itself, taking the data directory's lock like a server
(`app.claim_data`), so it cannot run beside a server on the same embedded data: point both at
shared stores (PostgreSQL, a Chroma server), or let the agent use the server's /mcp instead. It
acts as the user given with ``--user-id`` (as a credential bound to that user would), else as an
operator, which names the user in every call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mcp.server.stdio import stdio_server

from memio.client import Memio
from memio.config import ServerConfig
from memio.pagination import use_cursor_secret
from memio.protocols import Embedder
from memio.scoping import Scope, confine
from memio.server.cursor_secret import cursor_secret
from memio.server.mcp.tools import Caller, build_server

__all__ = ["serve_stdio"]


async def serve_stdio(
    config: ServerConfig, stores: Memio, embedder: Embedder, scope: Scope
) -> None:
    """Serve until the client closes stdin; the stores are closed at the end, whatever happens."""
    from memio.server.app import claim_data

    try:
        await claim_data(stores)
        use_cursor_secret(await asyncio.to_thread(cursor_secret, config))

        def store(kind: str) -> Any:
            return confine(kind, getattr(stores, kind), scope)

        caller = Caller(scope=scope, store=store, kinds=stores.stores.keys())
        server = build_server(lambda _request: caller)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        try:
            await stores.aclose()
        finally:
            await embedder.aclose()
