"""Test-wide setup: memio must never reach the network, so telemetry is off before any import.

Backend fixtures (a Chroma server, a PostgreSQL schema, ...) live in ``tests/support/fixtures_*.py``
and are loaded here as pytest plugins, one module per backend.
"""

import os
import pkgutil
from pathlib import Path

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

pytest_plugins = [
    f"tests.support.{module.name}"
    for module in pkgutil.iter_modules([str(Path(__file__).parent / "support")])
    if module.name.startswith("fixtures_")
]


@pytest.fixture(scope="session")
def embedder():
    """The real offline MiniLM embedder, loaded once per test session."""
    from memio.embeddings import default_embedder

    return default_embedder()
