"""The remote provider (what `memio.connect` returns) against a live memio-server whose stores
are the memory provider's (`remote_server`). Persistent: the data lives in that server, so a
reopened store finds it. Select it with ``-k remote``."""

from tests.conformance.backends import Backend, BackendEnv


def _remote(env: BackendEnv) -> dict:
    server = env.fixtures["remote_server"]
    server.fresh(env.data_dir)
    return {"provider": "remote", "config": {"url": server.base_url, "api_key": server.api_key}}


BACKENDS = [
    Backend(id="remote", kind=kind, config=_remote, persistent=True, requires=("remote_server",))
    for kind in ("facts", "history", "documents", "graph")
]
