"""HTTP load helpers (httpx, 127.0.0.1 only) and latency statistics.

Every loop is bounded twice: by a request count and by a wall-clock budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import httpx
import numpy as np
import orjson

Request = tuple[str, str, Any]  # method, path, JSON body (or None)


def summarize(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds and the sample count."""
    if not latencies_ms:
        return {
            "n": 0,
            "p50": float("nan"),
            "p95": float("nan"),
            "p99": float("nan"),
            "mean": float("nan"),
        }
    arr = np.asarray(latencies_ms, dtype=float)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "n": len(arr),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "mean": float(arr.mean()),
    }


def client(base_url: str) -> httpx.AsyncClient:
    """A keep-alive client holding one connection.

    Each load worker gets its own: one client pooling 64 connections spent about 10 ms of CPU per
    request in httpx's pool bookkeeping (64 clients of one connection: about 3 ms), on the same 2
    cores as the server under test, which hid most of the difference between two servers.
    """
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120.0)


async def send(http: httpx.AsyncClient, request: Request) -> httpx.Response:
    """One request; the body is encoded with orjson to keep client CPU low. Raises on non-2xx."""
    method, path, body = request
    content = None if body is None else orjson.dumps(body)
    headers = {"content-type": "application/json"} if body is not None else None
    try:
        response = await http.request(method, path, content=content, headers=headers)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        if not path.endswith("/search"):
            raise
        # A keep-alive connection the server closed just as it was reused; searches are
        # idempotent, so send once more on a fresh connection.
        response = await http.request(method, path, content=content, headers=headers)
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
    return response


async def _timed(
    items: Sequence[Any],
    handlers: Sequence[Callable[[Any], Awaitable[Any]]],
    *,
    max_seconds: float,
) -> dict[str, Any]:
    """One concurrent worker per handler, taking `items` from a shared queue until they run out
    or `max_seconds` pass; latency stats (ms), completed count, wall seconds, per second."""
    latencies: list[float] = []
    queue = iter(items)
    deadline = time.perf_counter() + max_seconds

    async def worker(handle: Callable[[Any], Awaitable[Any]]) -> None:
        for item in queue:
            if time.perf_counter() > deadline:
                return
            start = time.perf_counter()
            await handle(item)
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(worker(handle) for handle in handlers))
    wall = time.perf_counter() - start
    return {
        **summarize(latencies),
        "completed": len(latencies),
        "seconds": wall,
        "rps": len(latencies) / wall if wall else 0.0,
        "connections": len(handlers),
        "_raw": latencies,
    }


async def run_load(
    base_url: str,
    requests: Sequence[Request],
    *,
    connections: int,
    max_seconds: float,
) -> dict[str, Any]:
    """Send `requests` from `connections` concurrent workers, each on its own keep-alive
    connection; stop early at `max_seconds`."""
    clients = [client(base_url) for _ in range(connections)]
    try:
        senders = [partial(send, http) for http in clients]
        return await _timed(requests, senders, max_seconds=max_seconds)
    finally:
        for http in clients:
            await http.aclose()


async def run_calls(
    calls: Sequence[Callable[[], Awaitable[Any]]], *, concurrency: int, max_seconds: float
) -> dict[str, Any]:
    """The in-process twin of `run_load`: await `calls` with `concurrency` workers."""
    return await _timed(calls, [lambda call: call()] * concurrency, max_seconds=max_seconds)


async def post_batches(
    base_url: str,
    path: str,
    key: str,
    items: Sequence[dict],
    *,
    size: int,
    connections: int = 1,
    max_seconds: float = 1800.0,
) -> dict[str, Any]:
    """POST `items` to a batch route `size` at a time; items per second."""
    requests = [
        ("POST", path, {key: list(items[i : i + size])}) for i in range(0, len(items), size)
    ]
    result = await run_load(base_url, requests, connections=connections, max_seconds=max_seconds)
    done = min(len(items), result["completed"] * size)
    return {**result, "items": done, "items_per_s": done / result["seconds"]}


async def post_each(
    base_url: str,
    path: str,
    items: Sequence[dict],
    *,
    connections: int,
    max_seconds: float = 1800.0,
) -> dict[str, Any]:
    """POST every item on its own (the only ingest route memio 0.3.1 has)."""
    result = await run_load(
        base_url,
        [("POST", path, item) for item in items],
        connections=connections,
        max_seconds=max_seconds,
    )
    return {
        **result,
        "items": result["completed"],
        "items_per_s": result["completed"] / result["seconds"],
    }


def pool(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several rounds of one measurement as one: percentiles over all samples, summed counts and
    time (so rps is the overall rate), each round's own p50 and rps kept for the record."""
    raw = [x for run in runs for x in run["_raw"]]
    completed = sum(run["completed"] for run in runs)
    seconds = sum(run["seconds"] for run in runs)
    return {
        **summarize(raw),
        "completed": completed,
        "seconds": seconds,
        "rps": completed / seconds if seconds else 0.0,
        "connections": runs[0]["connections"],
        "rounds": [{"p50": run["p50"], "rps": run["rps"]} for run in runs],
        "_raw": raw,
    }
