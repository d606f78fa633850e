"""`memio export`, `import`, `migrate`, `reembed` and `stats`: the commands that move, recompute
or count items.

Each opens the stores of a config as the server would (`server.__main__.load_stores`), works
through `memio.transfer`, shows progress (`memio.progress`) and ends with a summary. Ctrl-C stops
cleanly: the stores are closed, what was done so far is summarised, and the exit status is 130.
An export is written to ``DUMP.jsonl.partial`` and renamed when complete, so an interrupted one
never looks finished.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import IO, Any

from memio.client import Memio
from memio.config import ServerConfig
from memio.dump import PLURALS, Header, embedder_header, encode_item, read_dump
from memio.errors import EmbedderMismatchError, MemioError
from memio.progress import Progress
from memio.protocols import Embedder, Reembeddable
from memio.providers import STORE_KINDS
from memio.providers.shared import DataLockedError
from memio.redaction import redacted
from memio.server.__main__ import add_config_argument, load_stores
from memio.transfer import Importer, Tally, read_items

__all__ = ["DATA_COMMANDS", "one_line"]

INTERRUPTED = 130
_COUNTED = {"facts": "facts", "history": "messages", "documents": "documents", "graph": "triples"}

Loaded = tuple[ServerConfig, str, Memio, Embedder]


# --- arguments ---------------------------------------------------------------------------------


def _stores_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stores",
        type=_store_kinds,
        default=list(STORE_KINDS),
        metavar="KINDS",
        help=f"comma-separated stores (default: all of {','.join(STORE_KINDS)})",
    )


def _users_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user-id",
        action="append",
        metavar="ID",
        dest="user_ids",
        help="only this user's items (repeat for several; default: every item)",
    )


def _store_kinds(text: str) -> list[str]:
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in STORE_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown store {', '.join(unknown) or text!r} (known: {', '.join(STORE_KINDS)})"
        )
    return kinds


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    """write every item (ids, scope, metadata, timestamps, fact history) to a JSONL dump"""
    add_config_argument(parser)
    _stores_argument(parser)
    _users_argument(parser)
    parser.add_argument(
        "--with-vectors",
        action="store_true",
        help="also write each fact's, document's and triple's vector (the config's embedder)",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="DUMP.jsonl", help="the dump file ('-': stdout)"
    )


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    """write a dump's items into the config's stores, keeping ids, timestamps and history"""
    add_config_argument(parser)
    _stores_argument(parser)
    parser.add_argument("dump", metavar="DUMP.jsonl", help="a dump of memio export ('-': stdin)")


def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    """copy every item from one config's stores into another's, re-embedding on the way"""
    parser.add_argument("--from", dest="source", required=True, metavar="A.yaml")
    parser.add_argument("--to", dest="target", required=True, metavar="B.yaml")
    _stores_argument(parser)
    _users_argument(parser)


def _reembed_arguments(parser: argparse.ArgumentParser) -> None:
    """recompute every stored vector with the config's embedder, after the embedder changed"""
    add_config_argument(parser)
    _stores_argument(parser)


def _stats_arguments(parser: argparse.ArgumentParser) -> None:
    """items per store, per user and per provider, and the data directory in use"""
    add_config_argument(parser)


# --- commands ----------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    prog = "memio export"
    loaded = load_stores(prog, args.config)
    if loaded is None:
        return 2
    written: Counter[str] = Counter()

    async def export(out: IO[str]) -> None:
        _, _, memio, embedder = loaded
        async with _opened(loaded):
            kinds = [kind for kind in args.stores if kind in memio.stores]
            totals = {} if args.user_ids else await _totals(memio, kinds)
            header = Header(
                stores={kind: memio.stores[kind].provider for kind in kinds},
                user_ids=args.user_ids,
                embedder=(
                    embedder_header(embedder.model, embedder.dimensions)
                    if args.with_vectors
                    else None
                ),
            )
            out.write(header.line() + "\n")
            with Progress("export", totals=totals) as progress:
                async for item in read_items(
                    memio,
                    stores=kinds,
                    user_ids=args.user_ids,
                    embedder=embedder if args.with_vectors else None,
                ):
                    out.write(encode_item(item) + "\n")
                    written[PLURALS[item.kind]] += 1
                    progress.advance(PLURALS[item.kind])

    def summary() -> list[str]:
        counts = ", ".join(f"{count} {label}" for label, count in written.items())
        return [f"{args.output}: {counts or 'no items'}"]

    with _output(args.output) as (out, finish):
        status = _run(prog, lambda: export(out), summary, stream=sys.stderr)
        if status == 0:
            finish()
    if status != 0 and args.output != "-":
        partial = Path(f"{args.output}.partial")
        if written:
            print(f"{prog}: the incomplete dump is {partial}", file=sys.stderr)
        else:  # nothing of the stores in it: no file to mistake for a dump
            partial.unlink(missing_ok=True)
    return status


