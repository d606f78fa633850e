"""Reads shared by the chroma fact and document stores: rows, listings, search.

Filters: the portable filter tree is translated into a Chroma `where` that is a relaxation of it
(`_where.translate`), and every candidate Chroma returns is checked with `filters.matches`, so
answers are exactly the reference provider's whatever Chroma does at the edges.

Listings are in creation order: each record carries a creation rank (`KEY_SEQ`) and cursors are
keyset positions (rank, id). Chroma's `get` has no ORDER BY, so `_list` bounds the page with a
probe and sorts here (see its docstring).

Search: Chroma vector queries over the pushed-down `where`, over-fetching and growing until the
best `limit` results passing the exact filter are settled (see `_search`). Scores are
`cosine_score(1 - distance)` from Chroma's own float32 cosine distances (fetching the stored
embeddings to recompute them cost 1.5 ms per query at 10k records); ties are broken by creation
order, as in the reference provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel

from memio.errors import InvalidRequestError
from memio.filters import FilterNode, matches
from memio.models import Page, cosine_score
from memio.pagination import decode_cursor, encode_cursor
from memio.providers.base import Provider
from memio.providers.chroma._base import PROVIDER, ChromaBackend, Handles, chunks
from memio.providers.chroma._codec import KEY_SEQ, decode_metadata, from_micros
from memio.providers.chroma._reembed import reembed
from memio.providers.chroma._where import EVERYTHING, NOTHING, Fields, Pushdown, all_of, translate
from memio.providers.shared import check_embedder_on_open

M = TypeVar("M", bound=BaseModel)

# One result beyond `limit` shows whether the cut falls inside a tie (then the query grows); each
# extra row costs a metadata read, so fetching a wider margin up front slowed every search.
TIE_MARGIN = 1
READ_IDS_CHUNK = 500
# Records an unlimited read fetches a call: one read of more than about 32,000 records with their
# metadata overflows Chroma's SQL ("too many SQL variables"); 100,000 records take about 3 s.
SCAN_CHUNK = 5000
ROW_INCLUDE = ["documents", "metadatas"]


@dataclass
class Row:
    """One Chroma record: id, document (the content) and raw metadata."""

    id: str
    content: str
    raw: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.raw.get(KEY_SEQ, 0))


def _rows(result: Mapping[str, Any]) -> list[Row]:
    ids = result.get("ids") or []
    documents = result.get("documents") or [None] * len(ids)
    metadatas = result.get("metadatas") or [None] * len(ids)
    return [
        Row(id=i, content=d if d is not None else "", raw=dict(m or {}))
        for i, d, m in zip(ids, documents, metadatas, strict=True)
    ]


class ChromaStore(Provider, Generic[M]):
    """Base of ChromaFactStore and ChromaDocumentStore."""

    provider = PROVIDER
    fields: Fields

    def __init__(self, *, backend: ChromaBackend) -> None:
        self._backend = backend
        self._lock = asyncio.Lock()

    @property
    def path_lock(self) -> Any:
        """Embedded: the directory's process lock (`shared.PathLock`); None for a server."""
        return self._backend.path_lock

    # --- subclass hook ---------------------------------------------------------------------------

    def _decode(self, row: Row) -> M:
        raise NotImplementedError

    # --- Store ---------------------------------------------------------------------------------

    async def count(self) -> int:
        return await self._backend.count()

    async def ping(self) -> None:
        await self._backend.ping()

    async def aclose(self) -> None:
        await self._backend.aclose()

    async def check_embedder(self, timeout: float = 15.0) -> None:
        """Before the server serves: another embedder's vectors stop the start."""
        await check_embedder_on_open(self._backend.handles("open"), timeout)

    async def reembed(self, *, progress: Callable[[int], None] | None = None) -> int:
        """Every vector recomputed by the configured embedder (see `_reembed`)."""
        async with self._lock:
            return await reembed(self._backend, progress)

    # --- reads ---------------------------------------------------------------------------------

    async def _pushdown(self, operation: str, tree: FilterNode | None) -> Pushdown:
        if tree is None:
            return EVERYTHING
        if not self._backend.config.filter_pushdown:
            return NOTHING
        features = await self._backend.features(operation)
        return translate(tree, self.fields, negations=features.negations)

    async def _get_rows(
        self,
        operation: str,
        *,
        ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
        include: Sequence[str] = ROW_INCLUDE,
        limit: int | None = None,
    ) -> list[Row]:
        """Records by id (missing ids are simply absent) or by `where` (None: all), at most
        `limit` of them (in Chroma's order) when given."""
        if ids is not None:
            unique = list(dict.fromkeys(ids))
            out: list[Row] = []
            for part in chunks(unique, READ_IDS_CHUNK):
                result = await self._backend.run(
                    operation,
                    lambda h, part=part: h.main.get(
                        ids=list(part), where=where, include=list(include)
                    ),
                )
                out.extend(_rows(result))
            return out
        if limit is None and include:  # ids alone come in one read, whatever their number
            return await self._scan(operation, where, include)
        result = await self._backend.run(
            operation, lambda h: h.main.get(where=where, limit=limit, include=list(include))
        )
        return _rows(result)

    async def _scan(
        self, operation: str, where: dict[str, Any] | None, include: Sequence[str]
    ) -> list[Row]:
        """Every record `where` selects, `SCAN_CHUNK` at a time (Chroma's order). A write made
        during the scan may be seen or not; no record is returned twice."""
        out: list[Row] = []
        seen: set[str] = set()
        offset = 0
        while True:
            result = await self._backend.run(
                operation,
                lambda h, offset=offset: h.main.get(
                    where=where, limit=SCAN_CHUNK, offset=offset, include=list(include)
                ),
            )
            rows = _rows(result)
            for row in rows:
                if row.id not in seen:
                    seen.add(row.id)
                    out.append(row)
            if len(rows) < SCAN_CHUNK:
                return out
            offset += SCAN_CHUNK

    async def _one(self, operation: str, item_id: str) -> Row | None:
        rows = await self._get_rows(operation, ids=[item_id])
        return rows[0] if rows else None

    async def _existing_ids(self, operation: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return {row.id for row in await self._get_rows(operation, ids=ids, include=[])}

    def _filter_record(self, row: Row) -> dict[str, Any]:
        """What `filters.matches` sees for a row (top-level fields plus "metadata"), built
        without validating a whole model: this runs for every candidate row."""
        raw = row.raw
        record: dict[str, Any] = {name: raw.get(key) for name, key in self.fields.text.items()}
        for name, key in self.fields.timestamps.items():
            record[name] = from_micros(raw[key]) if key in raw else None
        for name, (key, _) in self.fields.optional_timestamps.items():
            record[name] = None if raw.get(key) is None else from_micros(raw[key])
        record["id"] = row.id
        record["content"] = row.content
        record["metadata"] = decode_metadata(raw)
        return record

    def _matches(self, tree: FilterNode | None, row: Row) -> bool:
        return tree is None or matches(tree, self._filter_record(row))

    async def _list(
        self,
        operation: str,
        *,
        scope_where: dict[str, Any] | None,
        tree: FilterNode | None,
        listing: Mapping[str, Any],
        limit: int,
        cursor: str | None,
    ) -> Page[M]:
        """One page in creation order, exactly right whatever order Chroma returns rows in.

        Chroma's `get` has no ORDER BY, so: (1) probe for `limit + 1` matching rows after the
        cursor (any rows will do; in practice Chroma returns them oldest first), (2) the largest
        rank among the `limit + 1` smallest found bounds the page, so fetch every candidate up to
        it and sort. A probe that comes back short has seen every candidate, and sorting those
        is the page. Typical cost: two reads of `limit + 1` rows, not a scan of the scope.
        """
        position = decode_cursor(cursor, scope=listing)
        after: tuple[int, str] | None = None
        if position is not None:
            seq, last_id = position.get("after"), position.get("id")
            if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(last_id, str):
                raise InvalidRequestError("not a cursor this server issued", field="cursor")
            after = (seq, last_id)
        base = all_of(
            scope_where,
            {KEY_SEQ: {"$gte": after[0]}} if after else None,
            (await self._pushdown(operation, tree)).where,
        )

        def wanted(rows: list[Row]) -> list[Row]:
            kept = [
                row
                for row in rows
                if (after is None or (row.seq, row.id) > after) and self._matches(tree, row)
            ]
            kept.sort(key=lambda row: (row.seq, row.id))
            return kept

        want = limit + 1
        probe = want
        while True:
            rows = await self._get_rows(operation, where=base, limit=probe)
            found = wanted(rows)
            if len(rows) < probe:  # every candidate seen, in one read
                return self._page(found, limit, listing)
            if len(found) >= want:
                break
            probe *= 4
        bound = found[want - 1].seq
        rows = await self._get_rows(operation, where=all_of(base, {KEY_SEQ: {"$lte": bound}}))
        page = wanted(rows)
        if len(page) < want:  # rows went away between the reads: read the whole range
            page = wanted(await self._get_rows(operation, where=base))
        return self._page(page, limit, listing)

    def _page(self, rows: list[Row], limit: int, listing: Mapping[str, Any]) -> Page[M]:
        picked = rows[:limit]
        more = len(rows) > limit
        next_cursor = (
            encode_cursor({"after": picked[-1].seq, "id": picked[-1].id}, scope=listing)
            if more
            else None
        )
        return Page([self._decode(row) for row in picked], next_cursor)

    async def _search(
        self,
        operation: str,
        *,
        query: str,
        scope_where: dict[str, Any] | None,
        tree: FilterNode | None,
        limit: int,
    ) -> list[M]:
        """Vector queries over the pushed-down `where`, growing `n_results` until the best
        `limit` results that pass the exact filter are known for sure: the query came back short
        (it saw every candidate), or the `limit`-th kept result scores strictly above everything
        not fetched (so ties at the cut are settled too)."""
        vector = (await self._backend.embed([query]))[0]
        push = await self._pushdown(operation, tree)
        where = all_of(scope_where, push.where)
        n = limit + TIE_MARGIN if push.exact else 4 * limit + TIE_MARGIN
        while True:
            rows, similarities = await self._query(operation, vector, where, n)
            scored = [
                (row, cosine_score(float(sim))) for row, sim in zip(rows, similarities, strict=True)
            ]
            lowest = min((score for _, score in scored), default=0.0)
            kept = [(row, score) for row, score in scored if self._matches(tree, row)]
            kept.sort(key=lambda pair: (-pair[1], pair[0].seq, pair[0].id))
            if len(rows) < n or (len(kept) >= limit and kept[limit - 1][1] > lowest):
                break
            n *= 4
        return [
            self._decode(row).model_copy(update={"score": score}) for row, score in kept[:limit]
        ]

    async def _in_scope(
        self, operation: str, *, scope_where: dict[str, Any] | None, tree: FilterNode | None
    ) -> list[M]:
        """Every record of the scope that passes the filter: the keyword ranking's candidates
        (memio.ranking scores them), read with one `get` over the pushed-down `where`."""
        push = await self._pushdown(operation, tree)
        rows = await self._get_rows(operation, where=all_of(scope_where, push.where))
        return [self._decode(row) for row in rows if self._matches(tree, row)]

    async def _count_in_scope(
        self, operation: str, *, scope_where: dict[str, Any] | None, tree: FilterNode
    ) -> int:
        """How many records of the scope pass the filter: those the pushed-down `where`
        selects, checked exactly."""
        push = await self._pushdown(operation, tree)
        rows = await self._get_rows(operation, where=all_of(scope_where, push.where))
        return sum(self._matches(tree, row) for row in rows)

    async def _query(
        self,
        operation: str,
        vector: np.ndarray,
        where: dict[str, Any] | None,
        n: int,
        *,
        include: Sequence[str] = ROW_INCLUDE,
    ) -> tuple[list[Row], np.ndarray]:
        """The `n` nearest records and their cosine similarity to `vector` (1 - Chroma's cosine
        distance); `include=()` reads ids alone (rows without content or metadata), which costs
        a third of a read with them at 50 results."""

        def call(h: Handles) -> Any:
            return h.main.query(
                query_embeddings=vector[None, :],
                n_results=n,
                where=where,
                include=[*include, "distances"],
            )

        result = await self._backend.run(operation, call)
        ids = (result.get("ids") or [[]])[0]
        if not len(ids):
            return [], np.zeros(0, dtype=np.float32)
        rows = _rows(
            {
                "ids": ids,
                "documents": (result.get("documents") or [None])[0],
                "metadatas": (result.get("metadatas") or [None])[0],
            }
        )
        return rows, 1.0 - np.asarray(result["distances"][0], dtype=np.float32)

    # --- writes --------------------------------------------------------------------------------

    async def _add_rows(
        self,
        operation: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        handles = await self._backend.handles(operation)
        size = handles.write_chunk
        for start in range(0, len(ids), size):
            end = start + size
            await self._backend.run(
                operation,
                lambda h, s=start, e=end: h.main.add(
                    ids=list(ids[s:e]),
                    embeddings=vectors[s:e],
                    documents=list(documents[s:e]),
                    metadatas=list(metadatas[s:e]),
                ),
            )

    async def _update_rows(
        self,
        operation: str,
        ids: Sequence[str],
        vectors: np.ndarray | None,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Replace records; without new `vectors` the documents are unchanged and not written."""
        handles = await self._backend.handles(operation)
        size = handles.write_chunk
        for start in range(0, len(ids), size):
            end = start + size
            await self._backend.run(
                operation,
                lambda h, s=start, e=end: h.main.update(
                    ids=list(ids[s:e]),
                    embeddings=None if vectors is None else vectors[s:e],
                    # Passing documents without embeddings would make Chroma embed them.
                    documents=None if vectors is None else list(documents[s:e]),
                    metadatas=list(metadatas[s:e]),
                ),
            )

    async def _delete_rows(self, operation: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        handles = await self._backend.handles(operation)
        for part in chunks(list(ids), handles.write_chunk):
            await self._backend.run(operation, lambda h, part=part: h.main.delete(ids=list(part)))
