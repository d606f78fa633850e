"""Test-wide setup: memio must never reach the network, so telemetry is off before any import."""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def embedder():
    """The real offline MiniLM embedder, loaded once per test session."""
    from memio.embeddings import default_embedder

    return default_embedder()
