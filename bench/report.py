"""docs/benchmarks.md and its plots (docs/benchmarks/*.png) from bench/results/*.json."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Mode, load, machine

NOTES = Path(__file__).with_name("notes.md")  # hand-written findings, included verbatim


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _mark(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _load(record: dict[str, Any] | None) -> str:
    if not record or "load" not in record:
        return "n/a"
    load = record["load"]
    return f"{load['min']:.2f} / {load['mean']:.2f} / {load['max']:.2f}"


def _others(record: dict[str, Any]) -> str:
    """What else used the machine's CPU during a run (other developers' test runs)."""
    others = [o for o in record.get("others", []) if o["cpu_s"] >= 1.0]
    if not others:
        return "Nothing else used the CPU meanwhile."
    wall = record.get("seconds", 0.0)
    listed = "; ".join(f"`{o['command'][:70]}` {o['cpu_s']:.0f} s" for o in others)
    return f"Other processes' CPU time meanwhile ({wall / 60:.0f} minutes of wall time): {listed}."


def _point(scale: dict[str, Any], size: int) -> dict[str, Any] | None:
    return scale["points"].get(str(size)) if scale else None


def _targets(results: dict[str, Any], mode: Mode) -> list[tuple[str, str, bool]]:
    out = []
    over, comp, ing, scale = (results.get(k) for k in ("overhead", "compare", "ingest", "scale"))
    auth = results.get("auth")
    if auth:
        costs = {
            name: row["cost"] * 1000
            for name, row in auth["requests"].items()
            if name not in ("auth off", "bound key + rate limit")
        }
        worst = max(costs, key=costs.__getitem__)
        out.append(
            (
                "authentication and scoping per request <= 0.1 ms",
                f"{costs[worst]:.0f} us at most ({worst})",
                costs[worst] <= 100,
            )
        )
    if over:
        p50 = over["c1"]["overhead"]["p50"]
        figure = f"{p50:.2f} ms"
        if "floor" in over:
            floor = _floor_cost(over)
            figure += f" (client + HTTP floor {floor:.2f} ms, memio's own {p50 - floor:.2f} ms)"
        out.append(("gateway overhead p50 at 1 connection <= 0.5 ms", figure, p50 <= 0.5))
    if comp:
        ratio = comp["ratios"]["search_rps"]
        out.append(
            (
                "search throughput at 64 connections >= 2x memio 0.3.1",
                f"{ratio:.2f}x ({comp['memio']['search']['rps']:.0f} vs "
                f"{comp['memio031']['search']['rps']:.0f} req/s)",
                ratio >= 2,
            )
        )
    if ing:
        out.append(
            (
                "batch ingest >= 90% of the raw embedder",
                f"{ing['ratio'] * 100:.0f}% ({ing['server_per_s']:.0f} vs "
                f"{ing['raw_per_s']:.0f} docs/s)",
                ing["ratio"] >= 0.9,
            )
        )
    if comp:
        ratio = comp["ratios"]["ingest"]
        out.append(
            (
                "batch ingest >= 20x memio 0.3.1's ingest",
                f"{ratio:.1f}x ({comp['memio']['ingest']['items_per_s']:.0f} vs "
                f"{comp['memio031']['ingest']['items_per_s']:.0f} docs/s)",
                ratio >= 20,
            )
        )
    if scale:
        sizes = scale["sizes"]
        for size, limit in ((sizes[1], 8.0), (sizes[2], 15.0)):
            p50 = _point(scale, size)["documents"]["http"]["p50"]
            out.append(
                (
                    f"end-to-end search p50 at {size:,} documents <= {limit:g} ms",
                    f"{p50:.2f} ms",
                    p50 <= limit,
                )
            )
        start = scale["startup_empty"]
        out.append(
            (
                "start-up to the first /health <= 2 s",
                f"{start['health']:.2f} s",
                start["health"] <= 2,
            )
        )
        out.append(
            (
                "start-up to the first search <= 3 s",
                f"{start['search']:.2f} s",
                start["search"] <= 3,
            )
        )
    return out


def _plots(results: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    made = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        made.append(name)

    over = results.get("overhead")
    if over:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, key, title in ((axes[0], "c1", "1 connection"), (axes[1], "c64", "64 concurrent")):
            qs = ("p50", "p95", "p99")
            x = range(len(qs))
            ax.bar([i - 0.2 for i in x], [over[key]["http"][q] for q in qs], 0.4, label="HTTP")
            ax.bar(
                [i + 0.2 for i in x], [over[key]["inproc"][q] for q in qs], 0.4, label="in-process"
            )
            ax.set_xticks(list(x), qs)
            ax.set_ylabel("ms")
            ax.set_title(f"documents search, {over['docs']:,} docs, {title}")
            ax.legend()
        save(fig, "overhead.png")
    comp = results.get("compare")
    if comp:
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
        rows = (
            ("search at 64 conns (req/s)", lambda r: r["search"]["rps"]),
            ("ingest (docs/s)", lambda r: r["ingest"]["items_per_s"]),
            ("single add p50 (ms)", lambda r: r["add"]["p50"]),
        )
        for ax, (title, get) in zip(axes, rows, strict=True):
            values = [get(comp["memio"]), get(comp["memio031"])]
            ax.bar(["memio", "memio 0.3.1"], values, color=["tab:blue", "tab:gray"])
            ax.set_title(title, fontsize=10)
        save(fig, "compare.png")
    scale = results.get("scale")
    if scale:
        sizes = scale["sizes"]
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
        for ax, kind in zip(axes, ("documents", "facts"), strict=True):
            for label, key in (
                ("HTTP, with embedding", "http"),
                ("in-process, with embedding", "with_embedding"),
                ("in-process, no embedding", "no_embedding"),
            ):
                ax.plot(
                    sizes,
                    [_point(scale, s)[kind][key]["p50"] for s in sizes],
                    "o-",
                    label=f"{label} p50",
                )
            ax.plot(
                sizes,
                [_point(scale, s)[kind]["http"]["p95"] for s in sizes],
                "o--",
                label="HTTP, with embedding p95",
            )
            ax.set_xscale("log")
            ax.set_xlabel(f"{kind} stored")
            ax.set_ylabel("ms")
            ax.set_title(f"{kind} search latency")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        save(fig, "scale.png")
    return made


def _floor_cost(over: dict[str, Any]) -> float:
    """What the client and the transport cost: the bare app's p50 minus the time it waited."""
    floor = over["floor"]
    return floor["p50"] - floor.get("waited_p50", 0.0)


