"""`SyncMemio`: the async stores for synchronous code (scripts, Flask/Django views, notebooks).

Each `SyncMemio` owns one event loop running in a private daemon thread; every store call is
sent to that loop and waited for, so the stores (and the pooled httpx client of a remote one)
always live on the loop they were made for, whichever thread calls. This is how async-first
SDKs usually offer a blocking API without writing every method twice; it is safe to call from
several threads at once, and from code that is itself inside a running event loop (the call
blocks that loop, so async code should use `Memio` directly).

    with memio.connect_sync("http://127.0.0.1:8080") as memio:
        memio.facts.add(content="prefers dark mode", user_id="alice")
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any

from memio.client import Memio, connect
from memio.protocols import Embedder

__all__ = ["SyncMemio", "connect_sync"]


class _Loop:
    """An event loop running forever in a daemon thread, until `stop`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="memio-sync-loop", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _SyncStore:
    """A store whose async methods block until their result is there."""

    def __init__(self, store: Any, loop: _Loop) -> None:
        self._store = store
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not asyncio.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            if self._loop.loop.is_closed():
                raise RuntimeError("this SyncMemio is closed")
            return self._loop.run(attribute(*args, **kwargs))

        return call


class SyncMemio:
    """`Memio` with blocking methods: ``memio.facts.add(...)`` returns the fact. Build it with
    `connect_sync`, `SyncMemio.local`, or ``SyncMemio(factory)`` for any function returning a
    `Memio` (``SyncMemio(lambda: Memio.from_config("memio-server.yaml"))``); close it (or use
    ``with``) to close the stores and stop its thread."""

    def __init__(self, make: Callable[[], Memio]) -> None:
        self._loop = _Loop()
        try:
            self._memio = self._loop.run(_made(make))
        except BaseException:
            self._loop.stop()
            raise
        self._closed = False

    @classmethod
    def local(
        cls, path: str | Path = "./memio-data", *, embedder: Embedder | None = None
    ) -> SyncMemio:
        return cls(lambda: Memio.local(path, embedder=embedder))

    @property
    def facts(self) -> Any:
        return _SyncStore(self._memio.facts, self._loop)

    @property
    def history(self) -> Any:
        return _SyncStore(self._memio.history, self._loop)

    @property
    def documents(self) -> Any:
        return _SyncStore(self._memio.documents, self._loop)

    @property
    def graph(self) -> Any:
        return _SyncStore(self._memio.graph, self._loop)

    def close(self) -> None:
        """Close every store, then stop the loop's thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run(self._memio.aclose())
        finally:
            self._loop.stop()

    def __enter__(self) -> SyncMemio:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _made(make: Callable[[], Memio]) -> Memio:
    """`make()` run on the loop's thread: stores bind to the loop they are made on."""
    return make()


def connect_sync(url: str, *, api_key: str | None = None, timeout: float = 30.0) -> SyncMemio:
    """`memio.connect` for synchronous code: the same stores, blocking methods."""
    return SyncMemio(lambda: connect(url, api_key=api_key, timeout=timeout))
