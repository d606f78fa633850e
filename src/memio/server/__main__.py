"""The `memio-server` command (also `python -m memio.server`).

The whole configuration, stores included, is checked before uvicorn starts, so a mistake ends the
process with exit status 2 and one line per problem instead of a traceback from inside the server.
Embedded data another process already holds (see `shared.PathLock`) ends it with status 1 and
one line naming that process.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import logging.config
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memio import __version__
from memio.client import Memio
from memio.config import (
    DEFAULT_CONFIG_FILE,
    ConfigError,
    ServerConfig,
    load_config,
    resolve_config_path,
)
from memio.errors import EmbedderMismatchError
from memio.protocols import Embedder
from memio.providers.shared import DataLockedError
from memio.redaction import RedactingFormatter, redacted
from memio.server.mem0_api.entities import ENTITY_FILE
from memio.server.mem0_api.extraction import ExtractionLLM

__all__ = ["add_server_arguments", "load_stores", "main", "run"]

logger = logging.getLogger("memio.server")
BUILT_IN = "built-in defaults"


def main(argv: Sequence[str] | None = None) -> int:
    return run(_parser().parse_args(argv), prog="memio-server")


def run(args: argparse.Namespace, *, prog: str) -> int:
    """Check the config and serve it (or, with `--check`, describe it): `memio-server` and
    `memio serve` alike."""
    loaded = load_stores(prog, args.config, host=args.host, port=args.port)
    if loaded is None:
        return 2
    config, source, stores, embedder = loaded
    # Building the stores was the check; the app builds (and closes) its own in its lifespan.
    try:
        asyncio.run(_close(stores, embedder, claim=not args.check))
    except (DataLockedError, EmbedderMismatchError) as exc:
        print(f"{prog}: cannot serve this data: {redacted(exc.message)}", file=sys.stderr)
        return 1
    if args.check:
        _print_check(source, config, stores)
        return 0
    return _serve(config, source)


def load_stores(
    prog: str, config_arg: str | None, **overrides: Any
) -> tuple[ServerConfig, str, Memio, Embedder] | None:
    """The config (`--config`, else $MEMIO_CONFIG or ./memio-server.yaml, else the defaults),
    where it came from, and its stores and embedder built but not opened; None after printing
    one line per problem (the caller exits with status 2)."""
    from memio.server.app import build_embedder, build_memio

    source = BUILT_IN
    try:
        path = resolve_config_path(config_arg)
        source = str(path) if path else source
        try:
            config = load_config(path, **overrides)
        except ConfigError as exc:
            if exc.config is not None:  # the stores' own problems too, in the same run
                try:
                    build_memio(exc.config, build_embedder(exc.config.embedder))
                except ConfigError as more:
                    exc.extend(more.problems)
            raise
        embedder = build_embedder(config.embedder)
        return config, source, build_memio(config, embedder), embedder
    except ConfigError as exc:
        print(f"{prog}: invalid configuration ({exc.source or source}):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {redacted(problem)}", file=sys.stderr)
        return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memio-server",
        description="Serve memio's stores over HTTP (see docs/server.md).",
    )
    parser.add_argument("--version", action="version", version=f"memio {__version__}")
    add_server_arguments(parser)
    return parser


def add_config_argument(parser: argparse.ArgumentParser, flag: str = "--config") -> None:
    parser.add_argument(
        flag,
        metavar="FILE",
        help=f"YAML config (default: $MEMIO_CONFIG, else ./{DEFAULT_CONFIG_FILE} if present)",
    )


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `memio-server` and `memio serve`."""
    add_config_argument(parser)
    parser.add_argument("--host", help="address to bind (default: $MEMIO_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: $MEMIO_PORT or 8080)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the config, show which provider serves each store, and exit",
    )


async def _close(stores: Memio, embedder: Embedder, *, claim: bool) -> None:
    """Close the checked stores; with `claim`, first try their embedded data's process locks and
    their embedders (`app.claim_data`), so a second server on the same data directory, or a
    database embedded by another model, ends here with one line saying why (the app takes the
    locks for good when it starts)."""
    from memio.server.app import claim_data

    try:
        if claim:
            await claim_data(stores)
    finally:
        await stores.aclose()
        await embedder.aclose()


