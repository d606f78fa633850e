"""The postgres provider for all four stores against the session's throw-away PostgreSQL +
pgvector cluster (`pgvector_dsn`, tests/support/fixtures_pgvector.py), one schema per test: facts
and documents need pgvector; history and graph run here too (besides the ``postgres`` backend on
the machine's PostgreSQL), so the HTTP suites get a profile with every store on one database.
Select with ``-k pgvector``."""

import pytest

from tests.conformance.backends import Backend, BackendEnv
from tests.support.fixtures_pgvector import pgvector_schema


def pgvector_config(env: BackendEnv) -> dict:
    return {
        "provider": "postgres",
        "config": {
            "dsn": env.fixtures["pgvector_dsn"],
            "schema": pgvector_schema(env.data_dir),
            "pool_min_size": 1,
            "pool_max_size": 4,
        },
    }


BACKENDS = [
    Backend(
        id="pgvector",
        kind=kind,
        config=pgvector_config,
        persistent=True,
        requires=("pgvector_dsn",),
        marks=(pytest.mark.pgvector,),
    )
    for kind in ("facts", "history", "documents", "graph")
]
