"""Our server and our stores in-process, on the same config file, plus corpus loading helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench import corpus, servers
from bench.common import Mode, fresh_dir
from bench.http import post_batches, run_load

SEARCH = "/v1/documents/search"


def config_path(workdir: Path, stores: tuple[str, ...] = ("documents", "facts")) -> Path:
    workdir = workdir.resolve()
    return servers.write_config(
        workdir / "memio-server.yaml", servers.memio_config(workdir / "data", stores)
    )


@contextmanager
def server(
    workdir: Path, *, first_search: bool = False, name: str = "memio", config: Path | None = None
) -> Iterator[Any]:
    """memio-server (this checkout) on a free port over `workdir`'s config and data (or the
    config file `config`)."""
    port = servers.free_port()
    probe = (SEARCH, {"query": "start-up probe", "limit": 5}) if first_search else None
    argv = servers.memio_command(config or config_path(workdir), port)
    with servers.run(name, argv, port, workdir, first_search=probe) as proc:
        yield proc


def search_requests(queries: list[str], path: str = SEARCH, limit: int = 10) -> list[tuple]:
    return [("POST", path, {"query": q, "limit": limit}) for q in queries]


def warm_up(base_url: str, path: str = SEARCH, n: int = 20) -> None:
    """Load the model and the index before anything is timed (queries no benchmark uses)."""
    asyncio.run(
        run_load(
            base_url,
            search_requests(corpus.queries(n, seed=999), path),
            connections=1,
            max_seconds=120,
        )
    )


def ingest_documents(
    base_url: str, texts: list[str], start: int = 0, users: int = 0
) -> dict[str, Any]:
    """Documents through POST /v1/documents/batch, 1000 per call (`users`: see corpus)."""
    return asyncio.run(
        post_batches(
            base_url,
            "/v1/documents/batch",
            "documents",
            corpus.document_payloads(texts, start, users),
            size=1000,
        )
    )


def ingest_facts(base_url: str, texts: list[str], start: int = 0) -> dict[str, Any]:
    """Facts through POST /v1/facts/batch, 1000 per call."""
    return asyncio.run(
        post_batches(
            base_url, "/v1/facts/batch", "facts", corpus.fact_payloads(texts, start), size=1000
        )
    )


def documents_dir(mode: Mode) -> Path:
    return mode.work / f"docs-{mode.docs}"


def mark_ready(workdir: Path) -> None:
    (workdir / "READY").write_text(time.strftime("%c"))


def prepared_documents(mode: Mode) -> Path:
    """A work dir whose store holds corpus.documents(mode.docs) (built once, reused)."""
    workdir = documents_dir(mode)
    if not (workdir / "READY").exists():
        fresh_dir(workdir)
        with server(workdir) as proc:
            ingest_documents(proc.base_url, corpus.documents(mode.docs))
        mark_ready(workdir)
    return workdir


class Precomputed:
    """An embedder answering texts it holds vectors for from its table, at no cost (so a search
    runs without embedding its query), and every other text through `inner`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.table: dict[str, np.ndarray] = {}

    async def embed(self, texts: list[str]) -> np.ndarray:
        if texts and all(text in self.table for text in texts):
            return np.stack([self.table[text] for text in texts])
        return await self.inner.embed(texts)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextmanager
def in_process(
    workdir: Path, *, precomputed: bool = False, config: Path | None = None
) -> Iterator[Any]:
    """The server's own stack (same config, embedder and providers) without HTTP; with
    `precomputed`, the embedder is wrapped in `Precomputed`. `config`: another config file."""
    from memio.config import load_config
    from memio.server.app import build_embedder, build_memio

    config = load_config(config or config_path(workdir))
    embedder = build_embedder(config.embedder)
    if precomputed:
        embedder = Precomputed(embedder)
    memio = build_memio(config, embedder)
    loop = asyncio.new_event_loop()
    try:
        yield loop, memio, embedder
    finally:
        loop.run_until_complete(memio.aclose())
        loop.run_until_complete(embedder.aclose())
        loop.close()
