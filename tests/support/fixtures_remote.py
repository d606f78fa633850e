"""A memio-server serving the four memory stores, for the `remote` conformance backends.

`remote_server` (session) runs one `python -m memio.server` with an admin key and no rate limit;
the `remote` provider (what `memio.connect` builds) is pointed at it, so the conformance suites
exercise provider -> httpx -> /v1 routes -> scoping -> memory stores, end to end.

Every test wants empty stores, but a reopened store must find its data: `fresh(data_dir)` (as
for the mem0 platform backend) empties the server's four stores the first time it sees a test's
data dir and leaves them alone when the same test builds a second store over that dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.fixtures_mem0_platform import Mem0PlatformServer

ADMIN_KEY = "remote-backend-admin-key"
STORES = ("facts", "history", "documents", "graph")
_WIPE = ("/v1/facts", "/v1/history/sessions", "/v1/documents", "/v1/graph")


@dataclass
class RemoteServer(Mem0PlatformServer):
    api_key: str = ADMIN_KEY

    def _reset(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        for path in _WIPE:
            httpx.delete(f"{self.base_url}{path}", headers=headers, timeout=60).raise_for_status()


@pytest.fixture(scope="session")
def remote_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteServer]:
    from tests.support.server_process import run_server

    config = {
        "data_dir": str(tmp_path_factory.mktemp("remote-server")),
        "auth": {"api_keys": [{"name": "conformance", "key": ADMIN_KEY, "admin": True}]},
        "server": {"rate_limit": {"enabled": False}},
        "stores": {kind: {"provider": "memory"} for kind in STORES},
    }
    with run_server(config) as server:
        yield RemoteServer(base_url=server.base_url)
