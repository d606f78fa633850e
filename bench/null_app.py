"""The HTTP floor: a bare ASGI app that answers every request with a fixed body.

Served by uvicorn with memio-server's settings, it shows what the benchmark client and the HTTP
transport cost on their own, so the gateway overhead can be split into that floor and memio's
own share. The body is a real search response (file named by NULL_APP_BODY), so sizes match.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import Receive, Scope, Send

BODY = Path(os.environ["NULL_APP_BODY"]).read_bytes()
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the request body like a real handler would
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
