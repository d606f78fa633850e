"""Gateway overhead: documents search over HTTP against DocumentStore.search in-process.

Same data (mode.docs documents), same config, same embedder; distinct, never repeated queries per
measurement, so a query cache cannot flatter either side. Rounds alternate HTTP and in-process.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench import corpus, ours
from bench.common import Mode, load_sampler, save
from bench.http import pool, run_calls, run_load


def _http(mode: Mode, workdir, seed: int) -> dict[str, Any]:
    with ours.server(workdir) as proc:
        ours.warm_up(proc.base_url)
        one = asyncio.run(
            run_load(
                proc.base_url,
                ours.search_requests(corpus.queries(mode.queries, seed=seed)),
                connections=1,
                max_seconds=mode.budget,
            )
        )
        many = asyncio.run(
            run_load(
                proc.base_url,
                ours.search_requests(corpus.queries(mode.burst, seed=seed + 1)),
                connections=64,
                max_seconds=mode.budget,
            )
        )
    return {"c1": one, "c64": many}


def _inproc(mode: Mode, workdir, seed: int) -> dict[str, Any]:
    with ours.in_process(workdir) as (loop, memio, _):
        docs = memio.documents

        def calls(queries: list[str]) -> list:
            return [lambda q=q: docs.search(query=q, limit=10) for q in queries]

        loop.run_until_complete(
            run_calls(calls(corpus.queries(20, seed=999)), concurrency=1, max_seconds=120)
        )
        one = loop.run_until_complete(
            run_calls(
                calls(corpus.queries(mode.queries, seed=seed)),
                concurrency=1,
                max_seconds=mode.budget,
            )
        )
        many = loop.run_until_complete(
            run_calls(
                calls(corpus.queries(mode.burst, seed=seed + 1)),
                concurrency=64,
                max_seconds=mode.budget,
            )
        )
    return {"c1": one, "c64": many}


def main(mode: Mode) -> dict[str, Any]:
    record: dict[str, Any] = {"docs": mode.docs}
    with load_sampler(record):
        workdir = ours.prepared_documents(mode)
        http_runs, proc_runs = [], []
        for r in range(mode.rounds):
            http_runs.append(_http(mode, workdir, seed=100 + 10 * r))
            proc_runs.append(_inproc(mode, workdir, seed=100 + 10 * r))
        for key in ("c1", "c64"):
            h = pool([run[key] for run in http_runs])
            p = pool([run[key] for run in proc_runs])
            record[key] = {
                "http": h,
                "inproc": p,
                "overhead": {q: h[q] - p[q] for q in ("p50", "p95", "p99")},
            }
    save(mode, "overhead", record)
    return record
