"""The HTTP contract suite: the /v1 API of a real `python -m memio.server` process, per profile.

Profiles (see `tests/http/profiles.py`) come from `tests/conformance/backends`, so a provider that
joins the conformance suites joins this suite with no edit here. Each profile gets one server
process for the session (started on first use, with auth on: an application key and an admin
key); tests share it, so every test works in its own ids (`uid`) and never assumes a store is
empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.http.helpers import ADMIN_KEY, API_KEY, auth_config
from tests.http.profiles import PROFILES, Profile, server_config


@dataclass
class Server:
    profile: Profile
    base_url: str
    config: dict[str, Any]


@pytest.fixture(
    scope="session",
    params=[pytest.param(p, id=p.name, marks=p.marks) for p in PROFILES],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    from tests.support.server_process import run_server

    profile: Profile = request.param
    config = server_config(profile, request, tmp_path_factory, auth=auth_config())
    with run_server(config) as proc:
        yield Server(profile=profile, base_url=proc.base_url, config=config)


def _client(server: Server, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    )


@pytest.fixture(scope="session")
def api(server: Server) -> Iterator[httpx.Client]:
    """A client with the application (non-admin) key."""
    with _client(server, API_KEY) as client:
        yield client


@pytest.fixture(scope="session")
def admin(server: Server) -> Iterator[httpx.Client]:
    """A client with the admin key (needed for the unscoped delete-all routes)."""
    with _client(server, ADMIN_KEY) as client:
        yield client


@pytest.fixture
def uid() -> str:
    """A prefix unique to this test, for user ids, session ids and document ids."""
    return f"t{uuid.uuid4().hex[:12]}"
