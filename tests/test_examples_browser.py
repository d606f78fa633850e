"""`examples/browser/`: an app backend signs tokens, a page calls memio with them through fetch().

Real processes: memio-server with the example's own config, the example's backend under Node.js,
and the page's calls (client.mjs) under Node.js with the page's Origin, as a browser sends them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server_process import free_port, run_server
from tests.test_examples_js import _node

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "browser"

pytestmark = pytest.mark.node


def test_browser_example(tmp_path):
    node = _node()
    secret = secrets.token_hex(32)
    app_port = free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    env = {
        "MEMIO_JWT_SECRET": secret,
        "MEMIO_APP_ORIGIN": app_url,
        "MEMIO_DATA_DIR": str(tmp_path / "data"),
    }
    with run_server(EXAMPLE / "memio-server.yaml", env=env) as server:
        node_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MEMIO_")},
            "MEMIO_JWT_SECRET": secret,
            "MEMIO_URL": server.base_url,
            "PORT": str(app_port),
            "APP_URL": app_url,
        }
        backend = subprocess.Popen(
            [node, str(EXAMPLE / "backend.mjs")],
            env=node_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            _wait_for(f"{app_url}/", backend)
            page = httpx.get(f"{app_url}/")
            assert "memio-client.mjs" in page.text
            result = subprocess.run(
                [node, str(EXAMPLE / "client.mjs")],
                env=node_env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            assert result.stdout.rstrip().endswith("ok")
        finally:
            backend.terminate()
            backend.wait(timeout=10)


def _wait_for(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the example backend exited: {process.stdout.read()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"the example backend did not answer at {url}")
