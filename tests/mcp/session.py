"""Official `mcp` client sessions on both transports, and a walk that calls every tool.

`exercise_every_tool` calls each tool once through an MCP session and checks what it stored (or
read) against the REST API of a server on the same data: the two must agree both ways.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from tests.support.server_process import server_env

__all__ = ["MEMIO", "call", "exercise_every_tool", "http_session", "stdio_session"]

# the `memio` console script of this environment
MEMIO = str(Path(sys.executable).with_name("memio"))


@asynccontextmanager
async def http_session(url: str, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=60) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(
    command: str, args: Sequence[str], cwd: Path
) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=command, args=list(args), env=server_env(), cwd=cwd)
    with (cwd / "stdio-stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result; fails the test on a tool error."""
    result = await session.call_tool(tool, arguments)
    assert not result.isError, f"{tool}: {result.content}"
    assert result.structuredContent is not None
    assert result.content and result.content[0].type == "text"
    return result.structuredContent


async def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.isError, result
    assert result.structuredContent is not None
    return result.structuredContent


async def exercise_every_tool(
    session: ClientSession, rest: Callable[[], httpx.Client] | None, **scope: str
) -> set[str]:
    """Call every tool once (`scope`: `user_id` for an operator). `rest()` opens a REST client on
    the same data acting for the same user, to check that both see the same items (None: the
    stdio server holds the data; its writes are checked over REST once it has exited)."""
    tag = uuid.uuid4().hex[:8]
    called: set[str] = set()

    async def run(tool: str, **arguments: Any) -> dict[str, Any]:
        called.add(tool)
        return await call(session, tool, **arguments, **scope)

    added = (await run("add_memories", text=f"prefers green tea {tag}"))["memories"][0]
    doc = await run("add_document", content=f"the tea guide {tag}", doc_id=f"d-{tag}")
    session_id = f"s-{tag}"
    said = f"I brew oolong {tag}"
    await run("add_messages", session_id=session_id, messages=[{"role": "user", "content": said}])
    entity = f"e-{tag}"
    await run("add_triples", triples=[{"subject": entity, "predicate": "likes", "object": "tea"}])
    other_fact, other_doc = f"another fact {tag}", f"another doc {tag}"
    if rest is None:
        await run("add_memories", text=other_fact)
        other_doc_id = (await run("add_document", content=other_doc))["id"]
    else:  # what MCP wrote is there over REST, and what REST writes is there over MCP
        with rest() as client:
            assert client.get(f"/v1/facts/{added['id']}").json()["content"] == added["content"]
            assert client.get(f"/v1/documents/{doc['id']}").json()["content"] == doc["content"]
            messages = client.get(f"/v1/history/sessions/{session_id}/messages").json()
            assert [m["content"] for m in messages] == [said]
            graph = client.get(f"/v1/graph/entities/{entity}", params=scope).json()
            assert [t["object"] for t in graph["triples"]] == ["tea"]
            client.post("/v1/facts", json={"content": other_fact, **scope}).raise_for_status()
            posted = client.post("/v1/documents", json={"content": other_doc, **scope})
            other_doc_id = posted.raise_for_status().json()["id"]
    listed = (await run("list_memories", limit=1000))["memories"]
    assert {added["content"], other_fact} <= {m["content"] for m in listed}
    found = (await run("search_memory", query="green tea"))["memories"]
    assert added["id"] in [m["id"] for m in found]
    assert (await run("get_document", doc_id=other_doc_id))["content"] == other_doc
    found = (await run("search_documents", query="tea guide"))["documents"]
    assert doc["id"] in [d["id"] for d in found]
    read = (await run("get_session", session_id=session_id))["messages"]
    assert [m["content"] for m in read] == [said]
    found = (await run("search_history", session_id=session_id, query="oolong"))["messages"]
    assert [m["content"] for m in found] == [said]
    neighbourhood = await run("get_entity", entity=entity)
    assert [t["object"] for t in neighbourhood["triples"]] == ["tea"]
    found = await run("search_graph", query=f"{entity} likes tea")
    assert entity in [t["subject"] for t in found["triples"]]
    assert await run("delete_memories", memory_ids=[added["id"]]) == {"deleted": 1}
    listed = (await run("list_memories"))["memories"]
    assert [m["content"] for m in listed] == [other_fact]
    if rest is not None:
        with rest() as client:
            assert client.get(f"/v1/facts/{added['id']}").status_code == 404
    assert await run("delete_all_memories") == {"deleted": 1}
    assert (await run("list_memories"))["memories"] == []
    if rest is not None:
        with rest() as client:
            assert client.get("/v1/facts", params=scope).json() == []
    return called
