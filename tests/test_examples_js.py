"""`examples/js/quickstart.mjs` runs under real Node.js against a live memio-server.

The server uses the embedded profile (the defaults a user gets: chroma, sqlite, chroma,
networkx) with auth on and an ordinary (non-admin) key, which the example reads from
MEMIO_API_KEY, as the documentation tells users to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.profiles import PROFILES, profile_by_name, server_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "js" / "quickstart.mjs"
KEY = "js-example-key"

pytestmark = pytest.mark.node


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        message = "node is not installed (the JS example needs Node.js 18+)"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return node


@pytest.fixture(scope="module")
def embedded_server(request, tmp_path_factory) -> Iterator[str]:
    from tests.support.server_process import run_server

    profile = profile_by_name("embedded") or PROFILES[0]
    auth = {"api_keys": [{"name": "js", "key": KEY}]}
    config = server_config(profile, request, tmp_path_factory, auth=auth)
    with run_server(config) as server:
        yield server.base_url


def run_example(node: str, base_url: str, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMIO_")}
    env["MEMIO_URL"] = base_url
    if key is not None:
        env["MEMIO_API_KEY"] = key
    return subprocess.run(
        [node, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_quickstart_runs_and_its_checks_pass(embedded_server):
    result = run_example(_node(), embedded_server, KEY)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.stdout.rstrip().endswith("ok")


def test_quickstart_runs_again_against_the_same_data(embedded_server):
    result = run_example(_node(), embedded_server, KEY)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_quickstart_fails_loudly_without_the_key(embedded_server):
    result = run_example(_node(), embedded_server, None)
    assert result.returncode != 0
    assert "401" in result.stderr
