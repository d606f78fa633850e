"""Gateway overhead: documents search over HTTP against DocumentStore.search in-process.

Same data (mode.docs documents), same config, same embedder; distinct, never repeated queries per
measurement, so a query cache cannot flatter either side. Rounds alternate HTTP and in-process.
Each round also measures the floor: the same client against a bare ASGI app (`bench.null_app`)
that answers with a real search response after waiting, in a worker thread, as long as the
round's in-process search took; served by uvicorn like memio-server. Its latency minus the wait is
what the client and the transport cost anyway; the rest of the difference is memio's own share.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

from bench import corpus, ours, servers
from bench.common import ROOT, Mode, load_sampler, save
from bench.http import client, pool, run_calls, run_load, send

NULL_BODY = "null-app-body.json"


def _http(mode: Mode, workdir: Path, seed: int) -> dict[str, Any]:
    with ours.server(workdir) as proc:
        ours.warm_up(proc.base_url)
        (workdir / NULL_BODY).write_bytes(asyncio.run(_one_search(proc.base_url)))
        one = asyncio.run(
            run_load(
                proc.base_url,
                ours.search_requests(corpus.queries(mode.queries, seed=seed)),
                connections=1,
                max_seconds=mode.budget,
            )
        )
        many = asyncio.run(
            run_load(
                proc.base_url,
                ours.search_requests(corpus.queries(mode.burst, seed=seed + 1)),
                connections=64,
                max_seconds=mode.budget,
            )
        )
    return {"c1": one, "c64": many}


async def _one_search(base_url: str) -> bytes:
    async with client(base_url) as http:
        request = ours.search_requests(corpus.queries(1, seed=998))[0]
        return (await send(http, request)).content


def _floor(mode: Mode, workdir: Path, delay_ms: float, seed: int) -> dict[str, Any]:
    """The same 1-connection load against `bench.null_app` (uvicorn, memio-server's settings),
    answering after `delay_ms`; `waited_p50` is the wait it measured."""
    port = servers.free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "bench.null_app:app", "--port", str(port),
        "--no-server-header", "--ws", "none",
    ]  # fmt: skip
    env = {
        "NULL_APP_BODY": str(workdir / NULL_BODY),
        "NULL_APP_DELAY": str(delay_ms / 1000),
        "PYTHONPATH": str(ROOT),
    }
    with servers.run("null-app", argv, port, workdir, env=env):
        requests = ours.search_requests(corpus.queries(mode.queries, seed=seed))
        url = f"http://127.0.0.1:{port}"
        asyncio.run(run_load(url, requests[:50], connections=1, max_seconds=60))  # warm-up
        result = asyncio.run(run_load(url, requests, connections=1, max_seconds=mode.budget))
        return {**result, "waited_p50": httpx.get(f"{url}/_waited").json()["p50_ms"]}


def _inproc(mode: Mode, workdir, seed: int) -> dict[str, Any]:
    with ours.in_process(workdir) as (loop, memio, _):
        docs = memio.documents

        def calls(queries: list[str]) -> list:
            return [lambda q=q: docs.search(query=q, limit=10) for q in queries]

        loop.run_until_complete(
            run_calls(calls(corpus.queries(20, seed=999)), concurrency=1, max_seconds=120)
        )
        one = loop.run_until_complete(
            run_calls(
                calls(corpus.queries(mode.queries, seed=seed)),
                concurrency=1,
                max_seconds=mode.budget,
            )
        )
        many = loop.run_until_complete(
            run_calls(
                calls(corpus.queries(mode.burst, seed=seed + 1)),
                concurrency=64,
                max_seconds=mode.budget,
            )
        )
    return {"c1": one, "c64": many}


def main(mode: Mode) -> dict[str, Any]:
    record: dict[str, Any] = {"docs": mode.docs}
    with load_sampler(record):
        workdir = ours.prepared_documents(mode)
        http_runs, proc_runs, floors = [], [], []
        for r in range(mode.rounds):
            http_runs.append(_http(mode, workdir, seed=100 + 10 * r))
            proc_runs.append(_inproc(mode, workdir, seed=100 + 10 * r))
            floors.append(_floor(mode, workdir, proc_runs[-1]["c1"]["p50"], seed=100 + 10 * r))
        for key in ("c1", "c64"):
            h = pool([run[key] for run in http_runs])
            p = pool([run[key] for run in proc_runs])
            record[key] = {
                "http": h,
                "inproc": p,
                "overhead": {q: h[q] - p[q] for q in ("p50", "p95", "p99")},
            }
        record["floor"] = pool(floors)
        record["floor"]["waited_p50"] = sum(f["waited_p50"] for f in floors) / len(floors)
    save(mode, "overhead", record)
    return record
