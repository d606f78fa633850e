"""Side by side with memio 0.3.1: same embedder, data, client and machine; rounds A B A B.

Round 1, per server on a fresh data dir: ingest mode.docs documents (ours: the batch route, 1000
per call; 0.3.1: one POST per document over 64 connections, its best). Every round, per server
(restarted on its data): single-document adds at 1 connection, then search throughput at 64
connections with distinct queries. Our store is kept for the overhead benchmark.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench import corpus, memio031, ours, servers
from bench.common import Mode, fresh_dir, load_sampler, save
from bench.http import pool, post_each, run_load


def _ingest(mode: Mode, name: str, base_url: str) -> dict[str, Any]:
    texts = corpus.documents(mode.docs)
    if name == "memio":
        return ours.ingest_documents(base_url, texts)
    payloads = corpus.document_payloads(texts)
    return asyncio.run(post_each(base_url, "/v1/documents", payloads, connections=64))


def _round(mode: Mode, base_url: str, round_no: int) -> dict[str, Any]:
    texts = corpus.documents(mode.adds, seed=50 + round_no)
    extra = corpus.document_payloads(texts, mode.docs + round_no * mode.adds)
    add = asyncio.run(
        post_each(base_url, "/v1/documents", extra, connections=1, max_seconds=mode.budget)
    )
    ours.warm_up(base_url)
    queries = corpus.queries(mode.burst, seed=200 + round_no)
    search = asyncio.run(
        run_load(base_url, ours.search_requests(queries), connections=64, max_seconds=mode.budget)
    )
    return {"add": add, "search": search}


def main(mode: Mode) -> dict[str, Any]:
    record: dict[str, Any] = {"docs": mode.docs, "rounds": mode.rounds}
    runs: dict[str, list[dict[str, Any]]] = {"memio": [], "memio031": []}
    ingest: dict[str, dict[str, Any]] = {}
    workdirs = {"memio": ours.documents_dir(mode), "memio031": mode.work / "compare-memio031"}
    with load_sampler(record):
        memio031.ensure_venv()
        for r in range(mode.rounds):
            for name in ("memio", "memio031"):
                workdir = workdirs[name]
                if r == 0:
                    fresh_dir(workdir)
                if name == "memio":
                    context = ours.server(workdir)
                else:
                    context = memio031.run(workdir, servers.free_port())
                with context as proc:
                    if r == 0:
                        ours.warm_up(proc.base_url)  # model loaded on both sides
                        ingest[name] = _ingest(mode, name, proc.base_url)
                    runs[name].append(_round(mode, proc.base_url, r))
                if name == "memio" and r == 0:
                    ours.mark_ready(workdir)  # the overhead benchmark searches this store
        for name, rounds in runs.items():
            record[name] = {key: pool([run[key] for run in rounds]) for key in ("add", "search")}
            record[name]["ingest"] = ingest[name]
        a, b = record["memio"], record["memio031"]
        record["ratios"] = {
            "search_rps": a["search"]["rps"] / b["search"]["rps"],
            "ingest": a["ingest"]["items_per_s"] / b["ingest"]["items_per_s"],
            "add_p50": b["add"]["p50"] / a["add"]["p50"],
        }
    save(mode, "compare", record)
    return record
