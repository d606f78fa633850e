"""The chroma provider in both modes: embedded (PersistentClient) and against a real Chroma server.

Both are persistent. The server backend uses one collection per test, named from the test's data
dir, so tests sharing the session's server never see each other's records.
"""

from __future__ import annotations

import hashlib

from tests.conformance.backends import Backend, BackendEnv


def _embedded(env: BackendEnv) -> dict:
    return {"provider": "chroma", "config": {"path": str(env.data_dir / "chroma")}}


def collection_for(env: BackendEnv, kind: str) -> str:
    digest = hashlib.blake2s(str(env.data_dir).encode(), digest_size=8).hexdigest()
    return f"memio_t{digest}_{kind}"


def _server(kind: str):
    def config(env: BackendEnv) -> dict:
        server = env.fixtures["chroma_server"]
        return {
            "provider": "chroma",
            "config": {"url": server.url, "collection": collection_for(env, kind)},
        }

    return config


BACKENDS = [
    backend
    for kind in ("facts", "documents")
    for backend in (
        Backend(id="chroma", kind=kind, config=_embedded, persistent=True, exclusive=True),
        Backend(
            id="chroma-server",
            kind=kind,
            config=_server(kind),
            persistent=True,
            requires=("chroma_server",),
        ),
    )
]
