"""Scale, start-up and memory.

One server (documents + facts on chroma) grows through mode.scale_sizes by batch ingest; at each
size: end-to-end HTTP search p50/p95 at 1 connection (query embedding included). Then, with the
server stopped, the same stores in-process: search with embedding; search WITHOUT embedding
(`store.search` with an embedder that answers the measured queries from a table of vectors
computed beforehand, so the rest of the search path, chroma query, decode and rank, runs
unchanged); and the query embedding alone. Start-up: seconds from spawn to the first 200 on
/health and on a search, on an empty data dir and on the full one; RSS idle and loaded.

Only the first mode.embedded records of each store are embedded by the server (batch route);
past that, records are added in-process through `add_many` with synthetic vectors (`_synthetic`),
because this machine embeds documents at about 100/s and 200k real embeddings would take an hour.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

import numpy as np

from bench import corpus, ours
from bench.common import Mode, fresh_dir, load_sampler, save
from bench.http import run_calls, run_load

PATHS = {"documents": "/v1/documents/search", "facts": "/v1/facts/search"}


def _startup(mode: Mode, workdir, label: str, fresh: bool) -> dict[str, Any]:
    runs = []
    for i in range(mode.startup_repeats):
        if fresh:
            fresh_dir(workdir)
        with ours.server(workdir, first_search=True, name=f"startup-{label}-{i}") as proc:
            runs.append({**proc.timings, "rss_mib": proc.rss_mib()})
    runs.sort(key=lambda run: run["health"])
    return {**runs[len(runs) // 2], "runs": runs}


def _searches(store: Any, queries: list[str]) -> list[Any]:
    return [partial(store.search, query=q, limit=10) for q in queries]


def _inproc(mode: Mode, workdir, size: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with ours.in_process(workdir, precomputed=True) as (loop, memio, embedder):
        run = loop.run_until_complete
        for kind in ("documents", "facts"):
            store = memio.stores[kind]
            queries = corpus.queries(mode.queries, seed=size + 7)
            warm = corpus.queries(20, seed=998)
            for text, vector in zip(queries, run(embedder.inner.embed(queries)), strict=True):
                embedder.table[text] = vector
            run(run_calls(_searches(store, warm), concurrency=1, max_seconds=60))
            with_embedding = _searches(store, corpus.queries(mode.queries, seed=size + 8))
            embed = [
                partial(embedder.inner.embed, [q])
                for q in corpus.queries(mode.queries, seed=size + 9)
            ]
            out[kind] = {
                "no_embedding": run(
                    run_calls(_searches(store, queries), concurrency=1, max_seconds=mode.budget)
                ),
                "with_embedding": run(
                    run_calls(with_embedding, concurrency=1, max_seconds=mode.budget)
                ),
                "embedding": run(run_calls(embed, concurrency=1, max_seconds=mode.budget)),
            }
    return out


def _synthetic(workdir, embedded: int, texts: list[str], seed: int, kind: str) -> dict:
    """Vectors for records past `embedded`: each the normalised sum of two stored (real)
    vectors plus a little noise, so the index sees the real distribution without the hours of
    embedding 100k texts on this machine. Read straight from chroma with the server stopped."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(
        path=str(workdir / "data" / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    got = client.get_collection(f"memio_{kind}").get(limit=embedded, include=["embeddings"])
    real = np.asarray(got["embeddings"], dtype=np.float32)
    return dict(zip(texts, mixed_vectors(real, len(texts), seed), strict=True))


def mixed_vectors(real: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` synthetic vectors: each the normalised sum of two of the `real` ones plus a
    little noise (the real distribution, without embedding)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(real), size=(count, 2))
    vectors = real[picks[:, 0]] + real[picks[:, 1]]
    vectors += rng.normal(0, 0.02, vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _grow(mode: Mode, workdir, docs: list[str], facts: list[str], have: int, size: int) -> float:
    """Records past mode.embedded, in-process through add_many with synthetic vectors."""
    table = {
        **_synthetic(workdir, mode.embedded, docs[have:size], 1, "documents"),
        **_synthetic(workdir, mode.embedded, facts[have:size], 2, "facts"),
    }
    start = time.perf_counter()
    with ours.in_process(workdir, precomputed=True) as (loop, memio, embedder):
        embedder.table = table
        for i in range(have, size, 1000):
            end = min(size, i + 1000)
            loop.run_until_complete(
                memio.documents.add_many(documents=corpus.document_payloads(docs[i:end], i))
            )
            loop.run_until_complete(
                memio.facts.add_many(facts=corpus.fact_payloads(facts[i:end], i))
            )
    return time.perf_counter() - start


def main(mode: Mode) -> dict[str, Any]:
    record: dict[str, Any] = {"sizes": list(mode.scale_sizes), "points": {}, "synthetic": {}}
    record["embedded"] = mode.embedded
    workdir = mode.work / "scale"
    largest = max(mode.scale_sizes)
    with load_sampler(record):
        record["startup_empty"] = _startup(mode, mode.work / "startup-empty", "empty", True)
        fresh_dir(workdir)
        docs, facts = corpus.documents(largest), corpus.facts(largest)
        have = 0
        ingest: dict[str, list[dict[str, Any]]] = {"documents": [], "facts": []}
        for size in mode.scale_sizes:
            if size > mode.embedded:
                record["synthetic"][str(size)] = _grow(mode, workdir, docs, facts, have, size)
                have = size
            with ours.server(workdir) as proc:
                if have == 0:
                    record["rss_idle_mib"] = proc.rss_mib()
                if size > have:
                    ingest["documents"].append(
                        ours.ingest_documents(proc.base_url, docs[have:size], have)
                    )
                    ingest["facts"].append(ours.ingest_facts(proc.base_url, facts[have:size], have))
                    have = size
                point: dict[str, Any] = {}
                for kind, path in PATHS.items():
                    ours.warm_up(proc.base_url, path)
                    queries = corpus.queries(mode.queries, seed=size)
                    point[kind] = {
                        "http": asyncio.run(
                            run_load(
                                proc.base_url,
                                ours.search_requests(queries, path),
                                connections=1,
                                max_seconds=mode.budget,
                            )
                        )
                    }
                point["rss_mib"] = proc.rss_mib()
            for kind, found in _inproc(mode, workdir, size).items():
                point[kind].update(found)
            record["points"][str(size)] = point
        record["ingest_per_s"] = {
            kind: sum(r["items"] for r in runs) / sum(r["seconds"] for r in runs)
            for kind, runs in ingest.items()
        }
        record["rss_loaded_mib"] = record["points"][str(largest)]["rss_mib"]
        record["startup_loaded"] = _startup(mode, workdir, "loaded", False)
    save(mode, "scale", record)
    return record
