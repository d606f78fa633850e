"""PostgreSQL for the tests: the machine's server, one throw-away schema per test.

`postgres_dsn` (session) checks the server answers and yields its DSN (``MEMIO_TEST_POSTGRES_DSN``,
default ``postgresql://postgres@127.0.0.1:5432/test``). Under ``CI=true`` an unreachable server is a
failure, locally a skip with the reason. `schema_for(data_dir)` names the schema a test's stores
use (derived from the test's private directory, so reopening a store finds its data) and registers
it; every registered schema is dropped when the session ends.

The `disruptive` marker is registered here: such tests stop and restart the PostgreSQL server. They
run only under ``CI=true`` or with ``MEMIO_TEST_DISRUPTIVE=1``; exclude them with
``-m "not disruptive"`` whenever other test runs share the server.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ci import in_ci, unavailable

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DSN_ENV = "MEMIO_TEST_POSTGRES_DSN"
SCHEMA_PREFIX = "memio_t_"

# Per test process, so two pytest runs against one database never share a schema.
_RUN = secrets.token_hex(3)
_schemas: set[str] = set()
_schemas_lock = threading.Lock()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "disruptive: stops and restarts a shared service (PostgreSQL); exclude with "
        "-m 'not disruptive' when other test runs use the same server",
    )


def disruptive_skip_reason() -> str | None:
    """Why a test that stops the machine's PostgreSQL must not run here (None: it may): only
    under CI=true (serial) or with MEMIO_TEST_DISRUPTIVE=1, and only on a local cluster `main`."""
    if not (in_ci() or os.environ.get("MEMIO_TEST_DISRUPTIVE") == "1"):
        return "stops the shared PostgreSQL server: runs under CI=true or MEMIO_TEST_DISRUPTIVE=1"
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return "needs pg_ctlcluster and a local cluster to stop and start"
    if os.environ.get(DSN_ENV):
        return f"{DSN_ENV} points at a server this test must not stop"
    if not cluster_versions():
        return "no PostgreSQL cluster named main"
    return None


def cluster_versions() -> list[str]:
    root = Path("/etc/postgresql")
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "main").is_dir())


def pg_ctl(version: str, *args: str) -> None:
    """`pg_ctlcluster VERSION main ARGS` (start, stop -m fast, ...)."""
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", *args],
        check=True,
        timeout=120,
        capture_output=True,
    )


def postgres_ready(dsn: str) -> bool:
    done = subprocess.run(["pg_isready", "-d", dsn, "-t", "2"], capture_output=True, timeout=30)
    return done.returncode == 0


def wait_for_postgres(dsn: str, timeout: float = 60.0) -> None:
    """Poll `pg_isready` until the server accepts connections, at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while not postgres_ready(dsn):
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL not accepting connections {timeout:g} s after start")
        time.sleep(0.25)


def configured_dsn() -> str:
    return os.environ.get(DSN_ENV) or DEFAULT_DSN


def schema_for(data_dir: Path | str) -> str:
    """The schema of the test that owns `data_dir` (stable within this run), registered for drop."""
    digest = hashlib.blake2s(str(Path(data_dir)).encode(), digest_size=8).hexdigest()
    name = f"{SCHEMA_PREFIX}{_RUN}_{digest}"
    with _schemas_lock:
        _schemas.add(name)
    return name


def new_schema() -> str:
    """A fresh registered schema name, for tests that build stores by hand."""
    name = f"{SCHEMA_PREFIX}{_RUN}_{secrets.token_hex(8)}"
    with _schemas_lock:
        _schemas.add(name)
    return name


def _where(dsn: str) -> str:
    """host:port/dbname of a DSN, never its password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(dsn)
    except Exception:
        return "the configured DSN"
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def _probe(dsn: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc}); pip install 'memio[postgres]'"
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip()}"
    return None


def drop_schemas(dsn: str, names: set[str]) -> None:
    import psycopg

    if not names:
        return
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        for name in sorted(names):
            try:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            except psycopg.Error as exc:  # keep dropping the others
                print(f"could not drop test schema {name}: {exc}")


STALE_AFTER_HOURS = 24


def _drop_stale_schemas(dsn: str) -> None:
    """Drop test schemas a killed run left behind: those whose tables were last migrated more
    than STALE_AFTER_HOURS ago (a live run's schemas are minutes old)."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT table_schema FROM information_schema.tables"
                " WHERE table_name = 'memio_schema_version' AND table_schema LIKE %s",
                (SCHEMA_PREFIX.replace("_", "\\_") + "%",),
            ).fetchall()
        ]
    stale = set()
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        for name in names:
            try:
                row = conn.execute(
                    f"SELECT max(updated_at) < now() - make_interval(hours => %s)"
                    f' FROM "{name}".memio_schema_version',
                    (STALE_AFTER_HOURS,),
                ).fetchone()
            except psycopg.Error:  # dropped meanwhile by its own run
                continue
            if row and row[0]:
                stale.add(name)
    drop_schemas(dsn, stale)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    dsn = configured_dsn()
    problem = _probe(dsn)
    if problem is not None:
        reason = (
            f"PostgreSQL is not reachable at {_where(dsn)} (set {DSN_ENV} for another server): "
            f"{problem}"
        )
        unavailable("PostgreSQL", reason)
    try:
        _drop_stale_schemas(dsn)
    except Exception as exc:  # housekeeping only
        print(f"could not look for stale test schemas: {exc}")
    yield dsn
    with _schemas_lock:
        names = set(_schemas)
        _schemas.clear()
    try:
        drop_schemas(dsn, names)
    except Exception as exc:  # the server may be gone; never fail the session on cleanup
        print(f"could not drop test schemas {sorted(names)}: {exc}")
