"""mem0 OSS mode (mem0's real AsyncMemory with embedded Qdrant, no LLM so infer is off),
persistent under the test's data dir. Select it with ``-k mem0``."""

from tests.conformance.backends import Backend


def _mem0(env):
    return {"provider": "mem0", "config": {"mode": "oss", "path": str(env.data_dir / "mem0")}}


BACKENDS = [
    Backend(
        id="mem0",
        kind="facts",
        config=_mem0,
        persistent=True,
        exclusive=True,
        cannot=frozenset({"event_reason", "restore"}),
    )
]