def _print_check(source: str, config: ServerConfig, stores: Memio) -> None:
    print(f"configuration OK ({source})")
    for kind, store in stores.stores.items():
        print(f"  {kind}: {store.provider}")
    embedder = config.embedder
    print(f"  embedder: {embedder.provider}" + (f" ({embedder.model})" if embedder.model else ""))
    if embedder.provider == "minilm":
        print(f"  embedder compute: {_compute_summary(embedder.compute)}")
    print(f"  data_dir: {Path(config.data_dir).resolve()}")
    print(f"  listen: http://{config.server.host}:{config.server.port}")
    auth = config.auth
    if config.auth_enabled:
        bound = sum(key.scope.bound for key in auth.api_keys)
        where = auth.key_store or f"{Path(config.data_dir).resolve() / 'keys.sqlite3'}"
        print(
            f"  auth: on ({len(auth.api_keys)} configured keys, {bound} bound to a scope; "
            f"tokens: {'on' if auth.jwt else 'off'}; created keys in {redacted(str(where))})"
        )
    else:
        print("  auth: off")
    print(f"  rate limit: {'on' if config.rate_limit_enabled else 'off'}")
    entities = config.server.entity_store or Path(config.data_dir).resolve() / ENTITY_FILE
    print(f"  mem0 entity record: {redacted(str(entities))}")
    print(f"  extraction LLM: {ExtractionLLM.summary(config)}")


def _compute_summary(compute: str) -> str:
    from memio.embeddings.int8 import INT8_CPU_FLAGS, cpu_has_int8_dot

    if compute == "float":
        return compute
    has = cpu_has_int8_dot()
    path = "int8" if compute == "int8" or has else "float"
    return f"{compute}: {path} (this CPU has {'one' if has else 'none'} of " + (
        ", ".join(INT8_CPU_FLAGS) + ")"
    )


def _serve(config: ServerConfig, source: str) -> int:
    import uvicorn
    from threadpoolctl import threadpool_limits

    from memio.server.app import create_app
    from memio.server.connections import http_protocol

    log_config = _log_config()
    logging.config.dictConfig(log_config)
    settings = config.server
    data_dir = Path(config.data_dir).resolve()
    if source == BUILT_IN:
        logger.info(
            "no %s here and no --config or $MEMIO_CONFIG: using the built-in defaults "
            "(embedded stores) with data directory %s",
            DEFAULT_CONFIG_FILE,
            data_dir,
        )
    else:
        logger.info("configuration: %s; data directory %s", source, data_dir)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = settings.public_url or f"http://{host}:{settings.port}"
    logger.info("API reference at %s/docs", base)
    # Concurrent requests are the server's parallelism. BLAS's own threads (numpy's products,
    # e.g. comparing concurrent searches with the stored vectors) spin between products and took
    # CPU from the requests in flight (bench wrk: 275 req/s with them, 357 without).
    threadpool_limits(limits=1, user_api="blas")
    uvicorn.run(
        create_app(config),
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        server_header=False,
        ws="none",  # no websocket routes: do not load a websocket stack
        # slow clients (see memio.server.connections)
        http=http_protocol(settings.header_timeout_seconds),
        timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]
        limit_concurrency=settings.max_connections,
    )
    return 0


def _log_config() -> dict[str, Any]:
    """uvicorn's logging setup, memio's own logger on the same handler, and the audit log as
    bare JSON lines on stderr (one per write or delete; see memio.server.audit). Every other
    library's warnings go to the same handler, and every formatter redacts passwords
    (`memio.redaction`), whoever logs the line."""
    from uvicorn.config import LOGGING_CONFIG

    from memio.server.audit import AUDIT_LOGGER

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["memio"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    log_config["formatters"]["audit"] = {"format": "%(message)s"}
    log_config["handlers"]["audit"] = {
        "formatter": "audit",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    log_config["loggers"][AUDIT_LOGGER] = {
        "handlers": ["audit"],
        "level": "INFO",
        "propagate": False,
    }
    log_config["root"] = {"handlers": ["default"], "level": "WARNING"}
    log_config["formatters"] = {
        name: {"()": RedactingFormatter.from_config, "spec": spec}
        for name, spec in log_config["formatters"].items()
    }
    return log_config


if __name__ == "__main__":
    sys.exit(main())
