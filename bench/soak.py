"""Soak: minutes of mixed load on the embedded defaults; server memory, errors and latencies.

`python -m bench soak --minutes 10 --connections 32` (results: bench/results/<name>.json, default
`soak`; section 7 of docs/benchmarks.md). One memio-server (a real process) on a fresh data dir
with the embedded defaults (chroma facts and documents, sqlite history, networkx graph) is seeded
(documents and facts through the batch routes), then `connections` workers, each one user on its
own keep-alive connection, send a random mix of every store's reads, searches and writes
(`MIX`) for `--warm-up` seconds and then for `--minutes`. The server's RSS is read from /proc at
the end of the warm-up (the baseline), every `SAMPLE_SECONDS` and at the end; per-operation
latency p50/p95/p99 and error counts cover the measured minutes only.

With `--tracemalloc` the server runs under `bench/traced_server.py` and writes a tracemalloc
snapshot at the baseline and at the end; the result then lists the allocation sites that grew
most between the two (Python allocations only: the ONNX runtime and Chroma's Rust core are
outside it, which is itself an answer when RSS grows and Python's heap does not).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import corpus, servers
from bench.common import RESULTS, fresh_dir, load_sampler, save_to
from bench.crash import server_config
from bench.http import client, post_batches, summarize

SAMPLE_SECONDS = 10.0
SEED_DOCUMENTS = 2_000
SEED_FACTS = 1_000

# Operation -> weight (share of requests). Writes 40%, searches 30%, reads 30%.
MIX = {
    "fact_add": 8,
    "fact_update": 6,
    "history_append": 8,
    "document_add": 5,
    "document_upsert": 5,
    "graph_add": 8,
    "fact_search": 9,
    "document_search": 9,
    "history_search": 6,
    "graph_search": 6,
    "fact_get": 5,
    "fact_list": 4,
    "fact_history": 4,
    "document_get": 5,
    "history_get": 6,
    "graph_entity": 6,
}
WRITES = (
    "fact_add",
    "fact_update",
    "history_append",
    "document_add",
    "document_upsert",
    "graph_add",
)


class Texts:
    """Endless distinct texts and queries (no cache hit, no repeated fact)."""

    def __init__(self, seed: int) -> None:
        self.sentences = corpus.facts(5_000, seed=seed)
        self.queries = corpus.queries(20_000, seed=seed + 1)
        self.n = 0

    def text(self, tag: str) -> str:
        self.n += 1
        return f"{self.sentences[self.n % len(self.sentences)]} ({tag} {self.n})"

    def query(self) -> str:
        self.n += 1
        base = self.queries[self.n % len(self.queries)]
        return base if self.n < len(self.queries) else f"{base} {self.n}"


class Stats:
    """Latencies (ms) and errors per operation, only while `measuring`."""

    def __init__(self) -> None:
        self.measuring = False
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.minute: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.started = 0.0

    def start(self) -> None:
        self.measuring = True
        self.started = time.perf_counter()

    def record(self, op: str, ms: float) -> None:
        if self.measuring:
            self.latencies[op].append(ms)
            self.minute[op].append((time.perf_counter() - self.started, ms))

    def error(self, op: str, detail: str) -> None:
        if self.measuring:
            self.errors[op] += 1
            self.examples.setdefault(op, detail[:300])


class Worker:
    """One user's mixed load over its own connection."""

    def __init__(self, http: httpx.AsyncClient, index: int, texts: Texts, stats: Stats, seed: int):
        self.http = http
        self.user = f"soak-u{index}"
        self.texts = texts
        self.stats = stats
        self.rng = random.Random(seed)
        self.facts: list[str] = []
        self.documents: list[str] = []
        self.sessions: list[str] = []
        self.entities: list[str] = []
        self.n = 0

    async def run(self, deadline: float) -> None:
        names, weights = list(MIX), list(MIX.values())
        while time.perf_counter() < deadline:
            op = self.rng.choices(names, weights)[0]
            method, path, body = getattr(self, op)()
            start = time.perf_counter()
            try:
                response = await self.http.request(
                    method,
                    path,
                    content=None if body is None else orjson.dumps(body),
                    headers=None if body is None else {"content-type": "application/json"},
                )
            except httpx.HTTPError as exc:
                self.stats.error(op, f"{type(exc).__name__}: {exc}")
                continue
            ms = (time.perf_counter() - start) * 1000
            if response.status_code >= 300:
                self.stats.error(op, f"HTTP {response.status_code} {response.text}")
                continue
            self.stats.record(op, ms)
            self._remember(op, response)

    def _remember(self, op: str, response: httpx.Response) -> None:
        if op == "fact_add":
            self.facts.append(response.json()["id"])

    # --- requests: (method, path, JSON body) ------------------------------------------------------

    def _pick(self, items: list[str], fallback: str) -> str:
        return self.rng.choice(items) if items else fallback

    def fact_add(self) -> tuple:
        body = {"content": self.texts.text(self.user), "user_id": self.user, "metadata": {"k": 1}}
        return "POST", "/v1/facts", body

    def fact_update(self) -> tuple:
        if not self.facts:
            return self.fact_add()
        body = {"content": self.texts.text("updated"), "metadata": {"k": self.rng.randint(1, 9)}}
        return "PUT", f"/v1/facts/{self.rng.choice(self.facts)}", body

    def fact_get(self) -> tuple:
        if not self.facts:
            return self.fact_list()
        return "GET", f"/v1/facts/{self.rng.choice(self.facts)}", None

    def fact_list(self) -> tuple:
        return "GET", f"/v1/facts?user_id={self.user}&limit=20", None

    def fact_history(self) -> tuple:
        if not self.facts:
            return self.fact_list()
        return "GET", f"/v1/facts/{self.rng.choice(self.facts)}/history", None

    def fact_search(self) -> tuple:
        body = {"query": self.texts.query(), "user_id": self.user, "limit": 10}
        return "POST", "/v1/facts/search", body

    def document_add(self) -> tuple:
        self.n += 1
        doc_id = f"{self.user}-d{self.n}"
        self.documents.append(doc_id)
        body = {"doc_id": doc_id, "content": self.texts.text(self.user), "metadata": {"n": self.n}}
        return "POST", "/v1/documents", body

    def document_upsert(self) -> tuple:
        self.n += 1
        ids = self.rng.sample(self.documents, min(len(self.documents), self.rng.randint(0, 2)))
        ids.append(f"{self.user}-d{self.n}")
        self.documents.append(ids[-1])
        docs = [{"doc_id": i, "content": self.texts.text("upsert"), "metadata": {}} for i in ids]
        return "PUT", "/v1/documents/batch", {"documents": docs}

    def document_get(self) -> tuple:
        return "GET", f"/v1/documents/{self._pick(self.documents, 'doc-1')}", None

    def document_search(self) -> tuple:
        return "POST", "/v1/documents/search", {"query": self.texts.query(), "limit": 10}

    def history_append(self) -> tuple:
        if not self.sessions or self.rng.random() < 0.05:
            self.sessions.append(f"{self.user}-s{len(self.sessions)}")
        messages = [
            {"role": role, "content": self.texts.text("message")}
            for role in ("user", "assistant")[: self.rng.randint(1, 2)]
        ]
        body = {"messages": messages, "user_id": self.user}
        return "POST", f"/v1/history/sessions/{self.sessions[-1]}/messages", body

    def history_get(self) -> tuple:
        if not self.sessions:
            return self.history_append()
        path = f"/v1/history/sessions/{self.rng.choice(self.sessions)}/messages?limit=50"
        return "GET", path, None

    def history_search(self) -> tuple:
        if not self.sessions:
            return self.history_append()
        body = {"query": self.texts.query(), "limit": 10, "user_id": self.user}
        return "POST", f"/v1/history/sessions/{self.rng.choice(self.sessions)}/search", body

    def graph_add(self) -> tuple:
        self.n += 1
        subject = f"{self.user}-e{self.n}"
        target = self._pick(self.entities, f"{self.user}-root")
        self.entities.append(subject)
        triple = {"subject": subject, "predicate": "relates_to", "object": target}
        return "POST", "/v1/graph/triples", {"triples": [triple], "user_id": self.user}

    def graph_entity(self) -> tuple:
        if not self.entities:
            return self.graph_add()
        entity = self.rng.choice(self.entities)
        return "GET", f"/v1/graph/entities/{entity}?user_id={self.user}", None

    def graph_search(self) -> tuple:
        body = {"query": self.texts.query(), "user_id": self.user, "limit": 10}
        return "POST", "/v1/graph/search", body


