"""What authentication and tenancy cost per request.

In process (no sockets, so the figures are memio's own work): the same read of one fact,
`GET /v1/facts/{id}` on the memory store, sent through the whole ASGI app with auth off and with
each kind of credential, in alternating rounds; the cost of a credential is its median minus the
median with auth off. Beside it, the pieces alone: `Authenticator.authenticate` per kind, and a
store call through the scoping wrapper against the same call on the bare store.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt

from bench import common
from memio.config import config_from_dict
from memio.scoping import Scope, confine
from memio.server.app import create_app

SECRET = "bench-hmac-secret-" + "0" * 40
ALICE = "alice"
STATIC_OPERATOR, STATIC_BOUND = "bench-operator-key", "bench-bound-key"


def _config(
    data_dir: str, auth: bool, rate_limited: bool = False, key_store: str | None = None
) -> Any:
    raw: dict[str, Any] = {
        "data_dir": data_dir,
        "stores": {"facts": {"provider": "memory"}},
        # Counted but never refused: the windows are far above what the benchmark sends.
        "server": {"rate_limit": {"enabled": rate_limited, "limits": ["100000000/minute"]}},
    }
    if auth:
        raw["auth"] = {
            "api_keys": [
                {"name": "operator", "key": STATIC_OPERATOR, "admin": True},
                {"name": "alice", "key": STATIC_BOUND, "user_id": ALICE},
            ],
            "jwt": {"secret": SECRET},
            "key_store": key_store,
            "key_store_schema": f"memio_bench_{os.getpid()}",
        }
    return config_from_dict(raw, env={})


def _token() -> str:
    now = int(time.time())
    return jwt.encode({"sub": ALICE, "iat": now, "exp": now + 3600}, SECRET, algorithm="HS256")


async def _timed(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        await call()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


async def _app_round(app: Any, headers: dict[str, str], path: str, count: int) -> list[float]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def get() -> None:
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text

        await _timed(get, 50)  # warm up
        return await _timed(get, count)


async def _requests(mode: common.Mode) -> dict[str, Any]:
    count = 3000 if mode.name == "full" else 300
    rounds = 5 if mode.name == "full" else 2
    with tempfile.TemporaryDirectory() as tmp:
        apps = {
            "off": create_app(_config(f"{tmp}/off", auth=False)),
            "on": create_app(_config(f"{tmp}/on", auth=True)),
            "limited": create_app(_config(f"{tmp}/limited", auth=True, rate_limited=True)),
        }
        contexts = [app.router.lifespan_context(app) for app in apps.values()]
        for context in contexts:
            await context.__aenter__()
        try:
            fact_ids = {}
            for name, app in apps.items():
                store = app.state.memio.facts
                fact_ids[name] = (await store.add(content="likes tea", user_id=ALICE)).id
            created = await _create_runtime_key(apps["on"])
            variants = {
                "auth off": ("off", {}),
                "operator key": ("on", {"Authorization": f"Bearer {STATIC_OPERATOR}"}),
                "bound key": ("on", {"Authorization": f"Bearer {STATIC_BOUND}"}),
                "bound token (HS256)": ("on", {"Authorization": f"Bearer {_token()}"}),
                "created key (SQLite key store)": ("on", {"Authorization": f"Bearer {created}"}),
                "bound key + rate limit": ("limited", {"Authorization": f"Bearer {STATIC_BOUND}"}),
            }
            samples: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(rounds):
                for name, (app_name, headers) in variants.items():
                    path = f"/v1/facts/{fact_ids[app_name]}"
                    samples[name] += await _app_round(apps[app_name], headers, path, count)
        finally:
            for context in contexts:
                await context.__aexit__(None, None, None)
    base = statistics.median(samples["auth off"])
    return {
        name: {
            "p50": statistics.median(values),
            "p95": statistics.quantiles(values, n=20)[18],
            "cost": statistics.median(values) - base,
            "requests": len(values),
        }
        for name, values in samples.items()
    }


async def _create_runtime_key(app: Any) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        response = await client.post(
            "/v1/keys",
            json={"name": "bench-created", "user_id": ALICE, "rate_limit": False},
            headers={"Authorization": f"Bearer {STATIC_OPERATOR}"},
        )
        response.raise_for_status()
        return response.json()["key"]


async def _pieces(mode: common.Mode) -> dict[str, Any]:
    count = 20000 if mode.name == "full" else 2000
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(_config(tmp, auth=True))
        async with app.router.lifespan_context(app):
            authenticator = app.state.authenticator
            created = await _create_runtime_key(app)
            store = app.state.memio.facts
            fact = await store.add(content="likes tea", user_id=ALICE)
            out: dict[str, Any] = {}
            for name, credential in (
                ("operator key", STATIC_OPERATOR),
                ("bound token (HS256)", _token()),
                ("created key (SQLite key store)", created),
            ):
                values = await _timed(lambda c=credential: authenticator.authenticate(c), count)
                out[f"authenticate: {name}"] = statistics.median(values)
            verifier = authenticator._tokens  # the first sight of a token: signature checked
            first = await _timed(lambda: verifier._verify(_token()), count // 10)
            out["authenticate: bound token (HS256), first request"] = statistics.median(first)
            postgres = await _postgres_lookup(tmp, count // 10)
            if postgres is not None:
                out["authenticate: created key (PostgreSQL key store)"] = postgres
            bare = await _timed(lambda: store.get(fact_id=fact.id), count)

            async def scoped() -> None:
                await confine("facts", store, Scope(user_id=ALICE)).get(fact_id=fact.id)

            wrapped = await _timed(scoped, count)
            out["facts.get, bare store"] = statistics.median(bare)
            out["facts.get, scoped (wrapper built per call)"] = statistics.median(wrapped)
            out["scoping cost"] = statistics.median(wrapped) - statistics.median(bare)
            return out


async def _postgres_lookup(tmp: str, count: int) -> float | None:
    """A created key looked up in the machine's PostgreSQL on every request (as replicas do);
    None when no server answers at MEMIO_BENCH_POSTGRES_DSN."""
    dsn = os.environ.get("MEMIO_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    app = create_app(_config(f"{tmp}/pg", auth=True, key_store=dsn))
    try:
        async with app.router.lifespan_context(app):
            created = await _create_runtime_key(app)
            authenticator = app.state.authenticator
            values = await _timed(lambda: authenticator.authenticate(created), count)
            await app.state.key_store.revoke("bench-created")
            return statistics.median(values)
    except (OSError, httpx.HTTPError) as exc:
        print(f"  (no PostgreSQL key store measured: {exc})")
        return None
    finally:
        await _drop_schema(dsn, f"memio_bench_{os.getpid()}")


async def _drop_schema(dsn: str, schema: str) -> None:
    try:
        import psycopg
    except ImportError:
        return
    try:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.Error:
        pass


def main(mode: common.Mode) -> None:
    record: dict[str, Any] = {}
    with common.load_sampler(record):
        record["requests"] = asyncio.run(_requests(mode))
        record["pieces"] = asyncio.run(_pieces(mode))
    common.save(mode, "auth", record)
    for name, row in record["requests"].items():
        print(f"  {name:34s} p50 {row['p50']:.3f} ms  cost {row['cost'] * 1000:+.0f} us")
    for name, value in record["pieces"].items():
        print(f"  {name:44s} {value * 1000:.1f} us")
