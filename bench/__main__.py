"""memio's benchmark harness: `python -m bench all|auth|overhead|compare|ingest|scale|report`,
or `crash`, `soak`, `quality`, `quality-explore`, `wrk`, `mem0-paging` and `pgvector`.

`all [--quick]` runs auth, overhead, compare, ingest and scale; `crash` (acknowledged writes
survive SIGKILL), `soak` (memory, errors and latency over minutes of mixed load), `quality`
(recall@k on LoCoMo conversations, per search mode), `quality-explore` (the same recall for
dated turns, question forms and neighbour re-ranking), `wrk` (search speed per MiniLM compute
path, with wrk), `mem0-paging` (a mem0 dialect page with 100,000 facts stored) and `pgvector`
(pgvector beside chroma at 10,000 and 100,000 items, one and three replicas over PostgreSQL) run
on their own; quality, wrk, mem0-paging and pgvector render their sections of docs/benchmarks.md
in place.

Full results go to bench/results/*.json and docs/benchmarks.md (+ docs/benchmarks/*.png); quick
results (a smoke run of the same code on small sizes) to bench/results/quick/. crash and soak
save their JSON only; `python -m bench report` renders every result present.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench import common, report

BENCHMARKS = ("auth", "compare", "ingest", "overhead", "scale")


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    bounds = (float(low), float(high or low))
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError("expected MIN-MAX seconds, 0 <= MIN <= MAX")
    return bounds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("all", *BENCHMARKS, "report"):
        sub = commands.add_parser(name)
        sub.add_argument("--quick", action="store_true", help="small sizes, one round")

    from bench.crash import DEFAULT_DSN, PROFILES
    from bench.quality import DEFAULT_DATA

    crash = commands.add_parser("crash", help="SIGKILL the server under load; nothing is lost")
    crash.add_argument("--trials", type=int, default=20)
    crash.add_argument("--profile", choices=sorted(PROFILES), default="embedded")
    crash.add_argument("--writers", type=int, default=32, help="concurrent writers")
    crash.add_argument(
        "--load-seconds",
        type=_range,
        default=(3.0, 12.0),
        help="the kill comes this long into the load, uniformly at random (MIN-MAX)",
    )
    crash.add_argument("--seed", type=int, help="replay a run's random choices")
    crash.add_argument(
        "--dsn",
        help=f"PostgreSQL of the postgres and pgvector profiles (postgres: default {DEFAULT_DSN}; "
        "pgvector: default --vector-dsn)",
    )
    crash.add_argument(
        "--vector-dsn",
        help="PostgreSQL with pgvector for facts/documents (default --dsn; neither: a throw-away "
        "server is started for the run)",
    )

    pgvector = commands.add_parser("pgvector", help="pgvector beside chroma; replicas")
    pgvector.add_argument("--quick", action="store_true", help="small sizes")
    pgvector.add_argument(
        "--dsn", help="PostgreSQL with pgvector (default: a throw-away server for the run)"
    )

    soak = commands.add_parser("soak", help="minutes of mixed load: RSS, errors, latencies")
    soak.add_argument("--minutes", type=float, default=10.0)
    soak.add_argument("--connections", type=int, default=32)
    soak.add_argument("--warm-up", type=float, default=60.0, help="seconds before RSS is taken")
    soak.add_argument("--seed", type=int, default=7)
    soak.add_argument("--name", default="soak", help="result file bench/results/<name>.json")
    soak.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run the server under tracemalloc and save its top allocations at each sample",
    )
    wrk = commands.add_parser("wrk", help="search speed with wrk, per MiniLM compute path")
    wrk.add_argument("--docs", type=int, default=10_000, help="documents stored (%(default)s)")
    wrk.add_argument("--seconds", type=int, default=20, help="length of each wrk run (%(default)s)")
    wrk.add_argument(
        "--rounds", type=int, default=2, help="rounds, paths alternating (%(default)s)"
    )
    wrk.add_argument(
        "--computes",
        default="float,int8,0.3.1",
        help="compute paths, comma-separated; 0.3.1 is memio 0.3.1 (%(default)s)",
    )
    wrk.add_argument(
        "--mode",
        choices=["semantic", "keyword", "hybrid"],
        help="search_mode of every search (default: the server's, hybrid)",
    )
    wrk.add_argument(
        "--users",
        type=int,
        default=0,
        help="documents spread over this many users, each search within one (default: unscoped)",
    )
    paging = commands.add_parser("mem0-paging", help="a mem0 dialect page with many facts")
    paging.add_argument("--facts", type=int, default=100_000, help="facts stored (%(default)s)")
    paging.add_argument(
        "--src",
        type=Path,
        action="append",
        help="a memio source tree to serve (repeat; default: this checkout)",
    )
    quality = commands.add_parser("quality", help="recall@k on LoCoMo conversations, per mode")
    quality.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="directory of LoCoMo-format conversations (*.json); default: %(default)s",
    )
    quality.add_argument(
        "--compute",
        choices=["float", "int8"],
        default="float",
        help="the MiniLM compute path (embedder.compute); float updates docs/benchmarks.md",
    )
    explore = commands.add_parser(
        "quality-explore", help="LoCoMo recall of dated turns, question forms, neighbour ranking"
    )
    explore.add_argument("--data", type=Path, default=DEFAULT_DATA, help="as for quality")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "wrk":
        from bench import wrk_search

        print(f"[bench] wrk, load {os.getloadavg()[0]:.2f} ...", flush=True)
        wrk_search.main(
            args.docs, args.seconds, args.rounds, args.computes.split(","), args.mode, args.users
        )
        return 0
    if args.command == "mem0-paging":
        from bench import mem0_paging

        mem0_paging.main(args.facts, args.src or [None])
        return 0
    if args.command == "quality":
        from bench import quality

        print(f"[bench] quality, load {os.getloadavg()[0]:.2f} ...", flush=True)
        quality.main(args.data, compute=args.compute)
        return 0
    if args.command == "quality-explore":
        from bench import quality_explore

        quality_explore.main(args.data)
        return 0
    if args.command in ("crash", "soak"):
        import importlib

        print(f"[bench] {args.command}, load {os.getloadavg()[0]:.2f} ...", flush=True)
        importlib.import_module(f"bench.{args.command}").main(vars(args))
        return 0
    mode = common.QUICK if args.quick else common.FULL
    if args.command == "pgvector":
        from bench import pgvector

        print(f"[bench] pgvector ({mode.name}), load {os.getloadavg()[0]:.2f} ...", flush=True)
        pgvector.main(mode, args.dsn)
        print(f"[bench] report: {report.write_pgvector(mode)}")
        return 0
    names = BENCHMARKS if args.command == "all" else (args.command,)
    if args.command != "report":
        import importlib

        for name in names:
            start = time.time()
            print(f"[bench] {name} ({mode.name}), load {os.getloadavg()[0]:.2f} ...", flush=True)
            importlib.import_module(f"bench.{name}").main(mode)
            print(f"[bench] {name} done in {time.time() - start:.0f} s", flush=True)
    command = " ".join(["python -m bench", args.command, *(["--quick"] if args.quick else [])])
    path = report.write(mode, command if args.command == "all" else None)
    print(f"[bench] report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
