"""Fixtures of the conformance suites: every test runs once per backend of its store kind.

Each suite module sets ``KIND`` ("facts", "history", "documents" or "graph"); its tests ask for
`backend` (or a store fixture built on it) and are parametrized over ``backends_for(KIND)``, with
the backend's id as the test id and its marks applied. A backend whose session fixture cannot start
errors (or skips, if its fixture module decides so): the suite never drops a backend silently.

Tests marked ``persistent_only`` (close-and-reopen) are generated only for backends with
``persistent=True``; for a kind with no such backend pytest reports the empty parameter set.

A backend with a `default_scope` (a provider that needs a scope on every write) gets it on the
writes that name none (`helpers.WithDefaultScope`).

`open_store()` builds a store from the backend's config entry exactly as the server would
(`memio.providers.build_store`), against the test's `BackendEnv`; calling it again builds a second
store over the same data dir / schema, which is how the persistence tests reopen. Every store it
made is closed at teardown (a second `aclose()` must be harmless).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from memio.providers import STORE_KINDS, build_store
from memio.providers.shared import ProviderContext
from tests.conformance.backends import Backend, BackendEnv, backends_for
from tests.conformance.helpers import WithDefaultScope


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "persistent_only: run only against backends whose data survives aclose() and a reopen",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    kind = getattr(metafunc.module, "KIND", None)
    if kind not in STORE_KINDS:
        raise pytest.UsageError(f"{metafunc.module.__name__} must set KIND to one of {STORE_KINDS}")
    backends = backends_for(kind)
    if metafunc.definition.get_closest_marker("persistent_only"):
        backends = [b for b in backends if b.persistent]
    metafunc.parametrize(
        "backend",
        [pytest.param(b, id=b.id, marks=list(b.marks)) for b in backends],
        indirect=True,
    )


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param


@pytest.fixture
def env(backend: Backend, request: pytest.FixtureRequest, tmp_path) -> BackendEnv:
    fixtures = {name: request.getfixturevalue(name) for name in backend.requires}
    return BackendEnv(data_dir=tmp_path / "data", fixtures=fixtures)


@pytest.fixture
async def open_store(
    backend: Backend, env: BackendEnv, embedder
) -> AsyncIterator[Callable[[], Any]]:
    made: list[Any] = []

    def _open() -> Any:
        cfg = backend.config(env)
        context = ProviderContext(data_dir=env.data_dir, embedder=embedder)
        store = build_store(backend.kind, cfg["provider"], cfg["config"], context)
        made.append(store)
        if backend.kind == "facts" and backend.default_scope:
            return WithDefaultScope(store, backend.default_scope)
        return store

    yield _open
    for store in reversed(made):
        await store.aclose()


def _store_of(kind: str, backend: Backend, open_store: Callable[[], Any]) -> Any:
    assert backend.kind == kind, f"a {kind} store fixture used in a {backend.kind} suite"
    return open_store()


@pytest.fixture
def fact_store(backend: Backend, open_store: Callable[[], Any]) -> Any:
    return _store_of("facts", backend, open_store)


@pytest.fixture
def history_store(backend: Backend, open_store: Callable[[], Any]) -> Any:
    return _store_of("history", backend, open_store)


@pytest.fixture
def document_store(backend: Backend, open_store: Callable[[], Any]) -> Any:
    return _store_of("documents", backend, open_store)


@pytest.fixture
def graph_store(backend: Backend, open_store: Callable[[], Any]) -> Any:
    return _store_of("graph", backend, open_store)
