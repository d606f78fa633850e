"""One memio-server process for the MCP tests over HTTP, with an operator and bound keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.server_process import ServerProcess, run_server

OPERATOR = "mcp-operator-key"
KEYS = {
    "alice": "mcp-alice-key",
    "bob": "mcp-bob-key",
    "walker": "mcp-walker-key",
    "docs": "mcp-docs-key",
}
MAX_BODY = 64 * 1024


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = {
        "data_dir": str(tmp_path_factory.mktemp("mcp-data")),
        "auth": {
            "api_keys": [
                {"name": "operator", "key": OPERATOR, "admin": True},
                *({"name": user, "key": key, "user_id": user} for user, key in KEYS.items()),
            ]
        },
        "server": {
            "limits": {"max_body_bytes": MAX_BODY},
            "rate_limit": {"limits": ["100000/minute"]},  # the walk sends many calls
        },
    }
    with run_server(config) as server:
        yield server