class RssSampler:
    """VmRSS of a process every `every` seconds, in a thread, as (seconds since start, MiB)."""

    def __init__(self, server: servers.Server, every: float = SAMPLE_SECONDS) -> None:
        self.server = server
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.started = 0.0

    def sample(self) -> float:
        mib = self.server.rss_mib()
        self.samples.append((time.perf_counter() - self.started, mib))
        return mib

    def _loop(self) -> None:
        while not self._done.wait(self.every):
            self.sample()

    def start(self) -> float:
        """The first sample (returned); then one every `every` seconds until `stop`."""
        self.started = time.perf_counter()
        self._thread.start()
        return self.sample()

    def stop(self) -> float:
        """The last sample (returned)."""
        self._done.set()
        self._thread.join()
        return self.sample()


async def _load(
    base_url: str,
    connections: int,
    phases: list[tuple[float, Any]],
    texts: Texts,
    stats: Stats,
    seed: int,
) -> None:
    """The same workers (users, connections, what they wrote) through every (seconds, on_start)
    phase in turn; `on_start` runs in a thread before its phase."""
    clients = [client(base_url) for _ in range(connections)]
    workers = [Worker(http, i, texts, stats, seed * 1000 + i) for i, http in enumerate(clients)]
    try:
        for seconds, on_start in phases:
            if on_start is not None:
                await asyncio.to_thread(on_start)
            deadline = time.perf_counter() + seconds
            await asyncio.gather(*(worker.run(deadline) for worker in workers))
    finally:
        for http in clients:
            await http.aclose()


