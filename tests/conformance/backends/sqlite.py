"""The embedded SQLite history store, its file in the test's data directory."""

from tests.conformance.backends import Backend, BackendEnv


def _sqlite(env: BackendEnv) -> dict:
    return {"provider": "sqlite", "config": {"path": str(env.data_dir / "history.sqlite3")}}


BACKENDS = [Backend(id="sqlite", kind="history", config=_sqlite, persistent=True, exclusive=True)]
