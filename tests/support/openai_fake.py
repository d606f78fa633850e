"""A real, local, deterministic OpenAI-compatible HTTP server for tests.

It listens on a free port on 127.0.0.1 in a background thread, so the code under test goes through
its real HTTP client (httpx, the openai SDK, mem0...) and nothing leaves the machine.

Endpoints (OpenAI response shapes):

- ``POST /v1/embeddings``: ``input`` is a string or a list of strings; each text becomes a hashed
  bag-of-words vector (``FakeOpenAI.vector(text, dims)``), L2-normalised, so texts sharing words
  are similar and the same text always gets the same vector. ``dimensions`` in the request
  overrides the server's default size.
- ``POST /v1/chat/completions``: the assistant's content is ``chat_handler(request_json)``
  (default: ``"{}"``). ``"stream": true`` is refused with 400.

Usage::

    from tests.support.openai_fake import FakeOpenAI

    def extract(request: dict) -> str:  # sees the whole request body
        return '{"facts": ["likes tea"]}'

    with FakeOpenAI(chat_handler=extract, dimensions=384) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.count("/v1/chat/completions") == 1
        assert server.requests[-1].json["model"] == "gpt-4o-mini"

    # as a pytest fixture
    @pytest.fixture
    def fake_openai():
        with FakeOpenAI() as server:
            yield server

Failure tests: ``server.fail(503, times=2)`` answers the next two requests (any endpoint) with
that status and an OpenAI-style error body; ``times=None`` keeps failing until ``recover()``;
``retry_after="2"`` adds that ``Retry-After`` header, as a throttling service does.
``requests`` records every request received (failed ones included, each with its monotonic
arrival time); ``reset()`` clears it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "RecordedRequest"]

ChatHandler = Callable[[dict[str, Any]], str]
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    received_at: float = field(default_factory=time.monotonic)
    peer: str = ""  # the client's host:port: one value across requests = one reused connection


class FakeOpenAI:
    """Fake OpenAI-compatible server; see the module docstring for endpoints and usage."""

    def __init__(
        self,
        *,
        chat_handler: ChatHandler | None = None,
        dimensions: int = 384,
        host: str = "127.0.0.1",
    ) -> None:
        self.chat_handler: ChatHandler = chat_handler or (lambda _request: "{}")
        self.dimensions = dimensions
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # (status, times left, message, Retry-After header or None)
        self._failure: tuple[int, int | None, str, str | None] | None = None
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Serve in a daemon thread; the port is already bound, so requests work right away."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # shutdown() waits up to one interval
                name="fake-openai",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- inspection and control --------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as base_url, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self._server.server_address[0]}:{self.port}/v1"

    def count(self, path: str | None = None) -> int:
        """Requests received, all of them or those to `path` (e.g. ``"/v1/embeddings"``)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def fail(
        self,
        status: int,
        *,
        times: int | None = 1,
        message: str = "injected failure",
        retry_after: str | None = None,
    ) -> None:
        """Answer the next `times` requests (None: all until `recover()`) with `status`, and
        with a `Retry-After: <retry_after>` header when one is given."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._failure = (status, times, message, retry_after)

    def recover(self) -> None:
        """Stop injecting failures."""
        with self._lock:
            self._failure = None

    def reset(self) -> None:
        """Forget recorded requests and injected failures."""
        with self._lock:
            self.requests.clear()
            self._failure = None

    @staticmethod
    def vector(text: str, dimensions: int) -> list[float]:
        """The deterministic embedding the server returns for `text` (unit length)."""
        values = [0.0] * dimensions
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % dimensions
            values[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in values))
        if norm == 0.0:  # no words: a fixed unit vector rather than a zero one
            return [1.0] + [0.0] * (dimensions - 1)
        return [v / norm for v in values]

    # -- request handling (called from server threads) ---------------------------------------

    def _record_and_check_failure(
        self, request: RecordedRequest
    ) -> tuple[int, str, str | None] | None:
        with self._lock:
            self.requests.append(request)
            if self._failure is None:
                return None
            status, times, message, retry_after = self._failure
            if times is not None:
                self._failure = (status, times - 1, message, retry_after) if times > 1 else None
            return status, message, retry_after

    def _embeddings(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return 400, _error("input must be a string or a list of strings", "invalid_request")
        dims = int(body.get("dimensions") or self.dimensions)
        tokens = sum(len(_WORD.findall(t)) for t in texts)
        return 200, {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": self.vector(text, dims)}
                for i, text in enumerate(texts)
            ],
            "model": body.get("model", "fake-embedding"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("stream"):
            return 400, _error("the fake server does not stream", "invalid_request")
        content = self.chat_handler(body)
        prompt_tokens = sum(
            len(_WORD.findall(str(m.get("content", "")))) for m in body.get("messages", [])
        )
        completion_tokens = len(_WORD.findall(content))
        return 200, {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-chat"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _respond(
        self, method: str, path: str, headers: dict[str, str], raw: bytes, peer: str = ""
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, JSON body, extra response headers)."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(method, path, headers, body, peer=peer)
        failure = self._record_and_check_failure(request)
        if failure is not None:
            status, message, retry_after = failure
            extra = {"Retry-After": retry_after} if retry_after is not None else {}
            return status, _error(message, "injected"), extra
        routes = {"/v1/embeddings": self._embeddings, "/v1/chat/completions": self._chat}
        route = routes.get(path)
        if method != "POST" or route is None:
            return 404, _error(f"no route {method} {path}", "not_found"), {}
        if not isinstance(body, dict):
            return 400, _error("body must be a JSON object", "invalid_request"), {}
        return *route(body), {}


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real clients expect

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?", 1)[0]
            host, port = self.client_address[:2]
            status, payload, extra = fake._respond(
                self.command, path, headers, raw, f"{host}:{port}"
            )
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            """Silence per-request logging on stderr."""

    return Handler
