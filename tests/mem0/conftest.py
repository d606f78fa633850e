"""Fixtures of the mem0 dialect tests: real memio-server processes that real mem0 clients talk to.

`mem0_server` (session, parametrized) runs one `python -m memio.server` per facts provider: the
embedded default (``chroma``) and mem0's open-source library (``mem0``, `mode: oss`), with auth on
(an application key, an admin key and a key limited to a few requests a minute), rate limiting on
(a generous default) and a small body limit (so 413 is cheap to provoke). Tests share a server, so
each works in its own entity ids (`uid`).

mem0's Python SDK writes a config file under ``MEM0_DIR`` when it is imported: it is pointed at a
temporary directory here (unless set already), and telemetry is off (the root conftest).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="memio-test-mem0-dir-"))

APP_KEY = "mem0-suite-app-key"
ADMIN_KEY = "mem0-suite-admin-key"
LIMITED_KEY = "mem0-suite-limited-key"
BOUND_KEY = "mem0-suite-bound-key"  # what an app hands the code acting for one of its users
BOUND_USER = "mem0-suite-bound-user"
LIMITED_RATE = "4/minute"
# The keys the local-first "Mem0 Memory System" document publishes, so its curl lines run verbatim
# (memio itself ships no key): development (an operator key limited as the document says) and admin.
DOC_DEV_KEY = "mem0_dev_key_123456789"
DOC_ADMIN_KEY = "mem0_admin_key_111222333"
DOC_RATE = "100/minute"
LOCAL_LIMITED_KEY = "mem0-suite-local-limited-key"  # only test_local_first's 429 uses it
MAX_BODY_BYTES = 64 * 1024

FACT_PROVIDERS = {
    "chroma": lambda data: {"provider": "chroma", "config": {"path": str(data / "chroma")}},
    "mem0": lambda data: {
        "provider": "mem0",
        "config": {"mode": "oss", "path": str(data / "mem0")},
    },
}


@dataclass
class Mem0Server:
    provider: str
    base_url: str
    config: dict[str, Any]


def auth_section() -> dict[str, Any]:
    return {
        "api_keys": [
            {"name": "app", "key": APP_KEY},
            {"name": "admin", "key": ADMIN_KEY, "admin": True},
            {"name": "limited", "key": LIMITED_KEY, "rate_limit": LIMITED_RATE},
            {"name": "bound", "key": BOUND_KEY, "user_id": BOUND_USER},
            {"name": "doc-dev", "key": DOC_DEV_KEY, "rate_limit": DOC_RATE},
            {"name": "doc-admin", "key": DOC_ADMIN_KEY, "admin": True},
            {"name": "local-limited", "key": LOCAL_LIMITED_KEY, "rate_limit": LIMITED_RATE},
        ]
    }


def server_config(facts: dict[str, Any], data_dir: Path, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "data_dir": str(data_dir),
        "auth": auth_section(),
        "server": {
            "rate_limit": {"enabled": True, "limits": ["100000/minute"]},
            "limits": {"max_body_bytes": MAX_BODY_BYTES},
        },
        "stores": {"facts": facts},
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session", params=sorted(FACT_PROVIDERS))
def mem0_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mem0Server]:
    from tests.support.server_process import run_server

    provider = request.param
    data = tmp_path_factory.mktemp(f"mem0-dialect-{provider}")
    config = server_config(FACT_PROVIDERS[provider](data), data)
    with run_server(config) as proc:
        yield Mem0Server(provider=provider, base_url=proc.base_url, config=config)


@pytest.fixture
def uid() -> str:
    """An entity id unique to this test."""
    return f"u{uuid.uuid4().hex[:12]}"
