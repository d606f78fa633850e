"""Per-request time limit: a request still running after `seconds` is answered 504.

The handler is cancelled; a provider call already running in a worker thread finishes there on
its own, but the client is not kept waiting and the connection is freed.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memio.server.errors import error_response

__all__ = ["TimeoutMiddleware"]


class TimeoutMiddleware:
    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        with anyio.move_on_after(self.seconds) as deadline:
            await self.app(scope, receive, send_tracking)
        if deadline.cancelled_caught and not started:
            detail = f"request took longer than {self.seconds:g} s"
            await error_response(scope, 504, detail)(scope, receive, send)
