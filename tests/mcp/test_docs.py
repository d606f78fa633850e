"""docs/mcp.md's client configurations, run as pasted (only the placeholders replaced): the
desktop agent's stdio command line, the HTTP client's URL and header, the Python client."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import yaml
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.mcp.conftest import KEYS
from tests.mcp.session import MEMIO, call, stdio_session
from tests.support.server_process import ServerProcess

DOC = (Path(__file__).parents[2] / "docs" / "mcp.md").read_text()
DOC_URL = "http://127.0.0.1:8080"
DOC_KEY = "YOUR_MEMIO_KEY"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC, flags=re.S | re.M)


def configured(kind: str) -> dict[str, Any]:
    """The `memio` entry of the `mcpServers` snippet that has `kind` (command or url)."""
    entries = [json.loads(block)["mcpServers"]["memio"] for block in blocks("json")
               if '"mcpServers"' in block]  # fmt: skip
    [entry] = [entry for entry in entries if kind in entry]
    return entry


async def test_the_desktop_agent_snippet(tmp_path: Path) -> None:
    entry = configured("command")
    assert entry["command"] == "memio" and Path(MEMIO).name == "memio"
    config = tmp_path / "memio-server.yaml"
    config.write_text(yaml.safe_dump({"stores": {"facts": {"provider": "memory"}}}))
    args = [str(config) if arg == "/path/to/memio-server.yaml" else arg for arg in entry["args"]]
    async with stdio_session(MEMIO, args, tmp_path) as session:
        stored = await call(session, "add_memories", text="likes the docs")
    assert stored["memories"][0]["user_id"] == entry["args"][-1]


async def test_the_http_snippet(server: ServerProcess) -> None:
    entry = configured("url")
    assert entry["type"] == "http"
    url = entry["url"].replace(DOC_URL, server.base_url)
    headers = {
        name: value.replace(DOC_KEY, KEYS["docs"]) for name, value in entry["headers"].items()
    }
    async with (
        httpx.AsyncClient(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        stored = await call(session, "add_memories", text="from the http snippet")
    assert stored["memories"][0]["user_id"] == "docs"


async def test_the_python_snippet(server: ServerProcess) -> None:
    [code] = blocks("python")
    code = code.replace(DOC_URL, server.base_url).replace(DOC_KEY, KEYS["docs"])
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    await namespace["remember"]("from the python snippet")
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        facts = await client.get("/v1/facts", headers={"X-API-Key": KEYS["docs"]})
    assert "from the python snippet" in [fact["content"] for fact in facts.json()]


def test_the_error_example_is_the_error_body() -> None:
    example = json.loads(next(block for block in blocks("json") if '"error"' in block))
    assert set(example) == {"error", "status", "detail", "provider", "operation", "request_id"}
