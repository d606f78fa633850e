"""Server profiles of the HTTP suites, built from `tests/conformance/backends`.

A *profile* is a full server config (one backend per store kind), so every provider that joins the
conformance suites joins the HTTP suites too, with no edit here:

- ``memory``: the memory backend for all four stores;
- ``embedded``: the embedded defaults (`memio.client.DEFAULT_PROVIDERS`: chroma, sqlite, chroma,
  networkx), when backends with those ids exist;
- one profile per other backend id (``chroma-server``, ``postgres``, ``mem0``, ...): that id's
  backends for the kinds it serves and ``memory`` for the rest. Ids the ``embedded`` profile
  already covers completely are not repeated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from memio.client import DEFAULT_PROVIDERS
from memio.providers import STORE_KINDS
from tests.conformance.backends import Backend, BackendEnv, all_backends

__all__ = ["PROFILES", "Profile", "build_profiles", "profile_by_name", "server_config"]


@dataclass(frozen=True)
class Profile:
    name: str
    backends: dict[str, Backend] = field(default_factory=dict)  # kind -> backend

    @property
    def marks(self) -> list[Any]:
        marks: list[Any] = []
        for backend in self.backends.values():
            marks.extend(mark for mark in backend.marks if mark not in marks)
        return marks


def build_profiles(backends: list[Backend]) -> list[Profile]:
    by_id: dict[str, dict[str, Backend]] = defaultdict(dict)
    for backend in backends:
        by_id[backend.id].setdefault(backend.kind, backend)
    memory = by_id.get("memory", {})
    profiles = []
    if all(kind in memory for kind in STORE_KINDS):
        profiles.append(Profile("memory", dict(memory)))
    embedded = {
        kind: by_id[name][kind]
        for kind, name in DEFAULT_PROVIDERS.items()
        if kind in by_id.get(name, {})
    }
    if len(embedded) == len(STORE_KINDS):
        profiles.append(Profile("embedded", embedded))
    else:
        embedded = {}
    for backend_id, kinds in by_id.items():
        if backend_id == "memory":
            continue
        if embedded and all(embedded.get(kind) is b for kind, b in kinds.items()):
            continue  # already served by the embedded profile
        profiles.append(Profile(backend_id, {**memory, **kinds}))
    return profiles


PROFILES = build_profiles(all_backends())


def profile_by_name(name: str) -> Profile | None:
    return next((profile for profile in PROFILES if profile.name == name), None)


def server_config(
    profile: Profile,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    auth: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The server config of `profile`: each backend's entry built in a fresh directory (backends
    that `require` fixtures get them from `request`). Rate limiting is off and the request timeout
    generous: the suites send far more requests than a client would, including full 1000-item
    batches on busy CI machines; limits and timeouts have their own tests."""
    stores = {}
    for kind, backend in profile.backends.items():
        fixtures = {name: request.getfixturevalue(name) for name in backend.requires}
        data_dir = tmp_path_factory.mktemp(f"http-{profile.name}-{kind}")
        stores[kind] = backend.config(BackendEnv(data_dir=data_dir, fixtures=fixtures))
    config: dict[str, Any] = {
        "server": {
            "rate_limit": {"enabled": False},
            "limits": {"request_timeout_seconds": 300},
        },
        "stores": stores,
        "data_dir": str(tmp_path_factory.mktemp(f"http-{profile.name}-data")),
    }
    if auth is not None:
        config["auth"] = auth
    return config