def _import(args: argparse.Namespace) -> int:
    prog = "memio import"
    loaded = load_stores(prog, args.config)
    if loaded is None:
        return 2
    tally = Tally()

    async def restore() -> None:
        _, _, memio, _ = loaded
        async with _opened(loaded):
            with _input(args.dump) as stream:
                header, items = read_dump(stream, name=args.dump)
                _warn_missing_stores(prog, header.stores, memio, args.stores)
                await _write_all(memio, items, args.stores, tally)

    return _run(prog, restore, tally.lines, failed=lambda: tally.conflicts or tally.failures)


def _migrate(args: argparse.Namespace) -> int:
    prog = "memio migrate"
    if Path(args.source).resolve() == Path(args.target).resolve():
        print(f"{prog}: --from and --to name the same file", file=sys.stderr)
        return 2
    source = load_stores(prog, args.source)
    target = load_stores(prog, args.target) if source is not None else None
    if source is None or target is None:
        return 2
    tally = Tally()

    async def migrate() -> None:
        async with _opened(source), _opened(target):
            from_embedder, to_embedder = source[3], target[3]
            if (from_embedder.model, from_embedder.dimensions) != (
                to_embedder.model,
                to_embedder.dimensions,
            ):
                print(
                    f"{prog}: embedders differ ({from_embedder.model} -> {to_embedder.model}): "
                    "every item is embedded again by the target's",
                    file=sys.stderr,
                )
            items = read_items(source[2], stores=args.stores, user_ids=args.user_ids)
            await _write_all(target[2], items, args.stores, tally)

    return _run(prog, migrate, tally.lines, failed=lambda: tally.conflicts or tally.failures)


def _reembed(args: argparse.Namespace) -> int:
    prog = "memio reembed"
    loaded = load_stores(prog, args.config)
    if loaded is None:
        return 2
    _, _, memio, embedder = loaded
    lines: list[str] = []
    left: list[str] = []

    async def reembed() -> None:
        async with _opened(loaded):
            with Progress("reembed") as progress:
                for kind in args.stores:
                    store = memio.stores.get(kind)
                    if store is None:
                        continue
                    name = f"{kind} ({store.provider})"
                    if not isinstance(store, Reembeddable):
                        if not await _held(kind, store):
                            lines.append(f"{name}: nothing stored")
                            continue
                        left.append(kind)
                        lines.append(
                            f"{name}: cannot recompute its vectors in place; copy it into a "
                            "config with the new embedder with memio migrate"
                        )
                        continue
                    started = time.monotonic()
                    label = _COUNTED[kind]
                    done = await store.reembed(progress=lambda n, k=label: progress.advance(k, n))
                    lines.append(
                        f"{name}: {done} {label} re-embedded with {embedder.model} "
                        f"({time.monotonic() - started:.1f} s)"
                    )

    return _run(prog, reembed, lambda: lines, failed=lambda: left)


