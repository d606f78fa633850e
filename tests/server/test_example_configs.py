"""Every shipped server config works as written: examples/configs/*.yaml and the repo's
memio-server.yaml.

For each file, unchanged:

1. `memio-server --config FILE --check` exits 0 and names the provider of each configured store;
2. `memio-server --config FILE` (a real process, `run_server`) serves one write and one read per
   configured store over HTTP, and /ready answers 200.

The files are used verbatim; only the environment they reference is set, and only to local test
services: `MEMIO_DATA_DIR` -> this test's directory, `MEMIO_POSTGRES_DSN` -> a fresh database on
the tests' PostgreSQL + pgvector cluster (tests/support/fixtures_pgvector.py; the example names
its schema, `memio`, in the file, so a fresh database is what isolates it),
`MEM0_API_KEY`/`MEM0_HOST` -> a memio-server speaking the mem0 platform dialect over memory
facts, a Chroma URL -> the tests' Chroma server. A file that references a variable this test
does not know (without a default) fails with its name, and before anything is started every
endpoint the resolved config names must be on loopback and every absolute path inside this
test's directory, so no example reaches the network or writes outside the test.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from memio.config import is_loopback, load_config
from tests.server.store_calls import read, write
from tests.support.server_process import run_server, server_env

REPO = Path(__file__).resolve().parents[2]
CONFIGS = [*sorted((REPO / "examples" / "configs").glob("*.yaml")), REPO / "memio-server.yaml"]
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
ENDPOINT_KEYS = frozenset({"url", "host", "base_url", "dsn"})


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def references(path: Path) -> dict[str, bool]:
    """The environment variables the file's values refer to -> whether the reference has a
    default (`${NAME:-default}`). Comments are not values, so commented-out keys do not count."""
    found: dict[str, bool] = {}
    for text in _strings(yaml.safe_load(path.read_text())):
        for match in _REFERENCE.finditer(text):
            name, default = match.group(1), match.group(2) is not None
            found[name] = found.get(name, True) and default
    return found


@contextmanager
def fresh_database(dsn: str) -> Iterator[str]:
    """A new, empty database on the server of `dsn` (dropped afterwards); yields its DSN."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"memio_t_example_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Services:
    """The value of each environment variable an example may reference, from a test service
    started only when a config asks for it."""

    def __init__(self, request: pytest.FixtureRequest, data_dir: Path, stack: ExitStack) -> None:
        self.request = request
        self.data_dir = data_dir
        self.stack = stack
        self._postgres: str | None = None

    def postgres(self) -> str:
        if self._postgres is None:
            # pgvector's cluster: an example may put facts and documents on PostgreSQL too.
            dsn = self.request.getfixturevalue("pgvector_dsn")
            self._postgres = self.stack.enter_context(fresh_database(dsn))
        return self._postgres

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)

    @property
    def known(self) -> dict[str, Callable[[], str]]:
        return {
            "MEMIO_DATA_DIR": lambda: str(self.data_dir),
            "MEMIO_POSTGRES_DSN": self.postgres,
            "MEM0_API_KEY": lambda: self.fixture("mem0_platform_server").api_key,
            "MEM0_HOST": lambda: self.fixture("mem0_platform_server").base_url,
            "CHROMA_URL": lambda: self.fixture("chroma_server").url,
            "MEMIO_CHROMA_URL": lambda: self.fixture("chroma_server").url,
            "CHROMA_HOST": lambda: self.fixture("chroma_server").host,
            "CHROMA_PORT": lambda: str(self.fixture("chroma_server").port),
        }

    def env_for(self, path: Path) -> dict[str, str]:
        env = {}
        for name, has_default in references(path).items():
            make = self.known.get(name)
            if make is not None:
                env[name] = make()
            elif not has_default:
                pytest.fail(
                    f"{path.name} needs ${{{name}}}: tell {Path(__file__).name} which test "
                    "service provides it",
                    pytrace=False,
                )
        return env


def _host_of(key: str, value: str) -> str | None:
    if key == "dsn":
        from psycopg.conninfo import conninfo_to_dict

        host = str(conninfo_to_dict(value).get("host") or "localhost")
        return None if host.startswith("/") else host  # a Unix socket is local
    if key == "host" and "://" not in value:
        return value
    return urlsplit(value).hostname or ""


