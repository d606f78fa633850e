"""Slow clients: how long a connection may take to send its request head.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) and the number of
connections served at once (``limit_concurrency``: beyond it requests are answered 503), and
memio passes ``server.keep_alive_seconds`` and ``server.max_connections`` to those. What it
lacks is a deadline for the request head: a connection that sends nothing, or its headers a
byte at a time (slowloris), is held forever. `http_protocol` adds that deadline to uvicorn's own
HTTP protocol (httptools when installed, else h11): the head must be complete within
``server.header_timeout_seconds`` of the connection opening, or of the first byte of the next
request on a kept-alive connection; otherwise the connection is closed. Bodies and responses are
bounded by ``server.limits.request_timeout_seconds`` once the app runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["http_protocol"]


class _HeadDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    header_timeout: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._awaited_after: Any = None  # the request cycle before the awaited head

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._await_head()

    def data_received(self, data: bytes) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if self._head_deadline is None and idle:  # the first byte of the next request
            self._await_head()
        super().data_received(data)
        if self._head_deadline is not None and self.cycle is not self._awaited_after:
            self._stop_waiting()  # the head is complete: uvicorn started a request cycle

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._awaited_after = self.cycle
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def http_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class, closing connections whose request head is not complete
    within `header_timeout` seconds (pass it as ``uvicorn.run(http=...)``)."""
    return type(
        "HeadDeadlineProtocol", (_HeadDeadlineProtocol,), {"header_timeout": header_timeout}
    )
