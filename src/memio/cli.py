"""The `memio` command: one subcommand per task, each in a few lines here.

    memio serve [--config memio-server.yaml] [--host H] [--port P]   (as memio-server)
    memio check [--config FILE] [--connect]
    memio mcp --config memio-server.yaml [--user-id alice]
    memio export --config FILE [--stores facts,history] [--user-id U ...] -o DUMP.jsonl
    memio import --config FILE DUMP.jsonl
    memio migrate --from A.yaml --to B.yaml
    memio stats --config FILE

The commands that move or count items live in `memio.data_commands`.

A subcommand is a parser (`_SUBCOMMANDS`) and a function taking the parsed arguments and returning
the exit status: 0 done, 1 the data is held or refused (one line saying why), 2 a bad
configuration (one line per problem), 130 stopped by Ctrl-C (after a partial summary).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence

from memio import __version__
from memio.client import Memio
from memio.data_commands import DATA_COMMANDS, one_line
from memio.errors import EmbedderMismatchError
from memio.protocols import Embedder
from memio.providers.shared import DataLockedError
from memio.redaction import RedactingFormatter, redacted
from memio.server.__main__ import add_config_argument, add_server_arguments, run

__all__ = ["main"]

CONNECT_TIMEOUT_SECONDS = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memio", description="memio's command line tools.")
    parser.add_argument("--version", action="version", version=f"memio {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (add_arguments, _) in _SUBCOMMANDS.items():
        add_arguments(commands.add_parser(name, help=add_arguments.__doc__))
    args = parser.parse_args(argv)
    return _SUBCOMMANDS[args.command][1](args)


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    """serve memio's stores over HTTP, as memio-server does (see docs/server.md)"""
    add_server_arguments(parser)


def _serve(args: argparse.Namespace) -> int:
    return run(args, prog="memio serve")


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    """check a config: which provider serves each store; --connect also contacts each backend"""
    add_config_argument(parser)
    parser.add_argument(
        "--connect",
        action="store_true",
        help="also contact every store's backend and the embedder and report each one",
    )


def _check(args: argparse.Namespace) -> int:
    if not args.connect:
        return run(
            argparse.Namespace(**vars(args), host=None, port=None, check=True), prog="memio check"
        )
    from memio.server.__main__ import load_stores

    loaded = load_stores("memio check", args.config)
    if loaded is None:
        return 2
    _, source, stores, embedder = loaded
    print(f"configuration OK ({source}); contacting every backend")
    failed = asyncio.run(_contact(stores, embedder))
    return 1 if failed else 0


async def _contact(stores: Memio, embedder: Embedder) -> int:
    """Ping each store and embed one word; print one line each; returns how many failed."""

    async def embed() -> None:
        await embedder.embed(["ping"])

    checks: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        (f"{kind} ({store.provider})", store.ping) for kind, store in stores.stores.items()
    ]
    checks.append((f"embedder ({getattr(embedder, 'model', type(embedder).__name__)})", embed))
    failed = 0
    try:
        for name, check in checks:
            try:
                await asyncio.wait_for(check(), CONNECT_TIMEOUT_SECONDS)
            except Exception as exc:
                failed += 1
                reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                if isinstance(exc, TimeoutError):
                    reason = f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
                print(f"  {name}: failed: {one_line(reason)}")
            else:
                print(f"  {name}: OK")
    finally:
        await stores.aclose()
        await embedder.aclose()
    return failed


def _mcp_arguments(parser: argparse.ArgumentParser) -> None:
    """serve memio's stores as MCP tools over stdio (see docs/mcp.md)"""
    add_config_argument(parser)
    parser.add_argument(
        "--user-id",
        metavar="ID",
        help="act for this user only, as a key bound to it would (default: an operator, which "
        "names the user in every tool call)",
    )


def _mcp(args: argparse.Namespace) -> int:
    from memio.scoping import Scope
    from memio.server.__main__ import load_stores
    from memio.server.mcp.stdio import serve_stdio

    _log_to_stderr()  # stdout carries the protocol
    loaded = load_stores("memio mcp", args.config)
    if loaded is None:
        return 2
    config, _, stores, embedder = loaded
    try:
        asyncio.run(serve_stdio(config, stores, embedder, Scope(user_id=args.user_id)))
    except (DataLockedError, EmbedderMismatchError) as exc:
        print(f"memio mcp: cannot serve this data: {redacted(exc.message)}", file=sys.stderr)
        return 1
    return 0


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    )
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


_SUBCOMMANDS: dict[
    str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "serve": (_serve_arguments, _serve),
    "check": (_check_arguments, _check),
    "mcp": (_mcp_arguments, _mcp),
    **DATA_COMMANDS,
}

if __name__ == "__main__":
    sys.exit(main())
