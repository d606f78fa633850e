"""Every provider the conformance suites run against, discovered from this package.

Each module here exports ``BACKENDS: list[Backend]``. A backend is described by the config entry
the server would use (``{"provider": ..., "config": {...}}``), so the Python-API suites and the HTTP
suites build the very same store from it. Adding a provider to the suites means adding a module
here; the suites themselves never change.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BackendEnv:
    """What a backend may use to build its config: a private directory for this test (reused when
    the suite reopens the store) and the session fixtures it asked for in `requires`."""

    data_dir: Path
    fixtures: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    id: str  # shown in test ids, e.g. "chroma-server"
    kind: str  # facts | history | documents | graph
    config: Callable[[BackendEnv], dict[str, Any]]  # -> {"provider": ..., "config": {...}}
    persistent: bool = True  # data survives aclose() and a reopen with the same env
    requires: tuple[str, ...] = ()  # names of pytest fixtures to resolve into env.fixtures
    marks: tuple[Any, ...] = ()  # pytest marks, e.g. pytest.mark.postgres
    # What the provider truly cannot do, declared here by the provider (the suites then check
    # what it answers instead, never skip): "event_scope" = FactEvent scope ids stay None;
    # "event_reason" = FactEvent.reason stays None (mem0 keeps the history, not memio).
    # "restore" = FactStore.restore is NotSupportedError (the backend stamps its own times);
    # "fact_ids" = a caller-chosen fact_id is NotSupportedError (the backend picks ids).
    cannot: frozenset[str] = frozenset()
    # The scope a provider needs on every write (the mem0 platform keeps a fact only under an
    # entity id): the suites' helpers give it to each write that names none, so the behaviours
    # those tests check run on this provider too instead of failing on the missing scope.
    default_scope: Mapping[str, str] = field(default_factory=dict)
    # Embedded data one process at a time: a second process opening it is refused, naming the
    # holder (tests/providers/test_data_locks.py).
    exclusive: bool = False


def all_backends() -> list[Backend]:
    found: list[Backend] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "BACKENDS", []))
    return found


def backends_for(kind: str) -> list[Backend]:
    return [backend for backend in all_backends() if backend.kind == kind]
