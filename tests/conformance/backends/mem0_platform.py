"""The mem0 provider in platform mode (mem0's AsyncMemoryClient inside memio) against a live
memio-server speaking mem0's platform dialect over memory facts (`mem0_platform_server`).

Persistent: the data lives in that server, so a reopened store finds it. Select it with
``-k mem0-platform``. A remote platform's history does not say (to memio) whose a fact was, so
the events' scope ids stay None (decision D1). The platform picks fact ids and stamps its own
times, so `restore` is NotSupportedError and an import gives facts new ids. The platform keeps
a fact only under an entity id, so the suites give unscoped writes `user_id="conformance"`.
"""

from tests.conformance.backends import Backend, BackendEnv


def _platform(env: BackendEnv) -> dict:
    server = env.fixtures["mem0_platform_server"]
    server.fresh(env.data_dir)
    return {
        "provider": "mem0",
        "config": {"mode": "platform", "api_key": server.api_key, "host": server.base_url},
    }


BACKENDS = [
    Backend(
        id="mem0-platform",
        kind="facts",
        config=_platform,
        persistent=True,
        requires=("mem0_platform_server",),
        cannot=frozenset({"event_scope", "event_reason", "restore", "fact_ids"}),
        default_scope={"user_id": "conformance"},
    )
]
