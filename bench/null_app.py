"""The HTTP floor: a bare ASGI app that answers every request with a fixed body.

Served by uvicorn with memio-server's settings, it shows what the benchmark client and the HTTP
transport cost on their own, so the gateway overhead can be split into that floor and memio's
own share. The body is a real search response (file named by NULL_APP_BODY), so sizes match.

NULL_APP_DELAY (seconds) makes each answer wait that long in a worker thread first, as a search
does: on this machine a client that waits ~10 ms between sends costs about 1.5 ms more per
request than one answered at once (caches go cold, threads sleep and must be woken). The time
actually waited is measured here; GET /_waited returns its median in ms, to subtract.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

from starlette.types import Receive, Scope, Send

BODY = Path(os.environ["NULL_APP_BODY"]).read_bytes()
DELAY = float(os.environ.get("NULL_APP_DELAY", "0"))
WAITED: list[float] = []


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the request body like a real handler would
        message = await receive()
        more = message.get("more_body", False)
    body = BODY
    if scope["path"] == "/_waited":
        body = json.dumps({"p50_ms": statistics.median(WAITED) * 1000 if WAITED else 0.0}).encode()
    elif DELAY:
        start = time.perf_counter()
        await asyncio.to_thread(time.sleep, DELAY)
        WAITED.append(time.perf_counter() - start)
    await send({"type": "http.response.start", "status": 200, "headers": _headers(body)})
    await send({"type": "http.response.body", "body": body})
