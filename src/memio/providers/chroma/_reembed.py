"""`memio reembed` for a Chroma store: every vector recomputed by the configured embedder.

A collection's dimension is fixed by its first vector, so the records are copied, with new
vectors, into a staging collection (``<name>__reembed``, recording the new embedder), which then
takes the collection's name; the old collection is renamed ``<name>__retired`` for the switch and
then dropped. Ids, contents and metadata (scope, times, sequence) are copied as they are; the fact
history collection holds no vectors and stays, and the word index beside embedded data, which
holds them too, is rebuilt when next opened (it records whose vectors it holds).

Every step can be interrupted: the collection keeps the old vectors and embedder until the
switch, a new run resumes the copy (records already staged are skipped), and a run that finds the
switch half done finishes it. Run it with no server writing to the store (embedded data is locked
by the process anyway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from memio.errors import ProviderError
from memio.providers.chroma._base import (
    BACKEND_ERRORS,
    META_DIMS,
    META_MODEL,
    PROVIDER,
    ChromaBackend,
    close_client,
)
from memio.providers.shared import provider_errors

__all__ = ["reembed"]

STAGED = "__reembed"
RETIRED = "__retired"
PAGE = 1000


async def reembed(backend: ChromaBackend, progress: Callable[[int], None] | None = None) -> int:
    """Re-embed the store's main collection; how many records got new vectors (0: the
    collection already holds the configured embedder's vectors, or does not exist yet)."""
    client = await _blocking(backend.new_client)  # embedded: under the store's path lock
    try:
        return await _Run(backend, client, progress or (lambda n: None)).run()
    finally:
        await asyncio.to_thread(close_client, client)


async def _blocking(call: Callable[[], Any]) -> Any:
    with provider_errors(PROVIDER, "reembed", backend_errors=BACKEND_ERRORS):
        return await asyncio.to_thread(call)


class _Run:
    def __init__(self, backend: ChromaBackend, client: Any, progress: Callable[[int], None]):
        self.backend = backend
        self.client = client
        self.progress = progress
        self.name = backend.collection
        self.staged = self.name + STAGED
        self.retired = self.name + RETIRED
        self.embedder = backend.embedder
        self.wanted = {META_MODEL: self.embedder.model, META_DIMS: int(self.embedder.dimensions)}

    async def run(self) -> int:
        names = set(await _blocking(lambda: [c.name for c in self.client.list_collections()]))
        if self.name not in names:
            if self.staged in names and self.retired in names:  # interrupted between renames
                await self._switch(None)
            return 0
        main = await _blocking(lambda: self.client.get_collection(self.name))
        meta = dict(main.metadata or {})
        if all(meta.get(key) == value for key, value in self.wanted.items()):
            if self.retired in names:  # interrupted after the switch, before the drop
                await _blocking(lambda: self.client.delete_collection(self.retired))
            return 0
        staged = await self._staging(main, meta, names)
        done = await self._copy(main, staged)
        await self._switch(main)
        return done

    async def _staging(self, main: Any, meta: dict[str, Any], names: set[str]) -> Any:
        """The staging collection: resumed when it was made for this embedder, else new."""
        if self.staged in names:
            staged = await _blocking(lambda: self.client.get_collection(self.staged))
            made_for = {key: (staged.metadata or {}).get(key) for key in self.wanted}
            if made_for == self.wanted:
                return staged
            await _blocking(lambda: self.client.delete_collection(self.staged))
        kept = {key: value for key, value in meta.items() if not key.startswith("hnsw:")}
        return await _blocking(
            lambda: self.client.create_collection(
                self.staged,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={**kept, **self.wanted},
                embedding_function=None,
            )
        )

    async def _copy(self, main: Any, staged: Any) -> int:
        total = await _blocking(main.count)
        done = 0
        for offset in range(0, total, PAGE):
            page = await _blocking(
                lambda o=offset: main.get(include=["documents", "metadatas"], limit=PAGE, offset=o)
            )
            have = set(
                (await _blocking(lambda p=page: staged.get(ids=p["ids"], include=[])))["ids"]
            )
            todo = [i for i, item_id in enumerate(page["ids"]) if item_id not in have]
            if todo:
                documents = [page["documents"][i] or "" for i in todo]
                vectors = await self.backend.embed(documents)
                await _blocking(
                    lambda p=page, t=todo, d=documents, v=vectors: staged.add(
                        ids=[p["ids"][i] for i in t],
                        embeddings=v,
                        documents=d,
                        metadatas=[p["metadatas"][i] for i in t],
                    )
                )
                done += len(todo)
            self.progress(len(page["ids"]))
        copied = await _blocking(staged.count)
        if copied != total:
            raise ProviderError(
                f"collection {self.name!r} changed while it was re-embedded ({total} records, "
                f"{copied} staged): stop every server writing to it and run memio reembed again",
                provider=PROVIDER,
                operation="reembed",
            )
        return done

    async def _switch(self, main: Any) -> None:
        """The staged collection takes the store's name; the old one goes."""
        if main is not None:
            await _blocking(lambda: main.modify(name=self.retired))
        staged = await _blocking(lambda: self.client.get_collection(self.staged))
        await _blocking(lambda: staged.modify(name=self.name))
        await _blocking(lambda: self.client.delete_collection(self.retired))
