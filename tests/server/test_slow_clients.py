"""Slow clients against a real server process over raw sockets: a request head that does not
arrive in time and an idle kept-alive connection are closed; beyond max_connections requests are
answered 503; normal clients are unaffected (memio.server.connections)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server_process import ServerProcess, run_server

HEADER_TIMEOUT = 1.0
KEEP_ALIVE = 1.0
MAX_CONNECTIONS = 6
SLACK = 4.0  # a loaded machine may be slow to close: the point is that it closes at all
STORES = {kind: {"provider": "memory"} for kind in ("facts", "history", "documents", "graph")}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    config = {
        "stores": STORES,
        "server": {
            "header_timeout_seconds": HEADER_TIMEOUT,
            "keep_alive_seconds": KEEP_ALIVE,
            "max_connections": MAX_CONNECTIONS,
        },
    }
    with run_server(config) as process:
        yield process


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> float | None:
    """Seconds until the server closed `sock` (sending `drip` every 0.2 s meanwhile), or None
    if it was still open after `seconds`."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        try:
            if drip:
                sock.sendall(drip)
            sock.settimeout(0.2)
            if sock.recv(65536) == b"":
                return elapsed
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return elapsed
    return None


def _get(sock: socket.socket, path: str = "/health") -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    sock.settimeout(5)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, answer
        answer += chunk
    return answer


def test_a_slowloris_connection_is_closed_after_the_header_timeout(server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n")
        closed = _closed_within(sock, HEADER_TIMEOUT + SLACK, drip=b"X-Slow: 1\r\n")
    assert closed is not None and closed >= HEADER_TIMEOUT * 0.8


def test_a_connection_that_sends_nothing_is_closed(server) -> None:
    with _connect(server) as sock:
        closed = _closed_within(sock, HEADER_TIMEOUT + SLACK)
    assert closed is not None and closed >= HEADER_TIMEOUT * 0.8


def test_a_kept_alive_connection_serves_requests_then_closes_when_idle(server) -> None:
    with _connect(server) as sock:
        assert _get(sock).startswith(b"HTTP/1.1 200")
        time.sleep(KEEP_ALIVE / 3)
        assert _get(sock).startswith(b"HTTP/1.1 200")  # reused within keep_alive
        closed = _closed_within(sock, KEEP_ALIVE + SLACK)
    assert closed is not None


def test_a_slow_second_request_head_is_cut_off_too(server) -> None:
    with _connect(server) as sock:
        assert _get(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /health HTTP/1.1\r\n")  # keep-alive timer stops: the head's starts
        closed = _closed_within(sock, HEADER_TIMEOUT + SLACK, drip=b"X-Slow: 1\r\n")
    assert closed is not None


def test_normal_clients_are_served_while_slow_ones_wait(server) -> None:
    slow = [_connect(server) for _ in range(2)]
    try:
        for sock in slow:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n")
        with _connect(server) as sock:  # a head sent in pieces, each in time
            sock.sendall(b"GET /health HTTP/1.1\r\n")
            time.sleep(HEADER_TIMEOUT / 4)
            sock.sendall(b"Host: test\r\n\r\n")
            sock.settimeout(5)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert httpx.get(f"{server.base_url}/health", timeout=5).status_code == 200
    finally:
        for sock in slow:
            sock.close()


def test_beyond_max_connections_requests_are_answered_503(server) -> None:
    held = [_connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)  # let the server accept them all
        assert httpx.get(f"{server.base_url}/health", timeout=5).status_code == 503
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + SLACK
    while httpx.get(f"{server.base_url}/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.1)
