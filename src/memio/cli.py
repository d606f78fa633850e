"""The `memio` command: one subcommand per task, each in a few lines here.

    memio mcp --config memio-server.yaml [--user-id alice]

A subcommand is a parser (`_SUBCOMMANDS`) and a function taking the parsed arguments and returning
the exit status: 0 done, 1 the data is held or refused (one line saying why), 2 a bad
configuration (one line per problem).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from memio.errors import EmbedderMismatchError
from memio.providers._shared import DataLockedError
from memio.redaction import RedactingFormatter, redacted
from memio.server.config import DEFAULT_CONFIG_FILE

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memio", description="memio's command line tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (add_arguments, _) in _SUBCOMMANDS.items():
        add_arguments(commands.add_parser(name, help=add_arguments.__doc__))
    args = parser.parse_args(argv)
    return _SUBCOMMANDS[args.command][1](args)


def _mcp_arguments(parser: argparse.ArgumentParser) -> None:
    """serve memio's stores as MCP tools over stdio (see docs/mcp.md)"""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"YAML config (default: $MEMIO_CONFIG, else ./{DEFAULT_CONFIG_FILE} if present)",
    )
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
    "mcp": (_mcp_arguments, _mcp),
}

if __name__ == "__main__":
    sys.exit(main())
