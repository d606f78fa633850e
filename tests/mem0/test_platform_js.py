"""The npm `mem0ai` SDK (3.x, pinned by tests/mem0/js/package-lock.json) under real `node`, against
a real memio-server for each facts provider.

The SDK is installed with ``npm ci`` into tests/mem0/js/node_modules when it is missing (the
directory is gitignored). Without node or npm the test is skipped, except under ``CI=true``,
where it fails: CI must exercise the JavaScript client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.mem0.conftest import APP_KEY, Mem0Server
from tests.support.ci import unavailable

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "roundtrip.mjs"

pytestmark = pytest.mark.node


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(name, f"{name} is not installed (the npm mem0ai SDK test needs node and npm)")
    return path


@pytest.fixture(scope="session")
def node_sdk() -> str:
    """The node executable, with the pinned mem0ai SDK installed next to the script."""
    node = _tool("node")
    npm = _tool("npm")
    if not (JS_DIR / "node_modules" / "mem0ai" / "package.json").is_file():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    installed = json.loads((JS_DIR / "node_modules" / "mem0ai" / "package.json").read_text())
    assert installed["version"].startswith("3."), installed["version"]
    return node


def test_npm_sdk_round_trips(node_sdk: str, mem0_server: Mem0Server, uid: str, tmp_path) -> None:
    env = {
        **os.environ,
        "MEMIO_URL": mem0_server.base_url,
        "MEMIO_API_KEY": APP_KEY,
        "MEMIO_USER_ID": uid,
        "MEM0_TELEMETRY": "false",  # the npm SDK only recognises lower-case "false"
        "MEM0_DIR": str(tmp_path / "mem0-js"),
    }
    done = subprocess.run(
        [node_sdk, str(SCRIPT)],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"node failed:\n{done.stdout}\n{done.stderr}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary == {"ok": True, "added": 2, "searched": 1, "history": 2}
