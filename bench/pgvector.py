"""pgvector beside chroma, and one against three replicas over one PostgreSQL.

`python -m bench pgvector [--quick] [--dsn DSN]` (DSN: a PostgreSQL with pgvector; without it a
throw-away one is started from the tests' cluster code). Results: bench/results/pgvector.json and
section 8 of docs/benchmarks.md (+ docs/benchmarks/pgvector.png), spliced into the page in place.

Stores: facts and documents on embedded chroma, then on postgres (pgvector, HNSW cosine) in a
fresh schema, each grown to the sizes of the run (full: 10,000 then 100,000 documents; facts
stop at the first size). At each size:
- batch ingest: `add_many` in-process, 1,000 per call, with the vectors computed beforehand, so
  the figure is the store's own cost (the embedder, about 100 documents/s on this machine, is the
  same for every provider and is measured in section 3);
- search in-process without embedding (`store.search` with the query vectors precomputed) and
  over HTTP with embedding (`POST /v1/documents/search`, a real server on the same data), both at
  1 connection, p50/p95, every query distinct.
The vectors are embedded once and cached (bench/results/work/vectors/): the first
`mode.embedded` texts of each kind are real MiniLM embeddings, the rest are mixtures of them
(`scale.mixed_vectors`, the same method as section 4), so a 100,000-item run embeds nothing.

Replicas: all four stores on the pgvector schema holding the largest size; 1 then 3 memio-server
processes, the same total connections spread over them round-robin (what a load balancer does),
for document searches (embedding-bound), history appends (database-bound, no embedding) and
fact adds (embedding, a dedup lookup and a transaction with the history event).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench import corpus, ours, servers
from bench.common import Mode, fresh_dir, load_sampler, save
from bench.http import client, run_calls, run_load, send
from bench.scale import mixed_vectors

BACKENDS = ("chroma", "pgvector")
STORE_KINDS = ("facts", "documents", "history", "graph")
PATHS = {"documents": "/v1/documents/search", "facts": "/v1/facts/search"}
BATCH = 1000
REPLICA_CONNECTIONS = 12


def sizes(mode: Mode) -> tuple[int, ...]:
    """10,000 and 100,000 (quick: 1,000 and 2,000)."""
    return mode.scale_sizes[-2:]


def uptime() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- vectors, embedded once -----------------------------------------------------------------


def _embed(texts: list[str]) -> np.ndarray:
    from memio.embeddings import default_embedder

    embedder = default_embedder()
    loop = asyncio.new_event_loop()
    try:
        parts = [
            loop.run_until_complete(embedder.embed(texts[i : i + 256]))
            for i in range(0, len(texts), 256)
        ]
        loop.run_until_complete(embedder.aclose())
    finally:
        loop.close()
    return np.vstack(parts).astype(np.float32)


def cached_vectors(mode: Mode, kind: str, texts: list[str], seed: int) -> dict[str, np.ndarray]:
    """text -> vector for `texts`: the first mode.embedded embedded for real (cached on disk by
    the texts' digest), the rest mixed from those."""
    real_texts = texts[: mode.embedded]
    digest = hashlib.blake2s("\n".join(real_texts).encode(), digest_size=8).hexdigest()
    path = mode.work / "vectors" / f"{kind}-{len(real_texts)}-{digest}.npy"
    if path.exists():
        real = np.load(path)
    else:
        started = time.perf_counter()
        real = _embed(real_texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, real)
        print(
            f"[pgvector] embedded {len(real_texts):,} {kind} in "
            f"{time.perf_counter() - started:.0f} s (cached in {path})",
            flush=True,
        )
    rest = texts[len(real_texts) :]
    vectors = np.vstack([real, mixed_vectors(real, len(rest), seed)]) if rest else real
    return dict(zip(texts, vectors, strict=True))


# --- configs --------------------------------------------------------------------------------


def store_config(backend: str, kinds: tuple[str, ...], dsn: str, schema: str) -> dict[str, Any]:
    if backend == "chroma":
        return {kind: {"provider": "chroma"} for kind in kinds}
    return {
        kind: {"provider": "postgres", "config": {"dsn": dsn, "schema": schema}} for kind in kinds
    }


def write_config(workdir: Path, stores: dict[str, Any], name: str = "memio-server.yaml") -> Path:
    return servers.write_config(
        workdir / name,
        {
            "data_dir": str(workdir / "data"),
            "stores": stores,
            "server": {"limits": {"request_timeout_seconds": 600}},
        },
    )


# --- one backend through the sizes ----------------------------------------------------------


def _ingest(memio: Any, loop: Any, kind: str, payloads: list[dict]) -> dict[str, Any]:
    store = memio.stores[kind]
    started = time.perf_counter()
    for i in range(0, len(payloads), BATCH):
        loop.run_until_complete(store.add_many(**{kind: payloads[i : i + BATCH]}))
    seconds = time.perf_counter() - started
    return {"items": len(payloads), "seconds": seconds, "items_per_s": len(payloads) / seconds}


def _search_inproc(
    memio: Any, loop: Any, embedder: Any, kind: str, queries: list[str], mode: Mode
) -> dict[str, Any]:
    store = memio.stores[kind]
    warm = corpus.queries(20, seed=998)
    for text, vector in zip(
        [*queries, *warm],
        loop.run_until_complete(embedder.inner.embed([*queries, *warm])),
        strict=True,
    ):
        embedder.table[text] = vector
    calls = [partial(store.search, query=q, limit=10) for q in warm]
    loop.run_until_complete(run_calls(calls, concurrency=1, max_seconds=60))
    calls = [partial(store.search, query=q, limit=10) for q in queries]
    return loop.run_until_complete(run_calls(calls, concurrency=1, max_seconds=mode.budget))


def _search_inproc_embedding(
    memio: Any, loop: Any, kind: str, queries: list[str], mode: Mode
) -> dict[str, Any]:
    """The same searches with the query embedded (the server's embedder), for comparing the
    HTTP figure with what the store and the embedder take without the server around them."""
    calls = [partial(memio.stores[kind].search, query=q, limit=10) for q in queries]
    return loop.run_until_complete(run_calls(calls, concurrency=1, max_seconds=mode.budget))


def run_backend(
    mode: Mode, backend: str, dsn: str, schema: str, texts: dict[str, list[str]], table: dict
) -> dict[str, Any]:
    """Grow one backend through the sizes; ingest and search figures at each."""
    workdir = fresh_dir(mode.work / f"pgvector-{backend}")
    config = write_config(workdir, store_config(backend, ("documents", "facts"), dsn, schema))
    points: dict[str, Any] = {}
    have = {"documents": 0, "facts": 0}
    first = sizes(mode)[0]
    for size in sizes(mode):
        point: dict[str, Any] = {"load_before": uptime(), "ingest": {}}
        kinds = ("documents", "facts") if size == first else ("documents",)
        with ours.in_process(workdir, precomputed=True, config=config) as (loop, memio, embedder):
            embedder.table = table
            for kind in kinds:
                if size > have[kind]:
                    make = corpus.document_payloads if kind == "documents" else corpus.fact_payloads
                    payloads = make(texts[kind][have[kind] : size], have[kind])
                    point["ingest"][kind] = _ingest(memio, loop, kind, payloads)
                    have[kind] = size
                    print(
                        f"[pgvector] {backend}: {kind} to {size:,}, "
                        f"{point['ingest'][kind]['items_per_s']:.0f}/s",
                        flush=True,
                    )
            embedder.table = {}
            for kind in kinds:
                queries = corpus.queries(mode.queries, seed=size + 7)
                point[kind] = {
                    "stored": have[kind],
                    "no_embedding": _search_inproc(memio, loop, embedder, kind, queries, mode),
                    "with_embedding": _search_inproc_embedding(
                        memio, loop, kind, corpus.queries(mode.queries, seed=size + 9), mode
                    ),
                }
        with ours.server(workdir, config=config, name=f"{backend}-{size}") as proc:
            for kind in kinds:
                ours.warm_up(proc.base_url, PATHS[kind])
                queries = corpus.queries(mode.queries, seed=size + 8)
                point[kind]["http"] = asyncio.run(
                    run_load(
                        proc.base_url,
                        ours.search_requests(queries, PATHS[kind]),
                        connections=1,
                        max_seconds=mode.budget,
                    )
                )
            point["rss_mib"] = proc.rss_mib()
        if backend == "pgvector":
            point["relations"] = _relation_sizes(dsn, schema)
        point["load_after"] = uptime()
        points[str(size)] = point
        summary = ", ".join(
            f"{kind} in-process p50 {point[kind]['no_embedding']['p50']:.2f} ms, "
            f"HTTP p50 {point[kind]['http']['p50']:.2f} ms"
            for kind in kinds
        )
        print(f"[pgvector] {backend} at {size:,}: {summary}", flush=True)
    return {"points": points}


# --- replicas -------------------------------------------------------------------------------


@contextmanager
def replicas(mode: Mode, count: int, dsn: str, schema: str) -> Iterator[list[servers.Server]]:
    stores = store_config("pgvector", STORE_KINDS, dsn, schema)
    with ExitStack() as stack:
        started = []
        for i in range(count):
            workdir = fresh_dir(mode.work / f"pgvector-replica-{i}")
            config = write_config(workdir, stores)
            port = servers.free_port()
            argv = servers.memio_command(config, port)
            started.append(stack.enter_context(servers.run(f"replica-{i}", argv, port, workdir)))
        yield started


async def _spread(urls: list[str], requests: list[tuple], max_seconds: float) -> dict[str, Any]:
    """`requests` from REPLICA_CONNECTIONS workers, worker i on replica i % len(urls)."""
    from bench.http import _timed

    clients = [client(url) for url, _ in zip(itertools.cycle(urls), range(REPLICA_CONNECTIONS))]
    try:
        senders = [partial(send, http) for http in clients]
        return await _timed(requests, senders, max_seconds=max_seconds)
    finally:
        for http in clients:
            await http.aclose()


def _workloads(mode: Mode, count: int) -> dict[str, list[tuple]]:
    """Distinct requests for a run over `count` replicas (nothing repeats between runs)."""
    n = 400 if mode.name == "full" else 100
    run = f"r{count}-{secrets.token_hex(3)}"
    seed = 50_000 + count
    searches = ours.search_requests(corpus.queries(n, seed=seed))
    appends = [
        (
            "POST",
            f"/v1/history/sessions/{run}-s{i % 50}/messages",
            {"messages": [{"role": "user", "content": text}], "user_id": f"{run}-u{i % 50}"},
        )
        for i, text in enumerate(corpus.facts(n * 4, seed=seed + 100))
    ]
    adds = [
        ("POST", "/v1/facts", {"content": text, "user_id": f"{run}-u{i % 50}"})
        for i, text in enumerate(corpus.facts(n, seed=seed + 200))
    ]
    return {"document search": searches, "history append": appends, "fact add": adds}


def run_replicas(mode: Mode, dsn: str, schema: str) -> dict[str, Any]:
    out: dict[str, Any] = {"connections": REPLICA_CONNECTIONS}
    for count in (1, 3):
        with replicas(mode, count, dsn, schema) as running:
            urls = [server.base_url for server in running]
            for url in urls:
                ours.warm_up(url)
            record: dict[str, Any] = {"load_before": uptime()}
            for name, requests in _workloads(mode, count).items():
                result = asyncio.run(_spread(urls, requests, mode.budget / 2))
                record[name] = result
                print(
                    f"[pgvector] {count} replica(s), {name}: {result['rps']:.0f} req/s, "
                    f"p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms",
                    flush=True,
                )
            record["load_after"] = uptime()
            record["rss_mib"] = [server.rss_mib() for server in running]
            out[str(count)] = record
    return out


# --- the command ----------------------------------------------------------------------------


def main(mode: Mode, dsn: str | None = None) -> dict[str, Any]:
    largest = max(sizes(mode))
    record: dict[str, Any] = {
        "sizes": list(sizes(mode)),
        "embedded": mode.embedded,
        "uptime_start": uptime(),
    }
    docs, facts = corpus.documents(largest), corpus.facts(sizes(mode)[0])
    table = {
        **cached_vectors(mode, "documents", docs, seed=1),
        **cached_vectors(mode, "facts", facts, seed=2),
    }
    schema = f"memio_bench_{secrets.token_hex(4)}"
    with servers.pgvector_server(dsn) as server_dsn, load_sampler(record):
        record["postgres"] = _versions(server_dsn)
        try:
            texts = {"documents": docs, "facts": facts}
            for backend in BACKENDS:
                record[backend] = run_backend(mode, backend, server_dsn, schema, texts, table)
            record["replicas"] = run_replicas(mode, server_dsn, schema)
        finally:
            from bench.crash import drop_schema

            drop_schema(server_dsn, schema)
    record["uptime_end"] = uptime()
    save(mode, "pgvector", record)
    return record


def _relation_sizes(dsn: str, schema: str) -> dict[str, dict[str, int]]:
    """Bytes on disk per table of the schema: the table (with TOAST) and each of its indexes."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, i.relname, pg_table_size(c.oid), pg_relation_size(i.oid)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_index x ON x.indrelid = c.oid"
            " LEFT JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname IN ('documents', 'facts')",
            (schema,),
        ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for table, index, table_bytes, index_bytes in rows:
        out.setdefault(table, {"table": table_bytes})
        if index is not None:
            out[table][index] = index_bytes
    return out


def _versions(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        vector = (row.fetchone() or ["not installed yet"])[0]
    return f"PostgreSQL {server}, pgvector {vector}"
