import pytest

from tests.conformance.backends import Backend
from tests.support.fixtures_postgres import schema_for


def _postgres(env):
    return {
        "provider": "postgres",
        "config": {
            "dsn": env.fixtures["postgres_dsn"],
            "schema": schema_for(env.data_dir),
            "pool_min_size": 1,
            "pool_max_size": 4,
        },
    }


BACKENDS = [
    Backend(
        id="postgres",
        kind=kind,
        config=_postgres,
        persistent=True,
        requires=("postgres_dsn",),
        marks=(pytest.mark.postgres,),
    )
    for kind in ("history", "graph")
]
