"""Shared helpers of the server platform tests: configs, in-process clients, store test doubles."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from memio.checked import FactQuery
from memio.client import Memio
from memio.config import ServerConfig, config_from_dict
from memio.providers import STORE_KINDS
from memio.providers.base import Provider
from memio.server.app import create_app

ADMIN_KEY = "server-tests-admin-key"
USER_KEY = "server-tests-user-key"  # an operator key without admin rights
BOUND_KEY = "server-tests-bound-key"  # acts for user "alice" only
MEMORY_STORES = {kind: {"provider": "memory"} for kind in STORE_KINDS}
AUTH = {
    "api_keys": [
        {"name": "user", "key": USER_KEY},
        {"name": "admin", "key": ADMIN_KEY, "admin": True},
        {"name": "alice", "key": BOUND_KEY, "user_id": "alice"},
    ]
}
REDIS_URL = os.environ.get("MEMIO_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def make_config(
    raw: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> ServerConfig:
    """A validated config over the memory stores (unless `raw` names its own)."""
    return config_from_dict({"stores": MEMORY_STORES, **(raw or {})}, env=env or {})


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


Serve = Callable[..., TestClient]


@pytest.fixture
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """`serve(raw_config, memio=..., router=...)`: a started app in a TestClient (closed after
    the test), its data_dir a fresh temporary directory unless the config names one. `router`
    adds test-only routes (e.g. one that raises)."""
    clients: list[TestClient] = []

    def start(
        raw: Mapping[str, Any] | None = None,
        *,
        memio: Memio | None = None,
        router: APIRouter | None = None,
        env: Mapping[str, str] | None = None,
    ) -> TestClient:
        raw = {"data_dir": str(tmp_path_factory.mktemp("data")), **(raw or {})}
        app = create_app(make_config(raw, env), memio=memio)
        if router is not None:
            app.include_router(router)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


class ProbeStore(Provider):
    """Test double of a provider for the ops routes: `ping` and `count` do what the test says.

    With `hold`, each call signals `entered` and then waits for `hold` in a worker thread, as a
    provider's blocking SDK call would, so a test can keep a request inside the store."""

    def __init__(
        self,
        *,
        provider: str = "probe",
        items: int = 0,
        expired: int = 0,
        ping_error: Exception | None = None,
        hold: threading.Event | None = None,
    ) -> None:
        self.provider = provider
        self.items = items
        self.expired = expired
        self.ping_error = ping_error
        self.hold = hold
        self.entered = threading.Event()

    async def _maybe_hold(self) -> None:
        self.entered.set()
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait)

    async def ping(self) -> None:
        await self._maybe_hold()
        if self.ping_error is not None:
            raise self.ping_error

    @classmethod
    def from_config(cls, config: Any, context: Any) -> ProbeStore:
        return cls()

    async def count(self, *, query: FactQuery | None = None) -> int:
        """Every store's count, or a facts count (`query`: the expired ones too when asked)."""
        await self._maybe_hold()
        return self.items + (self.expired if query is not None and query.include_expired else 0)

    async def aclose(self) -> None:
        return None


def _reachable(url: str) -> bool:
    host, _, port = url.split("://", 1)[1].partition(":")
    try:
        with socket.create_connection((host, int(port.split("/")[0] or 6379)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis (MEMIO_TEST_REDIS_URL); unreachable: a failure under CI, else skip."""
    if not _reachable(REDIS_URL):
        message = f"Redis is not reachable at {REDIS_URL}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL
