"""Search speed measured with wrk, a load client that costs little CPU, per MiniLM compute path.

    python -m bench wrk [--docs 10000] [--seconds 20] [--rounds 2] [--computes float,int8,0.3.1]
                        [--mode semantic|keyword|hybrid] [--users N]

One memio-server (embedded chroma) gets `--docs` documents through the batch route; then, per
round and per compute path (the server restarted on the same data with ``embedder.compute`` set,
rounds alternating A B A B), wrk posts searches (`POST /v1/documents/search`, limit 10) with
queries that never repeat within a run (so the query cache never answers): at 1 connection for
the latency percentiles, then at 64 connections for throughput. wrk runs one thread; its
percentiles are of the whole run. ``0.3.1`` is memio 0.3.1 from PyPI on the same documents
(bench/memio031.py: fp32 MiniLM in place of chroma's default model). With `--users N`, the
documents are spread over N users and each search is within one user picked at random, as every
search of a multi-user app is (memio: `user_id`; 0.3.1, whose documents have no owner: the same
field in their metadata and a `filters` on it, the only way its clients could scope). Results
go to bench/results/wrk[-<mode>][-<N>-users].json and section 10 of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import corpus, memio031, ours, servers
from bench.common import RESULTS, ROOT, fresh_dir, load_sampler, save_to
from bench.http import post_each, run_load

RESULT = RESULTS / "wrk.json"
OLD = "0.3.1"  # memio 0.3.1 from PyPI (bench/memio031.py), with the fp32 MiniLM
FIRST_SEARCH = (ours.SEARCH, {"query": "start-up probe", "limit": 5})
CONNECTIONS = (1, 64)
LUA = """
local queries = {}
for line in io.lines(%(file)s) do queries[#queries + 1] = line end
local i = math.random(#queries)
request = function()
  i = i %% #queries + 1
  return wrk.format("POST", "/v1/documents/search",
    {["Content-Type"] = "application/json"}, queries[i])
end
"""


def _bodies(n: int, seed: int, mode: str | None, users: int, compute: str) -> list[dict]:
    """Search bodies of `n` queries (limit 10), each within a user at random with `users`."""
    rng = random.Random(seed)
    bodies = []
    for query in corpus.queries(n, seed=seed):
        body: dict[str, Any] = {"query": query, "limit": 10}
        if mode is not None:
            body["search_mode"] = mode
        if users:
            user = corpus.user(rng.randrange(users), users)
            body.update({"filters": {"user_id": user}} if compute == OLD else {"user_id": user})
        bodies.append(body)
    return bodies


def _queries_file(work: Path, bodies: list[dict], seed: int) -> Path:
    path = work / f"queries-{seed}.jsonl"
    path.write_text("\n".join(json.dumps(body) for body in bodies) + "\n")
    return path


def _wrk(base_url: str, script: Path, connections: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         base_url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    percentiles = {
        p: _ms(value, unit)
        for p, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": percentiles["50"],
        "p90_ms": percentiles["90"],
        "p99_ms": percentiles["99"],
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _config(work: Path, compute: str) -> Path:
    settings = {
        **servers.memio_config(work / "data", ("documents",)),
        "embedder": {"compute": compute},
    }
    return servers.write_config(work / f"memio-{compute}.yaml", settings)


@contextmanager
def _serving(work: Path, old: Path, compute: str) -> Iterator[Any]:
    """The server of a compute path: ours with `embedder.compute`, or memio 0.3.1 (OLD)."""
    if compute == OLD:
        with memio031.run(old, servers.free_port(), first_search=FIRST_SEARCH) as server:
            yield server
    else:
        with ours.server(work, config=_config(work, compute), first_search=True) as server:
            yield server


def _prepare_old(old: Path, docs: int, users: int) -> None:
    """memio 0.3.1 with the same documents, POSTed one by one (its only ingest route), kept
    between runs of the same size; their owner, if any, in their metadata."""
    marker = old / f"ready-{docs}-{users}"
    if marker.exists():
        return
    fresh_dir(old)
    with memio031.run(old, servers.free_port()) as server:
        payloads = [
            {**p, "metadata": {**p["metadata"], "user_id": p.pop("user_id")}} if users else p
            for p in corpus.document_payloads(corpus.documents(docs), users=users)
        ]
        asyncio.run(post_each(server.base_url, "/v1/documents", payloads, connections=64))
    marker.touch()


def run(
    docs: int,
    seconds: int,
    rounds: int,
    computes: list[str],
    mode: str | None = None,
    users: int = 0,
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    work = fresh_dir(RESULTS / "work" / "wrk")
    old = RESULTS / "work" / "wrk-memio031"
    record: dict[str, Any] = {
        "docs": docs,
        "wrk_seconds": seconds,
        "computes": computes,
        "mode": mode,
        "users": users,
        "runs": {},
    }
    if OLD in computes:
        _prepare_old(old, docs, users)
    with load_sampler(record):
        with ours.server(work, config=_config(work, "float")) as server:
            ours.ingest_documents(server.base_url, corpus.documents(docs), users=users)
        seed = 100
        for round_no in range(rounds):
            for compute in computes:
                with _serving(work, old, compute) as server:
                    ours.warm_up(server.base_url)
                    seed += 1  # 1 connection from httpx (a costlier client), before wrk's load
                    bodies = _bodies(400, seed, mode, users, compute)
                    httpx_run = asyncio.run(
                        run_load(
                            server.base_url,
                            [("POST", ours.SEARCH, body) for body in bodies],
                            connections=1,
                            max_seconds=seconds,
                        )
                    )
                    record["runs"].setdefault(f"{compute}/httpx", []).append(
                        {"p50_ms": httpx_run["p50"], "requests_per_second": httpx_run["rps"]}
                    )
                    for connections in CONNECTIONS:
                        seed += 1
                        lua = work / f"search-{seed}.lua"
                        count = 40_000 if connections > 1 else 5_000
                        bodies = _bodies(count, seed, mode, users, compute)
                        queries = _queries_file(work, bodies, seed)
                        lua.write_text(LUA % {"file": json.dumps(str(queries))})
                        result = _wrk(server.base_url, lua, connections, seconds)
                        result["load"] = os.getloadavg()[0]
                        key = f"{compute}/{connections}"
                        record["runs"].setdefault(key, []).append(result)
                        print(f"[wrk] round {round_no + 1} {key}: {result}", flush=True)
    record["summary"] = {
        key: {name: statistics.median(r[name] for r in results) for name in results[0]}
        for key, results in record["runs"].items()
    }
    return record


def _name(compute: str) -> str:
    return "memio 0.3.1" if compute == OLD else f"memio, {compute} compute"


def section(record: dict[str, Any]) -> list[str]:
    summary = record["summary"]
    computes = record["computes"]
    mode, users = record.get("mode"), record.get("users", 0)
    options = (f" --mode {mode}" if mode else "") + (f" --users {users}" if users else "")
    scoped = (
        f" spread over {users} users, each search within one user at random (`user_id`; for "
        "0.3.1, whose documents have no owner, a `filters` on the same field of their metadata)"
        if users
        else ""
    )
    lines = [
        WRK_HEADING,
        "",
        f"**search_mode {mode or 'default (hybrid for memio)'}"
        + (f", within one of {users} users" if users else "")
        + ".** "
        f"`python -m bench wrk --docs {record['docs']} --seconds {record['wrk_seconds']}"
        f"{options}` (bench/wrk_search.py): one memio-server, embedded chroma with "
        f"{record['docs']:,} documents{scoped}, restarted per compute path (`embedder.compute`), "
        "rounds alternating; wrk (one thread) posts `POST /v1/documents/search` (limit 10"
        + (f", `search_mode: {mode}`" if mode else "")
        + ") with queries "
        "that never repeat within a run. Medians over rounds; latency percentiles are wrk's; "
        "the last column: 1 connection from httpx (400 queries), run before wrk's load.",
        "",
        "| server | connections | req/s | p50 ms | p90 ms | p99 ms | httpx p50 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for compute in computes:
        for connections in CONNECTIONS:
            s = summary[f"{compute}/{connections}"]
            httpx = f"{summary[f'{compute}/httpx']['p50_ms']:.2f}" if connections == 1 else ""
            lines.append(
                f"| {_name(compute)} | {connections} | {s['requests_per_second']:.0f} | "
                f"{s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} | {httpx} |"
            )

    def ratio(a: str, b: str) -> float:
        return summary[f"{a}/64"]["requests_per_second"] / summary[f"{b}/64"]["requests_per_second"]

    if {"float", "int8"} <= set(computes):
        lines += [
            "",
            f"int8 against float: {ratio('int8', 'float'):.2f}x the throughput at 64 "
            f"connections; p50 at 1 connection {summary['float/1']['p50_ms']:.2f} -> "
            f"{summary['int8/1']['p50_ms']:.2f} ms.",
        ]
    if OLD in computes:
        lines += [
            "",
            "Against memio 0.3.1 at 64 connections: "
            + ", ".join(f"{c} {ratio(c, OLD):.2f}x" for c in computes if c != OLD)
            + ".",
        ]
    if record.get("note"):
        lines += ["", f"Note: {record['note']}."]
    if mode is None and not users:
        lines += _recall_by_compute()
    load = record.get("load")
    if load:
        lines += [
            "",
            f"Run {record.get('started_at', 'n/a')}, {record.get('seconds', 0):.0f} s; load "
            f"average (1 min) min / mean / max: {load['min']:.2f} / {load['mean']:.2f} / "
            f"{load['max']:.2f} (the server and wrk on the same 2 cores).",
        ]
    return [*lines, ""]


WRK_HEADING = "## 10. Search speed with wrk, per MiniLM compute path"


def _recall_by_compute() -> list[str]:
    """Recall per compute path, from `python -m bench quality --compute float|int8`."""
    runs = {}
    for compute, name in (("float", "quality.json"), ("int8", "quality-int8.json")):
        path = RESULTS / name
        if path.exists():
            runs[compute] = json.loads(path.read_text())
    if len(runs) < 2:
        return []
    lines = [
        "",
        "What users feel of it: recall on the LoCoMo development conversations "
        "(`python -m bench quality --compute float|int8`, section 9's method), per path:",
        "",
        "| search_mode | float r@5 | int8 r@5 | float r@10 | int8 r@10 | float r@20 | int8 r@20 |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in runs["float"]["modes"]:
        cells = []
        for k in (5, 10, 20):
            for compute in ("float", "int8"):
                overall = runs[compute]["results"][mode]["recall"]["overall"]
                cells.append(f"{overall[f'r@{k}'] * 100:.1f}%")
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return lines


def _result(mode: str | None, users: int) -> Path:
    return RESULT.with_stem(
        "wrk" + (f"-{mode}" if mode else "") + (f"-{users}-users" if users else "")
    )


def render() -> list[str]:
    """Section 10 from the saved runs: the server's default search mode, then semantic, each
    unscoped and then within one user."""
    runs = [_result(mode, users) for users in (0, 100) for mode in (None, "semantic")]
    sections = [section(json.loads(path.read_text())) for path in runs if path.exists()]
    return sections[0] + [line for extra in sections[1:] for line in extra[1:]]


def main(
    docs: int, seconds: int, rounds: int, computes: list[str], mode: str | None, users: int = 0
) -> None:
    from bench import report

    record = run(docs, seconds, rounds, computes, mode, users)
    save_to(_result(mode, users), record)
    path = report.splice(ROOT / "docs" / "benchmarks.md", render())
    print(f"[wrk] section spliced into {path}")
