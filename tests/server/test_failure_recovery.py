"""A real memio-server over real backends loses one backend, degrades, and recovers by itself.

One `python -m memio.server` process for the module: facts and documents on a Chroma server of
this module's own (client/server mode), history and graph on the machine's PostgreSQL (a fresh
schema). Each test writes to all four stores, takes one backend down and checks, over HTTP:

- every request that reaches the down backend answers 502 with the standard error body naming the
  provider and the operation (reads and writes alike);
- /ready answers 503 with exactly the stores on that backend failing, /health still answers 200;
- the stores on the other backend keep serving reads and writes;
- once the backend is back, /ready returns to 200 and the same process (never restarted) serves
  the data written before the outage and takes new writes.

Stopping Chroma affects only this module's own server, so that test always runs. Stopping
PostgreSQL breaks every other client of the machine's server, so that test is `disruptive` and
gated exactly like tests/providers/test_postgres.py's restart test: it runs under CI=true or with
MEMIO_TEST_DISRUPTIVE=1 (and is skipped without `pg_ctlcluster`, a local cluster `main`, or when
MEMIO_TEST_POSTGRES_DSN points at another server). PostgreSQL is always started again in a
`finally`. Waits are bounded polls; nothing asserts on elapsed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from memio.providers import STORE_KINDS
from tests.server.store_calls import Item, failing_calls, read, write
from tests.support.fixtures_chroma import ChromaServer
from tests.support.fixtures_postgres import (
    cluster_versions,
    disruptive_skip_reason,
    in_ci,
    new_schema,
    pg_ctl,
    postgres_ready,
    wait_for_postgres,
)
from tests.support.server_process import ServerProcess, run_server

RECOVERY_TIMEOUT = 90.0  # seconds a backend may take to come back and be seen as ready
CHROMA_KINDS = ("facts", "documents")
POSTGRES_KINDS = ("history", "graph")


@dataclass
class Gateway:
    server: ServerProcess
    client: httpx.Client
    chroma: ChromaServer
    postgres_dsn: str
    pid: int


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A Chroma server of this module's own: the test stops and restarts it."""
    server = ChromaServer(tmp_path_factory.mktemp("recovery-chroma") / "data")
    try:
        server.start()
    except RuntimeError as exc:
        reason = f"could not start a Chroma server: {exc}"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def gateway(
    chroma: ChromaServer, postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    postgres = {
        "dsn": postgres_dsn,
        "schema": new_schema(),  # dropped when the session ends
        "pool_min_size": 1,
        "pool_max_size": 4,
        "pool_timeout": 2,  # a call waits this long for a connection before its 502
        "connect_timeout": 2,
    }
    config = {
        "data_dir": str(tmp_path_factory.mktemp("recovery-data")),
        "server": {
            "rate_limit": {"enabled": False},
            "limits": {"request_timeout_seconds": 120},
        },
        "stores": {
            "facts": {"provider": "chroma", "config": {"url": chroma.url}},
            "documents": {"provider": "chroma", "config": {"url": chroma.url}},
            "history": {"provider": "postgres", "config": postgres},
            "graph": {"provider": "postgres", "config": postgres},
        },
    }
    with (
        run_server(config) as server,
        httpx.Client(base_url=server.base_url, timeout=120) as client,
    ):
        yield Gateway(server, client, chroma, postgres_dsn, server.process.pid)


# --- helpers -----------------------------------------------------------------------------------


def readiness(client: httpx.Client) -> tuple[int, dict[str, dict]]:
    response = client.get("/ready")
    body = response.json()
    assert body["status"] == ("ready" if response.status_code == 200 else "unavailable"), body
    return response.status_code, body["stores"]


def wait_until_ready(gw: Gateway, timeout: float = RECOVERY_TIMEOUT) -> None:
    """Poll /ready until it answers 200 (the stores reconnect on their own), at most `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        status, stores = readiness(gw.client)
        if status == 200:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"/ready still {status} {timeout:g} s after the backend came back: {stores}\n"
                f"server stderr:\n{gw.server.stderr()[-4000:]}"
            )
        time.sleep(0.25)


def assert_outage(gw: Gateway, items: dict[str, Item], *, provider: str, down: tuple[str, ...]):
    client = gw.client
    for kind in down:
        for call in failing_calls(items[kind]):
            response = call.send(client)
            where = f"{call.method} {call.path} ({kind} on {provider} down)"
            assert response.status_code == 502, f"{where}: {response.status_code} {response.text}"
            body = response.json()
            assert body["error"] == "provider_error", where
            assert body["provider"] == provider, f"{where}: {body}"
            assert body["operation"] == call.operation, f"{where}: {body}"
            assert body["detail"].startswith(f"{provider}.{call.operation} failed: "), body
            assert body["request_id"] == response.headers["X-Request-ID"]

    status, stores = readiness(client)
    assert status == 503, stores
    for kind in STORE_KINDS:
        if kind in down:
            assert stores[kind]["status"] == "error", stores
            assert stores[kind]["provider"] == provider
            assert stores[kind]["detail"], stores
        else:
            assert stores[kind]["status"] == "ok", stores
            assert stores[kind]["provider"] != provider
    health = client.get("/health")  # liveness is not readiness: the process is fine
    assert health.status_code == 200
    assert health.json()["stores"] == dict.fromkeys(STORE_KINDS, True)

    # The other backend's stores keep serving: what was there, and new writes.
    for kind in STORE_KINDS:
        if kind not in down:
            read(client, items[kind])
            read(client, write(client, kind, f"{provider}-during"))


def run_outage(
    gw: Gateway,
    *,
    provider: str,
    down: tuple[str, ...],
    stop: Callable[[], None],
    start: Callable[[], None],
) -> None:
    client = gw.client
    before = {kind: write(client, kind, f"{provider}-before") for kind in STORE_KINDS}
    for item in before.values():
        read(client, item)
    status, stores = readiness(client)
    assert status == 200, stores

    try:
        stop()
        assert_outage(gw, before, provider=provider, down=down)
    finally:
        start()

    wait_until_ready(gw)
    for kind in STORE_KINDS:  # everything written before the outage is still there
        read(client, before[kind])
    for kind in down:  # and the recovered stores take new writes
        read(client, write(client, kind, f"{provider}-after"))
    # The same memio process did all of this: nothing restarted it.
    assert gw.server.process.poll() is None
    assert gw.server.process.pid == gw.pid


# --- Chroma ------------------------------------------------------------------------------------


def test_chroma_outage_and_recovery(gateway: Gateway) -> None:
    chroma = gateway.chroma
    port, path = chroma.port, chroma.path

    def start() -> None:
        chroma.start()  # same path and port: same data, same URL
        assert (chroma.port, chroma.path) == (port, path)

    run_outage(gateway, provider="chroma", down=CHROMA_KINDS, stop=chroma.stop, start=start)


# --- PostgreSQL (disruptive) -------------------------------------------------------------------


_SKIP_DISRUPTIVE = disruptive_skip_reason()


@pytest.mark.disruptive
@pytest.mark.skipif(_SKIP_DISRUPTIVE is not None, reason=_SKIP_DISRUPTIVE or "")
def test_postgres_outage_and_recovery(gateway: Gateway) -> None:
    version = cluster_versions()[-1]

    def start() -> None:
        if not postgres_ready(gateway.postgres_dsn):
            pg_ctl(version, "start")
        wait_for_postgres(gateway.postgres_dsn)

    run_outage(
        gateway,
        provider="postgres",
        down=POSTGRES_KINDS,
        stop=lambda: pg_ctl(version, "stop", "-m", "fast"),
        start=start,
    )
