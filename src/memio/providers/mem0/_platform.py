"""mem0 platform mode: mem0's `AsyncMemoryClient` against the hosted platform or any server that
speaks its REST dialect (`host=`).

The platform assigns ids, keeps metadata as a JSON object and scopes by user_id, agent_id, app_id
and run_id natively. What memio adds on top (exact-scope dedup, portable filters, creation-order
pages, cosine scores) is done by `Mem0FactStore` over what this backend reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memio.models import FACT_SCOPE, FactEventType, MetadataValue
from memio.protocols import Embedder
from memio.providers.mem0._backend import (
    EPOCH,
    Backend,
    Event,
    Memory,
    clean_metadata,
    parse_time,
)

__all__ = ["PlatformBackend"]

_PAGE_SIZE = 100
_EVENTS = {e.value: e for e in FactEventType}
# Every platform memory names at least one entity, so "any of them set" lists everything.
_EVERYTHING = {"OR": [{name: "*"} for name in FACT_SCOPE]}


def _filters(scope: Mapping[str, str]) -> dict[str, Any]:
    if not scope:
        return _EVERYTHING
    return {"AND": [{name: value} for name, value in scope.items()]}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def decode(item: Mapping[str, Any]) -> Memory:
    content = item.get("memory")
    if content is None and isinstance(item.get("data"), Mapping):
        content = item["data"].get("memory")
    metadata = item.get("metadata")
    return Memory(
        mem0_id=str(item.get("id")),
        content=str(content or ""),
        user_id=_text(item.get("user_id")),
        agent_id=_text(item.get("agent_id")),
        app_id=_text(item.get("app_id")),
        run_id=_text(item.get("run_id")),
        metadata=clean_metadata(metadata if isinstance(metadata, Mapping) else None),
        created_at=parse_time(item.get("created_at")),
        updated_at=parse_time(item.get("updated_at")),
    )


def _results(answer: Any) -> list[Mapping[str, Any]]:
    """The list of memories in an answer: ``{"results": [...]}`` (v1.1+) or a bare list (v1)."""
    items = answer.get("results", []) if isinstance(answer, Mapping) else answer
    return [item for item in items or [] if isinstance(item, Mapping)]


class PlatformBackend(Backend):
    supports_fact_ids = False
    needs_entity = True

    def __init__(
        self, *, embedder: Embedder, api_key: str, host: str | None, timeout: float, path: Path
    ) -> None:
        self._embedder = embedder
        self._path = path
        self._api_key = api_key
        self._host = host
        self._timeout = timeout
        self._client: Any = None

    async def open(self) -> None:
        # The client's constructor validates the key with a blocking GET /v1/ping/ (no timeout
        # of its own, hence the wait_for).
        self._client = await asyncio.wait_for(
            asyncio.to_thread(self._open_sync), timeout=self._timeout
        )

    def _open_sync(self) -> Any:
        import httpx

        from memio.providers.mem0._oss import load_mem0

        self._path.mkdir(parents=True, exist_ok=True)
        load_mem0(self._path)
        import mem0.exceptions as mem0_errors
        from mem0 import AsyncMemoryClient

        self.errors = (mem0_errors.MemoryError, httpx.HTTPError, ValueError, OSError)
        http = httpx.AsyncClient(timeout=self._timeout)
        try:
            return AsyncMemoryClient(api_key=self._api_key, host=self._host, client=http)
        except BaseException:
            asyncio.run(http.aclose())
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.async_client.aclose()

    async def ping(self) -> None:
        response = await self._client.async_client.get("/v1/ping/")
        response.raise_for_status()

    async def count(self) -> int:
        answer = await self._client.get_all(filters=_EVERYTHING, page=1, page_size=1)
        if isinstance(answer, Mapping) and isinstance(answer.get("count"), int):
            return answer["count"]
        return len(await self.scan({}))

    async def fetch(self, mem0_id: str) -> Memory | None:
        import mem0.exceptions as mem0_errors

        try:
            item = await self._client.get(mem0_id)
        except mem0_errors.MemoryNotFoundError:
            return None
        return decode(item) if isinstance(item, Mapping) and item.get("id") else None

    async def scan(self, scope: Mapping[str, str]) -> list[Memory]:
        out: list[Memory] = []
        page = 1
        while True:
            answer = await self._client.get_all(
                filters=_filters(scope), page=page, page_size=_PAGE_SIZE
            )
            items = _results(answer)
            out.extend(decode(item) for item in items)
            more = isinstance(answer, Mapping) and answer.get("next")
            if not items or not more:
                return out
            page += 1

    async def similar(
        self, query: str, vector: np.ndarray, scope: Mapping[str, str], k: int
    ) -> list[tuple[Memory, float]]:
        answer = await self._client.search(
            query, filters=_filters(scope), top_k=k, threshold=0.0, rerank=False
        )
        found = [decode(item) for item in _results(answer)]
        if not found:
            return []
        # The platform's own score is not memio's: rescore the candidates by the cosine of
        # memio's embeddings, so a threshold means the same as with every other provider.
        vectors = np.asarray(await self._embedder.embed([m.content for m in found]))
        similarities = vectors @ np.asarray(vector, dtype=np.float32)
        ranked = sorted(
            zip(found, (float(s) for s in similarities), strict=True), key=lambda pair: -pair[1]
        )
        return ranked

    async def create(
        self,
        *,
        content: str,
        scope: Mapping[str, str | None],
        metadata: Mapping[str, MetadataValue],
        infer: bool,
        vector: np.ndarray | None,
    ) -> list[Memory]:
        entities = {name: value for name, value in scope.items() if value is not None}
        answer = await self._client.add(
            [{"role": "user", "content": content}],
            **entities,
            metadata=dict(metadata) or None,
            infer=infer,
            async_mode=False,
        )
        created = []
        for item in _results(answer):
            if item.get("event", "ADD") != "ADD" or not item.get("id"):
                continue
            memory = await self.fetch(str(item["id"]))
            if memory is not None:
                created.append(memory)
        if not created and isinstance(answer, Mapping) and answer.get("status") == "PENDING":
            raise RuntimeError("the mem0 server queued the add instead of storing it")
        return created

    async def change(
        self,
        old: Memory,
        *,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        vector: np.ndarray,
    ) -> None:
        await self._client.update(old.mem0_id, text=content, metadata=dict(metadata))

    async def remove(self, old: Memory) -> None:
        await self._client.delete(old.mem0_id)

    async def events(self, mem0_id: str) -> list[Event]:
        import mem0.exceptions as mem0_errors

        try:
            rows = await self._client.history(mem0_id)
        except mem0_errors.MemoryNotFoundError:
            return []
        out = []
        for row in rows if isinstance(rows, list) else []:
            kind = _EVENTS.get(str(row.get("event")))
            if kind is None:
                continue
            stamps = (parse_time(row.get("created_at")), parse_time(row.get("updated_at")))
            times = [t for t in stamps if t is not None]
            out.append(
                Event(
                    id=str(row.get("id")),
                    event=kind,
                    old_content=row.get("old_memory"),
                    new_content=row.get("new_memory"),
                    created_at=max(times) if times else EPOCH,
                    old_metadata=_meta(row.get("old_metadata")),
                    new_metadata=_meta(row.get("new_metadata")),
                )
            )
        return out

    async def fact_ids(self, mem0_ids: Sequence[str]) -> dict[str, str]:
        return {mem0_id: mem0_id for mem0_id in mem0_ids}


def _meta(value: Any) -> dict[str, MetadataValue] | None:
    return clean_metadata(value) if isinstance(value, Mapping) else None
