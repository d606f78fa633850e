"""MCP over Streamable HTTP at /mcp of a real memio-server process, driven by the official client:
every tool, the same data as REST, authentication and tenancy, and the server's middleware."""

from __future__ import annotations

import json
from typing import Any

import httpx

from memio.server.mcp.tools import TOOLS
from tests.mcp.conftest import KEYS, MAX_BODY, OPERATOR
from tests.mcp.session import call, error_of, exercise_every_tool, http_session
from tests.support.server_process import ServerProcess


def url(server: ServerProcess) -> str:
    return f"{server.base_url}/mcp"


def rest(server: ServerProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}, timeout=60)


def rpc(server: ServerProcess, key: str | None, method: str, **params: Any) -> httpx.Response:
    """One raw JSON-RPC message to /mcp (stateless: no initialize needed)."""
    headers = {"Accept": "application/json, text/event-stream"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return httpx.post(url(server), json=body, headers=headers, timeout=60)


async def test_lists_every_tool_with_a_description_and_schemas(server: ServerProcess) -> None:
    async with http_session(url(server), KEYS["alice"]) as session:
        tools = (await session.list_tools()).tools
    assert {tool.name for tool in tools} == set(TOOLS)
    openmemory = {"add_memories", "search_memory", "list_memories", "delete_memories"}
    assert openmemory | {"delete_all_memories"} <= set(TOOLS)
    for tool in tools:
        assert tool.description and len(tool.description) > 30, tool.name
        assert tool.inputSchema["type"] == "object"
        assert tool.inputSchema["additionalProperties"] is False
        assert tool.outputSchema is not None and tool.outputSchema["type"] == "object"
        assert tool.annotations is not None
        assert tool.annotations.readOnlyHint == tool.name.startswith(("search", "list", "get"))
        assert tool.annotations.destructiveHint == tool.name.startswith("delete")
    schemas = {tool.name: tool.inputSchema for tool in tools}
    assert list(schemas["add_memories"]["properties"]) == ["text", "user_id"]
    assert schemas["add_memories"]["required"] == ["text"]
    assert schemas["search_memory"]["required"] == ["query"]
    assert schemas["delete_memories"]["required"] == ["memory_ids"]
    assert "required" not in schemas["list_memories"]


async def test_a_bound_key_calls_every_tool_on_the_data_rest_sees(server: ServerProcess) -> None:
    async with http_session(url(server), KEYS["walker"]) as session:
        called = await exercise_every_tool(session, lambda: rest(server, KEYS["walker"]))
    assert called == set(TOOLS)


async def test_an_operator_calls_every_tool_for_the_user_it_names(server: ServerProcess) -> None:
    async with http_session(url(server), OPERATOR) as session:
        called = await exercise_every_tool(session, lambda: rest(server, OPERATOR), user_id="carol")
    assert called == set(TOOLS)


async def test_an_operator_must_name_the_user(server: ServerProcess) -> None:
    async with http_session(url(server), OPERATOR) as session:
        for tool, arguments in {"add_memories": {"text": "x"}, "list_memories": {}}.items():
            error = await error_of(await session.call_tool(tool, arguments))
            assert error["status"] == 400 and error["error"] == "invalid_request"
            assert error["detail"].startswith("user_id: required"), error
    with rest(server, OPERATOR) as client:
        assert "x" not in [f["content"] for f in client.get("/v1/facts").json()]


async def test_bound_keys_never_see_each_others_memories(server: ServerProcess) -> None:
    async with http_session(url(server), KEYS["alice"]) as alice:
        secret = (await call(alice, "add_memories", text="alice's secret plan"))["memories"][0]
    assert secret["user_id"] == "alice"
    async with http_session(url(server), KEYS["bob"]) as bob:
        assert (await call(bob, "list_memories"))["memories"] == []
        assert (await call(bob, "search_memory", query="secret plan"))["memories"] == []
        assert await call(bob, "delete_memories", memory_ids=[secret["id"]]) == {"deleted": 0}
        assert await call(bob, "delete_all_memories") == {"deleted": 0}
        named = await bob.call_tool("list_memories", {"user_id": "alice"})
        error = await error_of(named)
        assert error["status"] == 403
        assert error["detail"] == "user_id: this credential acts for user_id 'bob' only"
    async with http_session(url(server), OPERATOR) as operator:  # naming bob: not alice's either
        assert await call(
            operator, "delete_memories", memory_ids=[secret["id"]], user_id="bob"
        ) == {"deleted": 0}
    with rest(server, KEYS["alice"]) as client:
        assert client.get(f"/v1/facts/{secret['id']}").status_code == 200


def test_refused_without_a_valid_key(server: ServerProcess) -> None:
    missing = rpc(server, None, "tools/list")
    assert missing.status_code == 401
    assert missing.json()["detail"].startswith("missing API key")
    assert rpc(server, "not-a-key", "tools/list").status_code == 403


async def test_errors_carry_the_rest_apis_detail(server: ServerProcess) -> None:
    async with http_session(url(server), KEYS["alice"]) as session:
        missing = await error_of(await session.call_tool("get_document", {"doc_id": "nope"}))
        unknown = await error_of(await session.call_tool("add_memories", {"text": "x", "y": 1}))
        empty = await error_of(await session.call_tool("add_memories", {"text": ""}))
        no_tool = await error_of(await session.call_tool("forget_everything", {}))
    with rest(server, KEYS["alice"]) as client:
        assert client.get("/v1/documents/nope").json()["detail"] == missing["detail"]
    assert (missing["status"], missing["error"]) == (404, "not_found")
    assert (unknown["status"], unknown["detail"]) == (422, "y: Extra inputs are not permitted")
    assert empty["status"] == 422 and empty["detail"].startswith("text: ")
    assert (no_tool["status"], no_tool["detail"]) == (400, "name: no tool 'forget_everything' "
                                                           "on this server")  # fmt: skip
    assert "Traceback" not in json.dumps([missing, unknown, empty, no_tool])


def test_the_middleware_applies_to_mcp(server: ServerProcess) -> None:
    answer = rpc(
        server, KEYS["alice"], "tools/call", name="get_document", arguments={"doc_id": "x"}
    )
    assert answer.status_code == 200
    request_id = answer.headers["X-Request-ID"]
    assert answer.json()["result"]["structuredContent"]["request_id"] == request_id
    too_big = rpc(server, KEYS["alice"], "tools/call", name="add_memories",
                  arguments={"text": "x" * MAX_BODY})  # fmt: skip
    assert too_big.status_code == 413
    assert too_big.json()["detail"] == f"request body exceeds the limit of {MAX_BODY} bytes"
    with rest(server, OPERATOR) as client:
        metrics = client.get("/metrics").text
    assert 'memio_http_requests_total{method="POST",route="/mcp",status="200"}' in metrics
    assert 'route="/mcp",status="413"' in metrics
