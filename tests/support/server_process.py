"""Run memio-server as a real subprocess on a free loopback port, for end-to-end tests.

    with run_server({"stores": {"facts": {"provider": "memory"}}}) as server:
        httpx.get(f"{server.base_url}/health")

The process gets the test environment minus any MEMIO_* variables (plus `env`), runs in a fresh
temporary directory (so the default ./memio-data never lands in the repo), and is terminated
(SIGTERM, then SIGKILL) when the block ends. Its stderr goes to a file whose text is included in
every startup failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

__all__ = ["ServerProcess", "free_port", "run_server", "server_env"]


@dataclass
class ServerProcess:
    base_url: str
    process: subprocess.Popen[bytes]
    port: int
    config_path: Path
    stderr_path: Path
    workdir: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without MEMIO_* settings, plus `env`."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("MEMIO_")}
    return {**clean, **(env or {})}


@contextmanager
def run_server(
    config: Mapping[str, Any] | str | Path,
    *,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    command: Sequence[str] | None = None,
    startup_timeout: float = 60.0,
) -> Iterator[ServerProcess]:
    """Start the server and wait (at most `startup_timeout` s) until GET /health answers 200.

    `config` is a dict (written as YAML) or the path of a YAML file. `command` replaces
    ``python -m memio.server`` (e.g. a fresh virtualenv's ``memio-server``)."""
    with tempfile.TemporaryDirectory(prefix="memio-server-") as tmp:
        workdir = Path(tmp)
        if isinstance(config, Mapping):
            config_path = workdir / "memio-server.yaml"
            config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        else:
            config_path = Path(config).resolve()
        port = port or free_port()
        stderr_path = workdir / "stderr.log"
        argv = [*(command or [sys.executable, "-m", "memio.server"])]
        argv += ["--config", str(config_path), "--port", str(port)]
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                env=server_env(env),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        server = ServerProcess(
            base_url=f"http://127.0.0.1:{port}",
            process=process,
            port=port,
            config_path=config_path,
            stderr_path=stderr_path,
            workdir=workdir,
        )
        try:
            _wait_until_healthy(server, startup_timeout)
            yield server
        finally:
            _stop(process)


def _wait_until_healthy(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"memio-server exited with status {server.process.returncode} before answering "
                f"/health; stderr:\n{server.stderr()}"
            )
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"memio-server did not answer /health within {timeout:g} s; stderr:\n"
                f"{server.stderr()}"
            )
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