def assert_stays_local(config: Any, root: Path, source: str) -> None:
    """Every endpoint in the resolved config is on loopback, every absolute path under `root`."""
    problems = []

    def visit(value: Any, where: str, key: str = "") -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                visit(v, f"{where}.{k}", str(k))
        elif isinstance(value, str) and key in ENDPOINT_KEYS:
            host = _host_of(key, value)
            if host is not None and not is_loopback(host):
                problems.append(f"{where} points at {host} (not loopback)")
        elif (
            isinstance(value, str)
            and key == "path"
            and Path(value).is_absolute()
            and not Path(value).resolve().is_relative_to(root)
        ):
            problems.append(f"{where} hardcodes {value}, outside the test directory")

    for kind, store in config.stores.items():
        visit(store.config, f"stores.{kind}.config")
    if config.embedder.base_url is not None:
        visit({"base_url": config.embedder.base_url}, "embedder")
    data_dir = Path(config.data_dir)
    if data_dir.is_absolute() and not data_dir.resolve().is_relative_to(root):
        problems.append(f"data_dir hardcodes {data_dir}, outside the test directory")
    assert not problems, f"{source} would leave the test sandbox: " + "; ".join(problems)


def embedded(store: Any) -> bool:
    """Whether a store keeps its files under data_dir (rather than in a server)."""
    if store.provider in ("sqlite", "networkx"):
        return True
    if store.provider == "chroma":
        return not ({"url", "host"} & set(store.config))
    if store.provider == "mem0":
        return store.config.get("mode", "oss") == "oss"
    return False


def check(path: Path, *, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "memio-server"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "memio.server"]
    return subprocess.run(
        [*command, "--config", str(path), "--check"],
        cwd=cwd,
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_example_config_checks_and_serves(
    path: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with ExitStack() as stack:
        env = Services(request, data_dir, stack).env_for(path)
        config = load_config(path, env=server_env(env))
        assert_stays_local(config, tmp_path.resolve(), path.name)
        providers = {kind: store.provider for kind, store in config.stores.items()}
        assert providers, f"{path.name} serves no store"

        # 1. --check: exit 0, one line per store naming its provider.
        result = check(path, cwd=cwd, env=env)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == f"configuration OK ({path})", result.stdout
        for kind, provider in providers.items():
            assert f"  {kind}: {provider}" in lines, result.stdout
        assert f"  data_dir: {Path(config.data_dir).resolve()}" in lines, result.stdout

        # 2. Serve it: one write and one read per configured store, then every store is ready.
        with (
            run_server(path, env=env) as server,
            httpx.Client(base_url=server.base_url, timeout=300) as client,
        ):
            tag = secrets.token_hex(4)
            for kind in providers:
                read(client, write(client, kind, tag))
            ready = client.get("/ready")
            assert ready.status_code == 200, ready.text
            assert {
                kind: store["provider"] for kind, store in ready.json()["stores"].items()
            } == providers
            if "MEMIO_DATA_DIR" in env:  # the data went where the environment said
                assert not (server.workdir / "memio-data").exists()
                assert not (cwd / "memio-data").exists()
                if any(embedded(store) for store in config.stores.values()):
                    assert any(data_dir.iterdir()), f"nothing written under {data_dir}"


def test_postgres_example_puts_every_store_on_one_database() -> None:
    """examples/configs/postgres.yaml: all four stores on PostgreSQL, from MEMIO_POSTGRES_DSN."""
    from memio.providers import STORE_KINDS

    dsn = "postgresql://memio@127.0.0.1:5432/memio"
    path = REPO / "examples" / "configs" / "postgres.yaml"
    config = load_config(path, env=server_env({"MEMIO_POSTGRES_DSN": dsn}))
    assert {kind: store.provider for kind, store in config.stores.items()} == dict.fromkeys(
        STORE_KINDS, "postgres"
    )
    assert {store.config["dsn"] for store in config.stores.values()} == {dsn}
    assert len({store.config["schema"] for store in config.stores.values()}) == 1
