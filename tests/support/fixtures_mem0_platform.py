"""A memio-server speaking mem0's platform dialect, for the `mem0-platform` conformance backend.

`mem0_platform_server` (session) runs one `python -m memio.server` whose facts store is the
memory provider, with an admin key and no rate limit. The `mem0` provider in `mode: platform`
(mem0's own AsyncMemoryClient inside memio) is pointed at it, so the conformance suites exercise
provider -> mem0 SDK -> HTTP -> memio's platform dialect -> facts store, end to end.

Every test wants an empty store, but a reopened store must find its data: `fresh(data_dir)`
resets the server's facts (POST /reset, admin key) the first time it sees a test's data dir and
leaves them alone when the same test builds a second store over that dir.

The mem0 provider refuses, by design, what the platform cannot store: facts with no entity id and
caller-chosen fact ids (NotSupportedError, 501 over HTTP). The backend declares both (its
`default_scope` and `cannot={"fact_ids", ...}`); the suites give unscoped writes that scope and
check the refusal of caller-chosen ids, so every test runs and must pass on this profile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ADMIN_KEY = "mem0-platform-backend-admin-key"


@dataclass
class Mem0PlatformServer:
    base_url: str
    api_key: str = ADMIN_KEY
    _seen: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh(self, data_dir: Path | str) -> None:
        """Empty the server's facts store, once per test data dir."""
        key = str(Path(data_dir))
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        self._reset()

    def _reset(self) -> None:
        response = httpx.post(
            f"{self.base_url}/reset", headers={"X-API-Key": self.api_key}, timeout=60
        )
        response.raise_for_status()


@pytest.fixture(scope="session")
def mem0_platform_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mem0PlatformServer]:
    from tests.support.server_process import run_server

    config = {
        "data_dir": str(tmp_path_factory.mktemp("mem0-platform-server")),
        "auth": {"api_keys": [{"name": "conformance", "key": ADMIN_KEY, "admin": True}]},
        "server": {"rate_limit": {"enabled": False}},
        "stores": {"facts": {"provider": "memory"}},
    }
    with run_server(config) as server:
        yield Mem0PlatformServer(base_url=server.base_url)
