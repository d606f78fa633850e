"""`memio mcp` over stdio, driven by the official client: a real `memio` subprocess on the
embedded stores of a config file, holding their lock like a server; what it wrote is then served
by memio-server over REST."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import yaml

from memio.server.mcp.tools import TOOLS
from tests.mcp.session import MEMIO, call, error_of, exercise_every_tool, stdio_session
from tests.support.server_process import free_port, run_server, server_env


def write_config(where: Path, **config: object) -> Path:
    path = where / "memio-server.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(where / "data"), **config}))
    return path


async def test_every_tool_over_stdio_on_the_data_the_server_then_serves(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    args = ["mcp", "--config", str(config), "--user-id", "dora"]
    async with stdio_session(MEMIO, args, tmp_path) as session:
        assert {tool.name for tool in (await session.list_tools()).tools} == set(TOOLS)
        assert await exercise_every_tool(session, None) == set(TOOLS)
        kept = (await call(session, "add_memories", text="dora keeps bees"))["memories"][0]
        assert kept["user_id"] == "dora"
        named = await error_of(await session.call_tool("list_memories", {"user_id": "eve"}))
        assert (named["status"], named["error"]) == (403, "forbidden")
        # the data directory is held: a server on it refuses to start, naming the holder
        server = await anyio.run_process(
            [sys.executable, "-m", "memio.server", "--config", str(config),
             "--port", str(free_port())],
            env=server_env(), cwd=tmp_path, check=False,
        )  # fmt: skip
        assert server.returncode == 1, server.stderr
        assert b"cannot serve this data" in server.stderr
    async with stdio_session(MEMIO, ["mcp", "--config", str(config)], tmp_path) as operator:
        error = await error_of(await operator.call_tool("list_memories", {}))
        assert error["detail"].startswith("user_id: required")
        listed = await call(operator, "list_memories", user_id="dora")
        assert [m["content"] for m in listed["memories"]] == ["dora keeps bees"]
    facts = await asyncio.to_thread(served_facts, config, "dora")
    assert [f["content"] for f in facts] == ["dora keeps bees"]


def served_facts(config: Path, user_id: str) -> list[dict[str, object]]:
    """The user's facts as memio-server serves them on `config` over REST."""
    with run_server(config) as running:
        return httpx.get(f"{running.base_url}/v1/facts", params={"user_id": user_id}).json()


async def test_tools_of_a_store_not_configured(tmp_path: Path) -> None:
    config = write_config(tmp_path, stores={"facts": {"provider": "memory"}})
    args = ["mcp", "--config", str(config), "--user-id", "dora"]
    async with stdio_session(MEMIO, args, tmp_path) as session:
        listed = {tool.name for tool in (await session.list_tools()).tools}
        error = await error_of(await session.call_tool("add_document", {"content": "x"}))
    assert listed == {name for name, tool in TOOLS.items() if tool.store == "facts"}
    assert (error["status"], error["error"]) == (501, "not_supported")
    assert "documents" in error["detail"]


def test_a_bad_config_ends_with_status_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, stores={"facts": {"provider": "chromaa"}})
    done = subprocess.run(
        [MEMIO, "mcp", "--config", str(config)],
        env=server_env(), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2
    assert "memio mcp: invalid configuration" in done.stderr
    assert "stores.facts.provider" in done.stderr


def test_the_memio_command_needs_a_subcommand() -> None:
    done = subprocess.run([MEMIO], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "mcp" in done.stderr
