"""What a page of the mem0 dialects costs with many facts stored.

    python -m bench mem0-paging [--facts 100000] [--src DIR ...]

One data directory (embedded chroma facts) is filled once through `POST /v1/facts/batch`: half
the facts belong to one user ("big"), the other half to 500 users of 100 facts each. Then, for
each source tree given with `--src` (default: this checkout; give an older checkout's `src` to
measure "before"), a memio-server runs on that data and httpx at 1 connection times: the mem0
platform `get_all` (`POST /v3/memories/`) of the big user, page 1 and page 50 of 100; the
local-first `GET /v1/memories/user/big` page 1; a small user's page 1; and the entity listing
(`GET /v1/entities/`). Results: bench/results/mem0-paging.json and a section of
docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import corpus, servers
from bench.common import RESULTS, ROOT, load_sampler, save_to
from bench.http import post_batches

RESULT = RESULTS / "mem0-paging.json"
HEADING = "## 11. mem0 dialects: a page with many facts stored"
REPEATS = 3
V3 = "/v3/memories/?page_size=100&page="
BIG, SMALL = {"filters": {"user_id": "big"}}, {"filters": {"user_id": "u7"}}
CALLS = {
    "get_all big, page 1": ("POST", V3 + "1", BIG),
    "get_all big, page 50": ("POST", V3 + "50", BIG),
    "local-first user big, page 1": ("GET", "/v1/memories/user/big?page=1&page_size=100", None),
    "get_all small user, page 1": ("POST", V3 + "1", SMALL),
    "entities (users)": ("GET", "/v1/entities/?page=1&page_size=100", None),
}


def _config(work: Path) -> Path:
    return servers.write_config(
        work / "memio.yaml", servers.memio_config(work / "data", ("facts",))
    )


def _payloads(n: int) -> list[dict[str, Any]]:
    texts = corpus.facts(n)
    half = n // 2
    return [
        {"content": text, "user_id": "big" if i < half else f"u{(i - half) // 100}"}
        for i, text in enumerate(texts)
    ]


def _fill(work: Path, n: int) -> float:
    marker = work / f"filled-{n}"
    if marker.exists():
        return 0.0
    started = time.perf_counter()
    with _serve(work, None) as server:
        asyncio.run(
            post_batches(server.base_url, "/v1/facts/batch", "facts", _payloads(n), size=1000)
        )
    marker.touch()
    return time.perf_counter() - started


def _serve(work: Path, src: Path | None) -> Any:
    env = None if src is None else {"PYTHONPATH": str(src)}
    port = servers.free_port()
    argv = servers.memio_command(_config(work), port)
    return servers.run("memio", argv, port, work, env=env, timeout=600)


def _time(base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=600) as client:
        for name, (method, path, body) in CALLS.items():
            times = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                answer = client.request(method, path, json=body)
                times.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()
            out[name] = {"median_ms": statistics.median(times), "min_ms": min(times)}
    return out


def run(n: int, sources: list[Path | None]) -> dict[str, Any]:
    work = RESULTS / "work" / "mem0-paging"
    work.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"facts": n, "runs": {}}
    with load_sampler(record):
        record["fill_seconds"] = _fill(work, n)
        for src in sources:
            label = "this checkout" if src is None else str(src)
            with _serve(work, src) as server:
                record["runs"][label] = _time(server.base_url)
            print(f"[mem0-paging] {label}: {record['runs'][label]}", flush=True)
    return record


def section(record: dict[str, Any]) -> list[str]:
    labels = list(record["runs"])
    lines = [
        HEADING,
        "",
        f"`python -m bench mem0-paging --facts {record['facts']}` (bench/mem0_paging.py): "
        f"{record['facts']:,} facts in embedded chroma, half of them one user's (`big`), the "
        "rest 500 users' of 100 each; one memio-server per source tree on the same data; "
        f"median of {REPEATS} calls at 1 connection (httpx), in ms.",
        "",
        "| call | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for name in CALLS:
        cells = [f"{record['runs'][label][name]['median_ms']:.0f}" for label in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    load = record.get("load") or {}
    if load:
        lines += [
            "",
            f"Run {record.get('started_at', 'n/a')}; load average (1 min) min / mean / max: "
            f"{load['min']:.2f} / {load['mean']:.2f} / {load['max']:.2f}.",
        ]
    return [*lines, ""]


def main(n: int, sources: list[Path | None]) -> None:
    from bench import report

    print(f"[bench] mem0-paging, load {os.getloadavg()[0]:.2f} ...", file=sys.stderr, flush=True)
    record = run(n, sources)
    save_to(RESULT, record)
    path = report.splice(ROOT / "docs" / "benchmarks.md", section(record))
    print(f"[mem0-paging] section spliced into {path}")