def _seed(base_url: str, seed: int) -> dict[str, Any]:
    docs = corpus.document_payloads(corpus.documents(SEED_DOCUMENTS, seed=seed))
    facts = corpus.fact_payloads(corpus.facts(SEED_FACTS, seed=seed + 2))
    out = {}
    out["documents"] = asyncio.run(
        post_batches(base_url, "/v1/documents/batch", "documents", docs, size=500)
    )["items"]
    out["facts"] = asyncio.run(post_batches(base_url, "/v1/facts/batch", "facts", facts, size=500))[
        "items"
    ]
    return out


def _counts(base_url: str) -> dict[str, Any]:
    stores = httpx.get(f"{base_url}/status", timeout=60).json()["stores"]
    return {kind: value.get("count") for kind, value in stores.items()}


def _ops_summary(stats: Stats, seconds: float) -> dict[str, Any]:
    out = {}
    for op in MIX:
        lat = stats.latencies.get(op, [])
        out[op] = {
            **summarize(lat),
            "errors": stats.errors.get(op, 0),
            "per_s": len(lat) / seconds if seconds else 0.0,
        }
        out[op]["per_minute_p50"] = _per_minute_p50(stats.minute.get(op, []), seconds)
    return out


def _per_minute_p50(points: list[tuple[float, float]], seconds: float) -> list[float]:
    minutes = max(1, round(seconds / 60))
    buckets: list[list[float]] = [[] for _ in range(minutes)]
    for t, ms in points:
        buckets[min(int(t // 60), minutes - 1)].append(ms)
    return [summarize(b)["p50"] for b in buckets]


def _tracemalloc_diff(first: Path, last: Path, top: int = 25) -> list[dict[str, Any]]:
    import tracemalloc

    old = tracemalloc.Snapshot.load(str(first))
    new = tracemalloc.Snapshot.load(str(last))
    stats = new.compare_to(old, "traceback")
    out = []
    for stat in stats[:top]:
        frames = [f"{frame.filename}:{frame.lineno}" for frame in stat.traceback[-6:]]
        out.append(
            {
                "size_diff_kib": stat.size_diff / 1024,
                "count_diff": stat.count_diff,
                "size_kib": stat.size / 1024,
                "traceback": frames,
            }
        )
    return out


def soak(
    workdir: Path,
    *,
    minutes: float,
    connections: int,
    warm_up: float,
    seed: int,
    tracemalloc: bool = False,
) -> dict[str, Any]:
    """One soak in a fresh `workdir`; the record saved as JSON."""
    config = servers.write_config(
        workdir / "memio-server.yaml", server_config(workdir / "data", "embedded", None)
    )
    port = servers.free_port()
    argv = servers.memio_command(config, port)
    env = None
    snapshots = workdir / "snapshots"
    if tracemalloc:
        argv = [argv[0], "-m", "bench.traced_server", *argv[3:]]
        snapshots.mkdir(parents=True, exist_ok=True)
        env = {"BENCH_TRACEMALLOC_DIR": str(snapshots), "PYTHONPATH": str(Path.cwd())}
    record: dict[str, Any] = {
        "minutes": minutes,
        "connections": connections,
        "warm_up_s": warm_up,
        "seed": seed,
        "mix": MIX,
        "tracemalloc": tracemalloc,
    }
    with servers.run("soak", argv, port, workdir, env=env) as server:
        servers.wait_for(server, "/ready")
        record["rss_idle_mib"] = server.rss_mib()
        record["seeded"] = _seed(server.base_url, seed)
        texts = Texts(seed)
        stats = Stats()
        seconds = minutes * 60
        snapshot_files: list[Path] = []
        marks: list[tuple[float, float]] = []
        rss = RssSampler(server)

        def snapshot() -> None:
            if not tracemalloc:
                return
            target = snapshots / f"{len(snapshot_files) + 1}.snapshot"
            os.kill(server.process.pid, signal.SIGUSR1)
            deadline = time.time() + 120
            while not target.exists() and time.time() < deadline:
                time.sleep(0.2)
            snapshot_files.append(target)

        def minute_marks() -> None:
            for minute in range(1, int(minutes) + 1):
                time.sleep(max(0.0, stats.started + minute * 60 - time.perf_counter()))
                if not stats.measuring:
                    return
                marks.append((minute, server.rss_mib()))
                print(f"[soak] minute {minute}: RSS {marks[-1][1]:.0f} MiB", flush=True)

        def begin() -> None:
            """End of the warm-up: the baseline, then the measured minutes start."""
            record["counts_start"] = _counts(server.base_url)
            snapshot()
            record["server_cpu_start_s"] = server.cpu_seconds()
            record["rss_start_mib"] = rss.start()
            print(f"[soak] RSS after warm-up {record['rss_start_mib']:.0f} MiB", flush=True)
            stats.start()
            threading.Thread(target=minute_marks, daemon=True).start()

        print(f"[soak] seeded {record['seeded']}; warm-up {warm_up:g} s", flush=True)
        with load_sampler(record):
            asyncio.run(
                _load(
                    server.base_url,
                    connections,
                    [(warm_up, None), (seconds, begin)],
                    texts,
                    stats,
                    seed,
                )
            )
            stats.measuring = False
            record["measured_s"] = time.perf_counter() - stats.started
            record["server_cpu_s"] = server.cpu_seconds() - record.pop("server_cpu_start_s")
            record["rss_end_mib"] = rss.stop()
            snapshot()
        record["rss_per_minute_mib"] = marks
        record["rss_samples"] = rss.samples
        record["rss_max_mib"] = max(mib for _, mib in rss.samples)
        record["rss_growth_pct"] = 100 * (record["rss_end_mib"] / record["rss_start_mib"] - 1)
        record["counts_end"] = _counts(server.base_url)
        record["ops"] = _ops_summary(stats, record["measured_s"])
        requests = sum(op["n"] + op["errors"] for op in record["ops"].values())
        record["requests"] = requests
        record["server_cpu_ms_per_request"] = 1000 * record["server_cpu_s"] / max(1, requests)
        record["errors"] = dict(stats.errors)
        record["error_examples"] = stats.examples
        if tracemalloc and len(snapshot_files) == 2 and all(p.exists() for p in snapshot_files):
            record["tracemalloc_top"] = _tracemalloc_diff(*snapshot_files)
    return record


def main(options: Mapping[str, Any]) -> dict[str, Any]:
    """The CLI: options from `python -m bench soak` (see bench/__main__.py)."""
    workdir = fresh_dir(RESULTS / "work" / options["name"])
    record = soak(
        workdir,
        minutes=options["minutes"],
        connections=options["connections"],
        warm_up=options["warm_up"],
        seed=options["seed"],
        tracemalloc=options["tracemalloc"],
    )
    path = save_to(RESULTS / f"{options['name']}.json", record)
    print(
        f"[soak] RSS {record['rss_start_mib']:.0f} -> {record['rss_end_mib']:.0f} MiB "
        f"({record['rss_growth_pct']:+.1f}%), max {record['rss_max_mib']:.0f}; "
        f"errors {sum(record['errors'].values())}; {record['requests']} requests "
        f"({record['requests'] / record['measured_s']:.1f}/s), server CPU "
        f"{record['server_cpu_ms_per_request']:.1f} ms per request; {path}"
    )
    for op, s in record["ops"].items():
        print(
            f"[soak]   {op:16s} n={s['n']:6d} err={s['errors']:3d} p50={s['p50']:8.1f} "
            f"p95={s['p95']:8.1f} ms"
        )
    return record
