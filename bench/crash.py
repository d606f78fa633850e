"""Crash test: every acknowledged write survives a SIGKILL of the server.

`python -m bench crash --trials 20 --profile embedded|postgres` (results: bench/results/
crash-<profile>.json, section 6 of docs/benchmarks.md); tests/server/test_crash_recovery.py runs
a few short trials of the same code in CI.

One data directory per run. memio-server (a real process) starts on it; then every trial runs
`writers` concurrent writers (bench/ledger.py: fact adds and updates, history appends, document
adds and upserts, graph triple adds, each writer one user and one keep-alive connection), SIGKILLs
the server at a random moment of the load, starts it again on the same data and checks:
- a clean start: the process stays up, /ready answers 200, its log holds no traceback or error;
- every write any trial so far got a 2xx for is stored as acknowledged, and the fact history holds
  each acknowledged ADD and UPDATE (`ledger.verify`);
- nothing no writer sent is stored.
Trials chain on the same data, so later trials also update facts and documents written before
earlier crashes, and each check covers everything acknowledged since the run began.

Profiles (`PROFILES`): `embedded` is the embedded defaults (chroma facts and documents, sqlite
history, networkx graph); `postgres` puts all four stores on PostgreSQL (`--dsn`, a throw-away
schema dropped afterwards); facts and documents use `--vector-dsn` when given (a PostgreSQL with
pgvector; default `--dsn`).
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import servers
from bench.http import client
from bench.ledger import Ledger, Verdict, Writer, verify

PROFILES: dict[str, dict[str, str]] = {
    "embedded": {
        "facts": "chroma",
        "documents": "chroma",
        "history": "sqlite",
        "graph": "networkx",
    },
    "postgres": {
        "facts": "postgres",
        "documents": "postgres",
        "history": "postgres",
        "graph": "postgres",
    },
}
VECTOR_KINDS = ("facts", "documents")  # on `vector_dsn` when their provider is postgres
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
READY_TIMEOUT = 120.0
# What a clean start never logs (uvicorn and memio log failures at ERROR, with a traceback).
_UNCLEAN = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b")


@dataclass(frozen=True)
class Postgres:
    """Where the postgres providers of a profile keep their data."""

    dsn: str
    schema: str
    vector_dsn: str | None = None

    def config(self, kind: str) -> dict[str, Any]:
        dsn = self.vector_dsn if kind in VECTOR_KINDS and self.vector_dsn else self.dsn
        return {"dsn": dsn, "schema": self.schema}


def server_config(data_dir: Path, profile: str, postgres: Postgres | None) -> dict[str, Any]:
    stores: dict[str, Any] = {}
    for kind, provider in PROFILES[profile].items():
        entry: dict[str, Any] = {"provider": provider}
        if provider == "postgres":
            if postgres is None:
                raise ValueError(f"profile {profile!r} needs PostgreSQL for {kind}")
            entry["config"] = postgres.config(kind)
        stores[kind] = entry
    return {
        "data_dir": str(data_dir),
        "stores": stores,
        "server": {"limits": {"request_timeout_seconds": READY_TIMEOUT}},
    }


def uses_postgres(profile: str) -> bool:
    return "postgres" in PROFILES[profile].values()


class CrashRun:
    """One data dir, one server at a time, trials chained on the same data."""

    def __init__(
        self,
        workdir: Path,
        *,
        profile: str = "embedded",
        writers: int = 32,
        load_seconds: tuple[float, float] = (3.0, 12.0),
        seed: int | None = None,
        postgres: Postgres | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.workdir = workdir.resolve()
        self.profile = profile
        self.load_seconds = load_seconds
        self.seed = secrets.randbits(32) if seed is None else seed
        self.rng = random.Random(self.seed)
        self.log = log
        self.config_path = servers.write_config(
            self.workdir / "memio-server.yaml",
            server_config(self.workdir / "data", profile, postgres),
        )
        self.port = servers.free_port()
        run = secrets.token_hex(3)
        self.ledgers = [Ledger(f"crash-{run}-w{i}") for i in range(writers)]
        self.launches = 0
        self.server: servers.Server | None = None
        self.trials: list[dict[str, Any]] = []

    # --- server ---------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Start memio-server on the data dir; wait for /ready. Timings and whether it was clean."""
        self.launches += 1
        argv = servers.memio_command(self.config_path, self.port)
        server = servers.spawn(f"server-{self.launches}", argv, self.port, self.workdir)
        self.server = server
        ready = servers.wait_for(server, "/ready", timeout=READY_TIMEOUT)
        time.sleep(0.2)  # a start-up failure logged just after /ready still counts
        text = server.log.read_text(errors="replace")
        unclean = [line for line in text.splitlines() if _UNCLEAN.search(line)]
        return {
            "ready_s": ready,
            "running": server.process.poll() is None,
            "clean": not unclean and server.process.poll() is None,
            "log_errors": unclean[:5],
        }

    def stop(self) -> None:
        if self.server is not None:
            servers.stop(self.server.process)
            self.server = None

    # --- trials ---------------------------------------------------------------------------------

    async def _load(self, trial: int, seconds: float, *, kill: bool) -> float:
        """Run the writers for `seconds`, then SIGKILL the server (`kill`) or let the writers
        finish their requests; seconds of load."""
        assert self.server is not None
        stop = asyncio.Event()
        clients = [client(self.server.base_url) for _ in self.ledgers]
        writers = [
            Writer(http, ledger, rng=random.Random(self.rng.random()), trial=trial)
            for http, ledger in zip(clients, self.ledgers, strict=True)
        ]
        tasks = [asyncio.create_task(writer.run(stop)) for writer in writers]
        started = time.perf_counter()
        try:
            await asyncio.sleep(seconds)
            if self.server.process.poll() is not None:
                raise RuntimeError(f"the server died on its own under load; see {self.server.log}")
            if kill:
                self.server.process.kill()  # SIGKILL: no shutdown handler runs
                self.server.process.wait()
            elapsed = time.perf_counter() - started
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            for http in clients:
                await http.aclose()
        return elapsed

    def load(self, seconds: float) -> None:
        """Writers for `seconds`, no kill (every request answered): for checking the check."""
        if self.server is None:
            self.start()
        asyncio.run(self._load(0, seconds, kill=False))

    def check(self) -> Verdict:
        """Read everything back and compare it with the ledgers."""
        assert self.server is not None
        return asyncio.run(verify(self.server.base_url, self.ledgers))

    def trial(self) -> dict[str, Any]:
        """One trial: load, SIGKILL, restart, verify. Returns its record."""
        if self.server is None:
            self.start()
        number = len(self.trials) + 1
        before = sum((ledger.acknowledged for ledger in self.ledgers), Counter())
        errors_before = sum(len(ledger.errors) for ledger in self.ledgers)
        delay = self.rng.uniform(*self.load_seconds)
        killed_after = asyncio.run(self._load(number, delay, kill=True))
        after = sum((ledger.acknowledged for ledger in self.ledgers), Counter())
        acknowledged = after - before
        restart = self.start()
        verdict = self.check()
        errors = [e for ledger in self.ledgers for e in ledger.errors][errors_before:]
        record = {
            "trial": number,
            "killed_after_s": killed_after,
            "acknowledged": sum(acknowledged.values()),
            "acknowledged_by_operation": dict(acknowledged),
            "acknowledged_total": sum(after.values()),
            "http_errors": len(errors),
            "http_error_examples": errors[:5],
            **restart,
            **verdict.summary(),
        }
        self.trials.append(record)
        self.log(
            f"[crash] trial {number}: killed after {killed_after:.1f} s, "
            f"{record['acknowledged']} acknowledged ({record['acknowledged_total']} in all, "
            f"{record['records_checked']} records checked), lost {record['lost']}, "
            f"phantom {record['phantom']}, torn {len(record['torn'])}, "
            f"ready in {record['ready_s']:.2f} s, "
            f"{'clean' if record['clean'] else 'NOT CLEAN'}, http errors {len(errors)}"
        )
        seen = {torn for earlier in self.trials[:-1] for torn in earlier["torn"]}
        for example in [*record["examples"], *(t for t in record["torn"] if t not in seen)]:
            self.log(f"[crash]   {example}")
        return record

    def summary(self) -> dict[str, Any]:
        trials = self.trials
        ready = sorted(t["ready_s"] for t in trials)
        return {
            "profile": self.profile,
            "stores": PROFILES[self.profile],
            "writers": len(self.ledgers),
            "load_seconds": list(self.load_seconds),
            "seed": self.seed,
            "trials": trials,
            "totals": {
                "trials": len(trials),
                "acknowledged": sum(t["acknowledged"] for t in trials),
                "lost": sum(t["lost"] for t in trials),
                "phantom": sum(t["phantom"] for t in trials),
                # torn records stay torn: count each once
                "torn": len({torn for t in trials for torn in t["torn"]}),
                "http_errors": sum(t["http_errors"] for t in trials),
                "unclean_starts": sum(not t["clean"] for t in trials),
                "ready_s_median": ready[len(ready) // 2] if ready else None,
                "ready_s_max": ready[-1] if ready else None,
            },
        }


def run(
    workdir: Path,
    trials: int,
    **options: Any,
) -> dict[str, Any]:
    """`trials` chained trials in a fresh `workdir`; the run's summary."""
    crash = CrashRun(workdir, **options)
    try:
        for _ in range(trials):
            crash.trial()
    finally:
        crash.stop()
    return crash.summary()


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main(options: Mapping[str, Any]) -> dict[str, Any]:
    """The CLI: options from `python -m bench crash` (see bench/__main__.py)."""
    from bench.common import RESULTS, fresh_dir, load_sampler, save_to

    profile = options["profile"]
    postgres = None
    if uses_postgres(profile):
        schema = f"memio_crash_{secrets.token_hex(4)}"
        postgres = Postgres(options["dsn"], schema, options.get("vector_dsn"))
    record: dict[str, Any] = {}
    workdir = fresh_dir(RESULTS / "work" / f"crash-{profile}")
    try:
        with load_sampler(record):
            record.update(
                run(
                    workdir,
                    options["trials"],
                    profile=profile,
                    writers=options["writers"],
                    load_seconds=options["load_seconds"],
                    seed=options.get("seed"),
                    postgres=postgres,
                )
            )
    finally:
        if postgres is not None:
            drop_schema(postgres.dsn, postgres.schema)
    path = save_to(RESULTS / f"crash-{profile}.json", record)
    totals = record["totals"]
    print(
        f"[crash] {totals['trials']} trials, {totals['acknowledged']} acknowledged writes, "
        f"lost {totals['lost']}, phantom {totals['phantom']}, torn {totals['torn']}, "
        f"unclean starts {totals['unclean_starts']}, ready median {totals['ready_s_median']:.2f} s"
        f" (max {totals['ready_s_max']:.2f} s); {path}"
    )
    return record