def _section_overhead(over: dict[str, Any]) -> list[str]:
    lines = [
        f"## 1. Gateway overhead (documents search, {over['docs']:,} documents)",
        "",
        "HTTP (httpx, keep-alive, `POST /v1/documents/search`, limit 10) against "
        "`DocumentStore.search` of the same stores built in-process from the same config file "
        "(same embedder, same chroma data). Every query is distinct and never repeated. "
        f"Load average during this benchmark (min / mean / max): {_load(over)}.",
        "",
        "| connections | | p50 ms | p95 ms | p99 ms | req/s |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for key, label in (("c1", "1"), ("c64", "64")):
        for side in ("http", "inproc"):
            r = over[key][side]
            lines.append(
                f"| {label} | {'HTTP' if side == 'http' else 'in-process'} | "
                f"{_ms(r['p50'])} | {_ms(r['p95'])} | {_ms(r['p99'])} | "
                f"{r['rps']:.0f} |"
            )
        d = over[key]["overhead"]
        lines.append(
            f"| {label} | **difference** | **{_ms(d['p50'])}** | {_ms(d['p95'])} | "
            f"{_ms(d['p99'])} | |"
        )
        if key == "c1" and "floor" in over:
            f, cost = over["floor"], _floor_cost(over)
            lines.append(
                f"| 1 | bare ASGI app waiting {_ms(f.get('waited_p50', 0.0))} ms | "
                f"{_ms(f['p50'])} | {_ms(f['p95'])} | {_ms(f['p99'])} | {f['rps']:.0f} |"
            )
            lines.append(
                f"| 1 | floor: client + HTTP (bare app minus its wait) | {_ms(cost)} | | | |"
            )
            lines.append(
                f"| 1 | memio's own share (difference - floor) | {_ms(d['p50'] - cost)} | | | |"
            )
    lines += [
        "",
        "The floor is the same httpx client against `bench/null_app.py`, a bare ASGI app that "
        "answers with a real search response after waiting in a worker thread as long as the "
        "in-process search took (a client that waits between sends costs more than one answered "
        "at once), served by uvicorn with memio-server's settings: what any Python gateway on "
        "this machine costs, minus the wait. memio's own share is the rest of the difference.",
    ]
    return [*lines, "", "![gateway overhead](benchmarks/overhead.png)", ""]


def _section_auth(auth: dict[str, Any]) -> list[str]:
    lines = [
        "## Authentication and tenancy cost",
        "",
        "`GET /v1/facts/{id}` on the memory store through the whole ASGI app in process (no "
        "sockets), with auth off and with each kind of credential, in alternating rounds; the "
        "cost is the median minus the median with auth off (`bench/auth.py`). Load average "
        f"(min / mean / max): {_load(auth)}.",
        "",
        "| credential | p50 ms | p95 ms | cost per request |",
        "|---|--:|--:|--:|",
    ]
    for name, row in auth["requests"].items():
        lines.append(
            f"| {name} | {row['p50']:.3f} | {row['p95']:.3f} | {row['cost'] * 1000:+.0f} us |"
        )
    lines += [
        "",
        "The pieces alone (median per call):",
        "",
        "| step | us |",
        "|---|--:|",
    ]
    lines += [f"| {name} | {value * 1000:.1f} |" for name, value in auth["pieces"].items()]
    lines += [
        "",
        "A token's signature is checked on its first request and the verified token remembered "
        "until it expires; a key created at run time is remembered by the SQLite key store "
        "until revoked, while the PostgreSQL key store (replicas) looks it up on every request "
        "so a revocation holds at once everywhere.",
        "",
    ]
    return lines


def _section_compare(comp: dict[str, Any]) -> list[str]:
    a, b, r = comp["memio"], comp["memio031"], comp["ratios"]
    return [
        "## 2. Side by side with memio 0.3.1",
        "",
        "memio 0.3.1 (`memio[server,chroma]==0.3.1` from PyPI, in `bench/.venv-memio031`, "
        "persistent chroma) runs with **our** MiniLM ONNX embedder: a launcher replaces chroma's "
        "`DefaultEmbeddingFunction.__call__` with memio's `MiniLMEmbedder.embed_sync` before its "
        "server starts (same model file, tokenizer, code and thread count; nothing downloads). "
        f"Rounds alternate A B A B ({comp['rounds']} each): in round 1 each server ingests the "
        f"{comp['docs']:,} documents into a fresh data dir; in every round each server, "
        "restarted on its data, takes the single adds and then the 64-connection searches "
        "(distinct queries per round). Same client, corpus and machine. "
        f"Load average (min / mean / max): {_load(comp)}.",
        "",
        "| | memio | memio 0.3.1 | memio advantage |",
        "|---|--:|--:|--:|",
        f"| search throughput, 64 connections (req/s) | {a['search']['rps']:.0f} | "
        f"{b['search']['rps']:.0f} | {r['search_rps']:.2f}x |",
        f"| search p50 / p95 at 64 connections (ms) | {_ms(a['search']['p50'])} / "
        f"{_ms(a['search']['p95'])} | {_ms(b['search']['p50'])} / {_ms(b['search']['p95'])} | |",
        f"| ingest of {comp['docs']:,} documents (docs/s) | {a['ingest']['items_per_s']:.0f} "
        "(batch route, 1000/call) | "
        f"{b['ingest']['items_per_s']:.0f} (one POST each, 64 connections) | {r['ingest']:.1f}x |",
        f"| single add, 1 connection, p50 / p95 (ms) | {_ms(a['add']['p50'])} / "
        f"{_ms(a['add']['p95'])} | {_ms(b['add']['p50'])} / {_ms(b['add']['p95'])} | "
        f"{r['add_p50']:.2f}x |",
        "",
        "![memio vs 0.3.1](benchmarks/compare.png)",
        "",
    ]


def _section_ingest(ing: dict[str, Any]) -> list[str]:
    runs = " and ".join(f"{r:.0f}" for r in ing.get("raw_runs", [ing["raw_per_s"]]))
    return [
        "## 3. Batch ingest",
        "",
        f"{ing['docs']:,} documents through `POST /v1/documents/batch` (1000 per call, empty "
        "store, model already loaded) against the raw embedder (`MiniLMEmbedder.embed_sync` on "
        "the same texts in the harness process, while no server runs), measured just before and "
        f"just after the server run ({runs} docs/s; the ratio uses their mean). "
        f"Load average (min / mean / max): {_load(ing)}.",
        "",
        "| raw embedder (docs/s) | memio batch route (docs/s) | ratio |",
        "|--:|--:|--:|",
        f"| {ing['raw_per_s']:.0f} | {ing['server_per_s']:.0f} | {ing['ratio'] * 100:.0f}% |",
        "",
    ]


def _section_scale(scale: dict[str, Any]) -> list[str]:
    lines = [
        "## 4. Scale",
        "",
        "One server grows through the sizes by batch ingest (documents and facts, 1000 per "
        "call). **HTTP** is end to end at 1 connection, query embedding included. Then, with the "
        "server stopped, the same stores in-process: **with embedding** is `store.search`; "
        "**no embedding** is the same `store.search` with an embedder that answers the measured "
        "queries from a table of vectors computed beforehand (so chroma query, decode and rank "
        "run unchanged), which isolates the index from the model; **embedding** is the query "
        "embedding alone. Distinct queries everywhere, so no cache hits. "
        f" Load average (min / mean / max): {_load(scale)}.",
        "",
        "| store | stored | HTTP p50 | HTTP p95 | with emb. p50 | with emb. p95 | "
        "no emb. p50 | no emb. p95 | embedding p50 |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for kind in ("documents", "facts"):
        for size in scale["sizes"]:
            p = _point(scale, size)[kind]
            lines.append(
                f"| {kind} | {size:,} | {_ms(p['http']['p50'])} | {_ms(p['http']['p95'])} | "
                f"{_ms(p['with_embedding']['p50'])} | {_ms(p['with_embedding']['p95'])} | "
                f"{_ms(p['no_embedding']['p50'])} | {_ms(p['no_embedding']['p95'])} | "
                f"{_ms(p['embedding']['p50'])} |"
            )
    rates = scale["ingest_per_s"]
    synthetic = ", ".join(f"{int(k):,}" for k in scale.get("synthetic", {}))
    if synthetic:
        lines += [
            "",
            f"**Synthetic vectors past {scale['embedded']:,} records.** The first "
            f"{scale['embedded']:,} documents and facts are embedded by the server (batch "
            "route). The rest, up to "
            f"{synthetic}, are added in-process through the stores' own `add_many` with vectors "
            "made from the stored real ones (the normalised sum of two random real vectors "
            "plus a little noise), because this machine embeds documents at roughly 100/s and "
            "embedding 200k texts would take the better part of an hour. The texts, metadata, "
            "index size and code paths are real; only those records' vectors do not match "
            "their text. Queries are always embedded for real.",
        ]
    lines += [
        "",
        "All latencies in ms. Batch ingest rate while growing: "
        f"{rates['documents']:.0f} documents/s, {rates['facts']:.0f} facts/s.",
        "",
        "![scale](benchmarks/scale.png)",
        "",
    ]
    return lines


def _section_startup(scale: dict[str, Any]) -> list[str]:
    empty, loaded = scale["startup_empty"], scale["startup_loaded"]
    largest = max(scale["sizes"])
    return [
        "## 5. Start-up and memory",
        "",
        "Seconds from spawning `python -m memio.server` to the first 200 on `/health` and on a "
        "documents search (the median of the runs); RSS of the server process.",
        "",
        "| data dir | to /health (s) | to first search (s) | RSS after first search (MiB) |",
        "|---|--:|--:|--:|",
        f"| empty | {empty['health']:.2f} | {empty['search']:.2f} | {empty['rss_mib']:.0f} |",
        f"| {largest:,} documents + {largest:,} facts | {loaded['health']:.2f} | "
        f"{loaded['search']:.2f} | {loaded['rss_mib']:.0f} |",
        "",
        f"RSS idle (fresh server, nothing stored, model not loaded): "
        f"{scale['rss_idle_mib']:.0f} MiB; after ingesting {largest:,} documents and "
        f"{largest:,} facts and searching both: {scale['rss_loaded_mib']:.0f} MiB.",
        "",
    ]


def _section_crash(runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "## 6. Crash recovery (SIGKILL under load)",
        "",
        "`python -m bench crash --trials N --profile P` (bench/crash.py, bench/ledger.py). One "
        "data dir per run; memio-server runs on it while concurrent writers, each one user on "
        "its own connection, mix fact adds and updates, history appends, document adds and "
        "upserts and graph triple adds, recording every write answered 2xx. At a random moment "
        "the server gets SIGKILL; it is started again on the same data and everything "
        "acknowledged since the run began is read back. Trials chain on the same data, so later "
        "trials also update records written before earlier crashes. **Lost**: an acknowledged "
        "write missing or not as acknowledged (including the fact history's ADD/UPDATE events "
        "and message order); **phantom**: stored but never sent; **torn**: an unacknowledged "
        "write half done (allowed: the contract covers acknowledged writes), counted once when "
        "first seen. **Ready**: seconds from spawning the new process to /ready 200. **Clean**: "
        "/ready 200 and no error or traceback in the new process's log. tests/server/"
        "test_crash_recovery.py runs three short trials of each profile in CI.",
        "",
    ]
    for profile, run in sorted(runs.items()):
        totals = run["totals"]
        stores = ", ".join(f"{kind} {name}" for kind, name in run["stores"].items())
        low, high = run["load_seconds"]
        lines += [
            f"**Profile `{profile}`** ({stores}): {totals['trials']} trials, {run['writers']} "
            f"writers, kill {low:g} to {high:g} s into the load, seed {run['seed']}; started "
            f"{run.get('started_at', '?')}, load average (min / mean / max) {_load(run)}. "
            + _others(run),
            "",
            "| trial | killed after (s) | acknowledged writes | records checked | lost | "
            "phantom | torn (new) | ready (s) | clean |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        ]
        seen: set[str] = set()
        for trial in run["trials"]:
            new = [t for t in trial["torn"] if t not in seen]
            seen.update(new)
            lines.append(
                f"| {trial['trial']} | {trial['killed_after_s']:.1f} | {trial['acknowledged']:,} | "
                f"{trial['records_checked']:,} | {trial['lost']} | {trial['phantom']} | "
                f"{len(new)} | {trial['ready_s']:.2f} | {'yes' if trial['clean'] else '**no**'} |"
            )
        lines += [
            f"| **all** | | **{totals['acknowledged']:,}** | | **{totals['lost']}** | "
            f"**{totals['phantom']}** | {totals['torn']} | median {totals['ready_s_median']:.2f}, "
            f"max {totals['ready_s_max']:.2f} | {totals['trials'] - totals['unclean_starts']} of "
            f"{totals['trials']} |",
            "",
        ]
    return lines


WRITES = (
    "fact_add",
    "fact_update",
    "document_add",
    "document_upsert",
    "history_append",
    "graph_add",
)
_OP_LABELS = {
    "fact_add": "fact add",
    "fact_update": "fact update",
    "history_append": "history append",
    "document_add": "document add",
    "document_upsert": "document upsert (batch of 1-3)",
    "graph_add": "graph triple add",
    "fact_search": "fact search",
    "document_search": "document search",
    "history_search": "history search",
    "graph_search": "graph search",
    "fact_get": "fact get",
    "fact_list": "fact list (20)",
    "fact_history": "fact history",
    "document_get": "document get",
    "history_get": "history get (50)",
    "graph_entity": "graph entity",
}


def _section_soak(
    soak: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[str]:
    """`before` and `after`: a shorter A/B pair of the same load on the code without and with
    the group commit (`--name soak-before` / `soak-after`); `after` defaults to `soak`."""
    minutes = soak["minutes"]
    marks = " / ".join(f"{mib:.0f}" for _, mib in soak["rss_per_minute_mib"])
    errors = sum(soak["errors"].values())
    total = sum(op["n"] for op in soak["ops"].values())
    lines = [
        "## 7. Soak",
        "",
        f"`python -m bench soak --minutes {minutes:g} --connections {soak['connections']}` "
        "(bench/soak.py). memio-server on a fresh data dir with the embedded defaults (chroma "
        "facts and documents, sqlite history, networkx graph), seeded with "
        f"{soak['seeded']['documents']:,} documents and {soak['seeded']['facts']:,} facts "
        f"(batch routes); then {soak['connections']} workers, each one user on its own "
        "keep-alive connection, send a random mix of every store's writes (40%), searches "
        f"(30%) and reads (30%): {soak['warm_up_s']:g} s of warm-up, then {minutes:g} "
        "measured minutes. Every text and query is distinct (no cache hit). Started "
        f"{soak.get('started_at', '?')}; load average (min / mean / max) {_load(soak)}. "
        + _others(soak),
        "",
        "| server RSS (MiB) | |",
        "|---|--:|",
        f"| idle, before seeding | {soak['rss_idle_mib']:.0f} |",
        f"| after warm-up (baseline) | {soak['rss_start_mib']:.0f} |",
        f"| each minute | {marks} |",
        f"| end | {soak['rss_end_mib']:.0f} |",
        f"| growth after warm-up | **{soak['rss_growth_pct']:+.1f}%** (max "
        f"{soak['rss_max_mib']:.0f}) |",
        "",
        "Records stored at the baseline and at the end: "
        + ", ".join(
            f"{kind} {soak['counts_start'].get(kind, 0):,} -> {soak['counts_end'].get(kind, 0):,}"
            for kind in ("facts", "documents", "history", "graph")
        )
        + ".",
        "",
        f"{total:,} requests in {soak['measured_s'] / 60:.1f} minutes "
        f"({total / soak['measured_s']:.0f}/s), **{errors} errors**.",
        "",
        "| operation | requests | per s | errors | p50 ms | p95 ms | p99 ms |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for op, r in soak["ops"].items():
        lines.append(
            f"| {_OP_LABELS.get(op, op)} | {r['n']:,} | {r['per_s']:.1f} | {r['errors']} | "
            f"{_ms(r['p50'])} | {_ms(r['p95'])} | {_ms(r['p99'])} |"
        )
    lines.append("")
    if before:
        after = after or soak
        lines += [
            "**Fact writes, before and after the group commit** (bench/notes.md explains the "
            f"cause): `--minutes {before['minutes']:g} --warm-up {before['warm_up_s']:g}`, the "
            "same seed, one run on the code without it (started "
            f"{before.get('started_at', '?')}, load average {_load(before)}) and one with it "
            f"(started {after.get('started_at', '?')}, load average {_load(after)}). "
            + _others(before),
            "",
            "| operation | before p50 / p95 ms | after p50 / p95 ms | before per s | after per s |",
            "|---|--:|--:|--:|--:|",
        ]
        for op in (*WRITES, "fact_search", "document_search"):
            a, b = before["ops"][op], after["ops"][op]
            lines.append(
                f"| {_OP_LABELS[op]} | {_ms(a['p50'])} / {_ms(a['p95'])} | "
                f"{_ms(b['p50'])} / {_ms(b['p95'])} | {a['per_s']:.1f} | {b['per_s']:.1f} |"
            )
        lines.append("")
    return lines


def extra_sections() -> list[str]:
    """Sections 6 and 7 (crash, soak): run on their own, from bench/results/ when present."""
    from bench.common import RESULTS

    def read(name: str) -> dict[str, Any] | None:
        path = RESULTS / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    lines: list[str] = []
    crash = {p: r for p in ("embedded", "postgres") if (r := read(f"crash-{p}"))}
    if crash:
        lines += _section_crash(crash)
    soak = read("soak")
    if soak:
        lines += _section_soak(soak, read("soak-before"), read("soak-after"))
    return lines


def write(mode: Mode, command: str | None) -> Path:
    """Render every result present; returns the Markdown file written."""
    names = ("overhead", "compare", "ingest", "scale", "auth")
    results = {name: load(mode, name) for name in names}
    results = {k: v for k, v in results.items() if v}
    if mode.name == "full":
        md, img = ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "benchmarks"
    else:
        md, img = mode.results / "benchmarks.md", mode.results / "benchmarks"
    stamp = mode.results / "command.txt"
    if command:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(command)
    command = stamp.read_text() if stamp.exists() else "python -m bench all"
    _plots(results, img)
    m = machine()
    runs = [r.get("started_at", "") for r in results.values()]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` from the repository root (results: `bench/results/*.json`; "
        "regenerate this page with `python -m bench report`). The harness lives in `bench/`; it "
        "is run by hand, not by CI.",
        "",
        f"- Run: {min(runs)} to {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"mode: {mode.name}.",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, chromadb {m['chromadb']}, onnxruntime {m['onnxruntime']}, "
        f"uvicorn {m['uvicorn']}.",
        "- Everything runs on this one machine: server, client (httpx, one keep-alive "
        "connection per concurrent worker) and embedder share the cores, and only 127.0.0.1 is "
        "used. The load average (1 min) during each benchmark is given with it; it counts the "
        "benchmark's own server, client and embedder threads.",
        "- Corpus: generated by `bench/corpus.py` from fixed seeds; documents of 1 to 3 "
        "sentences (about 34 words), facts of one sentence (about 11 words), queries of 4 to 10 "
        "words; about 240 words and phrases in 12 topics combine into millions of distinct "
        "sentences, plus numbers; every text and every query is unique.",
        "- Servers: memio as `python -m memio.server` with documents and facts on embedded "
        "chroma, default MiniLM embedder, no auth (so no rate limit).",
        "",
        "## Targets",
        "",
        "| target | figure | |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {figure} | {_mark(ok)} |" for name, figure, ok in _targets(results, mode)
    ]
    lines.append("")
    if "overhead" in results:
        lines += _section_overhead(results["overhead"])
    if "compare" in results:
        lines += _section_compare(results["compare"])
    if "ingest" in results:
        lines += _section_ingest(results["ingest"])
    if "scale" in results:
        lines += _section_scale(results["scale"]) + _section_startup(results["scale"])
    if "auth" in results:
        lines += _section_auth(results["auth"])
    lines += extra_sections()
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text("\n".join(lines))
    return md
