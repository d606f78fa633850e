"""The embedded networkx graph store, its SQLite file in the test's data directory."""

from tests.conformance.backends import Backend, BackendEnv


def _networkx(env: BackendEnv) -> dict:
    return {"provider": "networkx", "config": {"path": str(env.data_dir / "graph.sqlite3")}}


BACKENDS = [Backend(id="networkx", kind="graph", config=_networkx, persistent=True, exclusive=True)]
