"""A real Chroma server for the tests: `chroma run` (the CLI chromadb installs) on loopback.

`chroma_server` (session) starts one server on a free 127.0.0.1 port with its data in a temporary
directory, waits for its heartbeat and yields a `ChromaServer` (``url``, ``host``, ``port``,
``path``); it stops the server when the session ends. Tests that need to take a server down use
`private_chroma_server` (a fresh server of their own, so the shared one stays up) and its
`stop()` / `start()` / `restart()` (same path and port, so the data and the URL survive).

Chroma's server has no anonymous telemetry of its own; the environment still says
ANONYMIZED_TELEMETRY=False for the Python side. Under ``CI=true`` a server that cannot start is a
failure; locally it is a skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ci import unavailable

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def chroma_executable() -> str | None:
    """The `chroma` CLI next to this interpreter (the venv's), else on PATH."""
    candidate = Path(sys.executable).parent / "chroma"
    if candidate.exists():
        return str(candidate)
    return shutil.which("chroma")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChromaServer:
    """One `chroma run` process; stop/start keep its data directory and port."""

    def __init__(self, path: Path, *, port: int | None = None, log: Path | None = None) -> None:
        self.path = Path(path)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.log = log or self.path.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def heartbeat(self, timeout: float = 1.0) -> bool:
        try:
            response = httpx.get(f"{self.url}/api/v2/heartbeat", timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def start(self) -> None:
        if self.running:
            return
        exe = chroma_executable()
        if exe is None:
            raise RuntimeError("the chroma CLI is not installed (pip install chromadb)")
        self.path.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    exe,
                    "run",
                    "--path",
                    str(self.path),
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"chroma run exited with {self.process.returncode}: {self._log_tail()}"
                )
            if self.heartbeat():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma run did not answer within {START_TIMEOUT}s: {self._log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
        # The port must be free before a restart binds it again.
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and self.heartbeat(timeout=0.2):
            time.sleep(0.1)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _started(path: Path) -> ChromaServer:
    server = ChromaServer(path)
    try:
        server.start()
    except RuntimeError as exc:
        unavailable("a Chroma server", f"could not start a Chroma server: {exc}")
    return server


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    server = _started(tmp_path_factory.mktemp("chroma-server") / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A server of this test's own, for tests that stop and restart it."""
    server = _started(tmp_path / "chroma-server")
    try:
        yield server
    finally:
        server.stop()