def _stats(args: argparse.Namespace) -> int:
    prog = "memio stats"
    loaded = load_stores(prog, args.config)
    if loaded is None:
        return 2
    config, source, memio, _ = loaded
    lines = [f"configuration: {source}", f"data directory: {Path(config.data_dir).resolve()}"]

    async def stats() -> None:
        async with _opened(loaded):
            per_provider: Counter[str] = Counter()
            for kind, store in memio.stores.items():
                count = await _held(kind, store)
                per_provider[store.provider] += count
                line = f"{kind} ({store.provider}): {count} {_COUNTED[kind]}"
                if kind == "facts" and (expired := count - await store.count()):
                    line += f" ({expired} expired, awaiting the sweep)"
                lines.append(line)
            lines.append(
                "per provider: "
                + ", ".join(f"{name} {count}" for name, count in sorted(per_provider.items()))
            )
            per_user: dict[str | None, Counter[str]] = {}
            owners: dict[str, str | None] = {}
            async for item in read_items(memio, histories=False):
                if item.kind == "session":
                    owners[str(item.session_id)] = item.owner
                owner = (
                    owners.get(str(item.session_id))
                    if item.kind in ("session", "message")
                    else getattr(item.model, "user_id", None)
                )
                per_user.setdefault(owner, Counter())[PLURALS[item.kind]] += 1
            lines.append("per user:")
            for owner in sorted(per_user, key=lambda user: (user is None, user or "")):
                counts = per_user[owner]
                name = owner if owner is not None else "(no user: shared or unscoped)"
                lines.append(f"  {name}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))

    return _run(prog, stats, lambda: lines)


# --- helpers -----------------------------------------------------------------------------------


async def _write_all(memio: Memio, items: Any, kinds: list[str], tally: Tally) -> None:
    """Write `items` (an iterator or async iterator of DumpItems) of the `kinds` stores that
    `memio` has (the others were named by `_warn_missing_stores`)."""
    wanted = {
        kind for kind, store in _KIND_STORE.items() if store in kinds and store in memio.stores
    }
    importer = Importer(memio, tally)
    with Progress("import") as progress:
        async for item in _each(items):
            if item.kind not in wanted:
                continue
            await importer.write(item)
            progress.advance(PLURALS[item.kind])
        await importer.flush()


_KIND_STORE = {
    "fact": "facts",
    "session": "history",
    "message": "history",
    "document": "documents",
    "triple": "graph",
}


async def _each(items: Any) -> Any:
    if hasattr(items, "__aiter__"):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def _totals(memio: Memio, kinds: list[str]) -> dict[str, int]:
    return {_COUNTED[kind]: await _held(kind, memio.stores[kind]) for kind in kinds}


async def _held(kind: str, store: Any) -> int:
    """Everything a store holds: for facts, expired ones the sweep has not deleted included
    (exports carry them)."""
    return await (store.count(include_expired=True) if kind == "facts" else store.count())


def _warn_missing_stores(prog: str, dumped: dict[str, str], memio: Memio, kinds: list[str]) -> None:
    for kind in dumped:
        if kind in kinds and kind not in memio.stores:
            print(
                f"{prog}: the dump holds {kind} but this config has no {kind} store; "
                "they are left out",
                file=sys.stderr,
            )


@contextlib.asynccontextmanager
async def _opened(loaded: Loaded) -> Any:
    """The loaded stores and embedder, closed at the end whatever happens (Ctrl-C included)."""
    _, _, memio, embedder = loaded
    try:
        yield memio
    finally:
        await memio.aclose()
        await embedder.aclose()


def _run(
    prog: str,
    work: Callable[[], Coroutine[Any, Any, None]],
    summary: Callable[[], list[str]],
    *,
    failed: Callable[[], Any] = lambda: False,
    stream: IO[str] | None = None,
) -> int:
    """Run `work`; print the summary to `stream` (stdout by default), or to stderr after a
    failure or Ctrl-C (a partial one). 0 done, 1 refused or conflicts, 130 interrupted."""
    try:
        asyncio.run(work())
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; done so far:", file=sys.stderr)
        for line in summary():
            print(f"  {line}", file=sys.stderr)
        return INTERRUPTED
    except (DataLockedError, EmbedderMismatchError) as exc:
        print(f"{prog}: cannot use this data: {one_line(exc.message)}", file=sys.stderr)
        return 1
    except MemioError as exc:
        print(f"{prog}: {one_line(exc.message)}", file=sys.stderr)
        for line in summary():
            print(f"  {line}", file=sys.stderr)
        return 1
    for line in summary():
        print(line, file=stream or sys.stdout)
    return 1 if failed() else 0


def one_line(message: str) -> str:
    """An error message (a driver's may span lines) as one redacted line."""
    return redacted(" ".join(message.split()))


@contextlib.contextmanager
def _output(path: str) -> Iterator[tuple[IO[str], Callable[[], None]]]:
    """The stream to write and the call that publishes it (a file: renamed from .partial)."""
    if path == "-":
        yield sys.stdout, sys.stdout.flush
        return
    final = Path(path)
    partial = final.with_name(final.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        yield out, lambda: (out.flush(), partial.replace(final))


@contextlib.contextmanager
def _input(path: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdin
        return
    with open(path, encoding="utf-8") as stream:
        yield stream


DATA_COMMANDS = {
    "export": (_export_arguments, _export),
    "import": (_import_arguments, _import),
    "migrate": (_migrate_arguments, _migrate),
    "reembed": (_reembed_arguments, _reembed),
    "stats": (_stats_arguments, _stats),
}
