from tests.conformance.backends import Backend


def _memory(env):
    return {"provider": "memory", "config": {}}


BACKENDS = [
    Backend(id="memory", kind=kind, config=_memory, persistent=False)
    for kind in ("facts", "history", "documents", "graph")
]
