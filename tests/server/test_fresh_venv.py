"""A fresh clone works: `pip install .` into a new virtualenv, then `memio-server` serves (REST
and /mcp) and the `memio` command runs.

This catches what the development venv hides: a dependency missing from pyproject, package data
not shipped, an import of something only installed by hand. It installs everything (minutes), so
it runs only when asked, as its own CI step:

    MEMIO_FRESH_VENV=1 python -m pytest tests/server/test_fresh_venv.py -q

pip uses its normal configuration (index, find-links, cache); nothing else is downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.server_process import run_server, server_env

REPO = Path(__file__).parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("MEMIO_FRESH_VENV") != "1",
    reason="installs memio into a new virtualenv; set MEMIO_FRESH_VENV=1 to run",
)


def test_memio_server_from_a_fresh_virtualenv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(REPO)],
        env=server_env({"PIP_DISABLE_PIP_VERSION_CHECK": "1"}),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    script = venv / "bin" / "memio-server"
    data = tmp_path / "data"
    with run_server(
        REPO / "memio-server.yaml", command=[str(script)], env={"MEMIO_DATA_DIR": str(data)}
    ) as server:
        health = httpx.get(f"{server.base_url}/health")
        assert health.json() == {
            "status": "ok",
            "stores": {"facts": True, "history": True, "documents": True, "graph": True},
        }
        docs = httpx.get(f"{server.base_url}/docs")
        assert docs.status_code == 200 and "/static-offline-docs/swagger-ui-bundle.js" in docs.text
        ready = httpx.get(f"{server.base_url}/ready", timeout=300)
        assert ready.status_code == 200, ready.text
        tools = httpx.post(
            f"{server.base_url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
        assert "add_memories" in tools.text, tools.text
    assert subprocess.run([str(venv / "bin" / "memio"), "mcp", "--help"]).returncode == 0
    assert str(venv) in (venv / "bin" / "memio-server").read_text().splitlines()[0]
