"""`python -m bench all [--quick]`, or one: auth, overhead, compare, ingest, scale, report.

Full results go to bench/results/*.json and docs/benchmarks.md (+ docs/benchmarks/*.png); quick
results (a smoke run of the same code on small sizes) to bench/results/quick/.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench import common, report

BENCHMARKS = ("auth", "compare", "ingest", "overhead", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("all", *BENCHMARKS, "report"))
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    args = parser.parse_args(argv)
    mode = common.QUICK if args.quick else common.FULL
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
