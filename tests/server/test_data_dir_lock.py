"""One memio process per embedded data directory, end to end with real processes.

A second memio-server on the same data_dir, or the README's `Memio.local("./memio-data")` while
the README's server runs, used to open the same Chroma directory and corrupt it (fact search then
answered 502 "Error finding id"). Now the second opener fails at once, naming the holder's pid
and what to do, and the first carries on unharmed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from memio import Memio
from memio.providers.shared import DataLockedError
from tests.support.server_process import free_port, run_server, server_env


def _config(data_dir: Path) -> dict:
    return {"data_dir": str(data_dir), "server": {"rate_limit": {"enabled": False}}}


async def _library_is_refused(data_dir: Path, embedder, holder: str) -> None:
    """The README's Python snippet against the server's data_dir."""
    async with Memio.local(data_dir, embedder=embedder) as library:
        for call in (
            lambda: library.facts.search(query="tea", user_id="u"),
            lambda: library.history.get_all(),
            lambda: library.graph.get_all(),
        ):
            with pytest.raises(DataLockedError) as exc:
                await call()
            assert holder in str(exc.value) and "data_dir" in str(exc.value)


def test_a_second_opener_of_the_data_dir_fails_at_once(tmp_path: Path, embedder) -> None:
    data_dir = tmp_path / "memio-data"
    with run_server(_config(data_dir)) as first:
        base = first.base_url
        fact = httpx.post(f"{base}/v1/facts", json={"content": "likes tea", "user_id": "u"})
        assert fact.status_code == 201, fact.text
        holder = f"pid {first.process.pid}"

        config_path = tmp_path / "second.yaml"
        config_path.write_text(yaml.safe_dump(_config(data_dir)))
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "memio.server",
                "--config",
                str(config_path),
                "--port",
                str(free_port()),
            ],
            cwd=tmp_path,
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1, second.stderr
        assert holder in second.stderr and "stop that process" in second.stderr
        assert "Traceback" not in second.stderr

        asyncio.run(_library_is_refused(data_dir, embedder, holder))

        found = httpx.post(f"{base}/v1/facts/search", json={"query": "tea", "user_id": "u"})
        assert found.status_code == 200, found.text
        assert [f["id"] for f in found.json()] == [fact.json()["id"]]
        ready = httpx.get(f"{base}/ready").json()
        assert ready["status"] == "ready", ready
