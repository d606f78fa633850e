"""/mcp in the app: POST only; a provider error is a tool error naming provider and operation
(counted in /metrics like a REST 502), a slow call is the server's 504, nothing leaks a
traceback."""

from __future__ import annotations

import asyncio
from typing import Any

from memio.client import Memio
from memio.errors import ProviderError
from memio.providers.base import Provider
from tests.server.conftest import Serve

RPC_HEADERS = {"Accept": "application/json, text/event-stream"}


class BrokenFacts(Provider):
    """A facts provider whose search fails (`error`) or takes `delay` seconds."""

    provider = "broken"

    @classmethod
    def from_config(cls, config: Any, context: Any) -> BrokenFacts:
        return cls()

    def __init__(self, *, error: Exception | None = None, delay: float = 0.0) -> None:
        self.error = error
        self.delay = delay

    async def search(self, *, request: Any) -> list[Any]:
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return []

    async def ping(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def search(client: Any) -> Any:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "search_memory", "arguments": {"query": "q", "user_id": "u"}},
    }
    return client.post("/mcp", json=body, headers=RPC_HEADERS)


def test_only_post(serve: Serve) -> None:
    client = serve({}, memio=Memio())
    for method in ("GET", "DELETE", "PUT"):
        answer = client.request(method, "/mcp", headers=RPC_HEADERS)
        assert answer.status_code == 405
        assert answer.json()["detail"] == f"{method} /mcp is not allowed (allowed: POST)"
    assert search(client).status_code == 200


def test_a_provider_error_is_a_tool_error_naming_provider_and_operation(serve: Serve) -> None:
    down = ProviderError("connection refused", provider="broken", operation="search")
    client = serve({}, memio=Memio(facts=BrokenFacts(error=down)))
    answer = search(client)
    result = answer.json()["result"]
    assert result["isError"] is True
    assert result["structuredContent"] == {
        "error": "provider_error",
        "status": 502,
        "detail": "broken.search failed: connection refused",
        "provider": "broken",
        "operation": "search",
        "request_id": answer.headers["X-Request-ID"],
    }
    metrics = client.get("/metrics").text
    assert 'memio_provider_errors_total{operation="search",provider="broken"} 1.0' in metrics


def test_a_bug_is_a_tool_error_without_internals(serve: Serve) -> None:
    client = serve({}, memio=Memio(facts=BrokenFacts(error=RuntimeError("secret-token-123"))))
    answer = search(client)
    error = answer.json()["result"]["structuredContent"]
    assert (error["status"], error["error"]) == (500, "internal_error")
    assert "secret-token-123" not in answer.text and "Traceback" not in answer.text


def test_a_slow_call_is_the_servers_504(serve: Serve) -> None:
    client = serve(
        {"server": {"limits": {"request_timeout_seconds": 0.2}}},
        memio=Memio(facts=BrokenFacts(delay=3)),
    )
    answer = search(client)
    assert answer.status_code == 504
    assert answer.json()["detail"] == "request took longer than 0.2 s"
