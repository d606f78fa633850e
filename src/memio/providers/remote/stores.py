"""The four store protocols over a memio server's /v1 routes (docs/api.md).

Arguments arrive checked by the validating store, with the rules the server's own stores use, so
a remote store refuses what the server would, without the round trip. Only what JSON cannot
carry is checked here (`check_wire`), per triple for a graph add, whose items travel in one
request per owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from memio.checked import (
    DocumentQuery,
    DocumentSearch,
    FactQuery,
    FactScope,
    FactSearch,
    HistorySearch,
)
from memio.errors import NotSupportedError, ProviderError
from memio.models import (
    KEEP,
    Document,
    DocumentInput,
    Fact,
    FactEntity,
    FactEvent,
    FactInput,
    FoundMessage,
    GraphResult,
    Message,
    Page,
    Triple,
)
from memio.providers.base import Provider
from memio.providers.remote._http import PROVIDER, REPRESENTATION, RemoteConnection, check_wire
from memio.providers.shared import ProviderContext, parse_config

__all__ = ["RemoteDocumentStore", "RemoteFactStore", "RemoteGraphStore", "RemoteHistoryStore"]

_FACTS = TypeAdapter(list[Fact])
_ENTITIES = TypeAdapter(list[FactEntity])
_EVENTS = TypeAdapter(list[FactEvent])
_MESSAGES = TypeAdapter(list[Message])
_FOUND = TypeAdapter(list[FoundMessage])
_DOCUMENTS = TypeAdapter(list[Document])
_TRIPLES = TypeAdapter(list[Triple])


class RemoteConfig(BaseModel):
    """``stores.<kind>.config`` for provider "remote"."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The server's base URL, e.g. http://127.0.0.1:8080")
    api_key: str | None = Field(default=None, description="Key or token; none when auth is off")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per request")


def _path(route: str, **ids: str) -> str:
    """`route` followed by the ids (checked text), each percent-encoded whole (an id may hold
    "/")."""
    return route + "".join("/" + quote(value, safe="") for value in ids.values())


def _body(**fields: Any) -> dict[str, Any]:
    """A request body without the unset fields (what a 0.3.1 client would send)."""
    return {key: value for key, value in fields.items() if value is not None}


class _RemoteStore(Provider):
    """What the four have in common: the connection, count, ping and close."""

    provider = PROVIDER
    kind: ClassVar[str]

    def __init__(self, connection: RemoteConnection) -> None:
        self._http = connection.acquire()
        self._closed = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: ProviderContext) -> Any:
        cfg = parse_config(RemoteConfig, config)
        return cls(RemoteConnection(cfg.url, api_key=cfg.api_key, timeout=cfg.timeout))

    async def _json(self, method: str, path: str, *, operation: str, **kwargs: Any) -> Any:
        return (await self._http.call(method, path, operation=operation, **kwargs)).json()

    async def _represented(self, method: str, path: str, *, operation: str, **kwargs: Any) -> Any:
        """The body a 204 route gives with ``Prefer: return=representation``; a server that
        ignores the header (older than this client) is a ProviderError saying so, not a parse
        error."""
        answer = await self._http.call(
            method, path, operation=operation, headers=REPRESENTATION, **kwargs
        )
        if answer.status_code == 204:
            raise ProviderError(
                f"the server at {self._http.url} does not return what it wrote "
                "(Prefer: return=representation): is it memio 0.4 or later?",
                provider=PROVIDER,
                operation=operation,
            )
        return answer.json()

    async def _restore(self, path: str, body: dict[str, Any]) -> list[bool]:
        return [
            bool(item)
            for item in (await self._json("POST", path, operation="restore", body=body))["restored"]
        ]

    async def _deleted(self, path: str, *, operation: str, **kwargs: Any) -> int:
        data = await self._represented("DELETE", path, operation=operation, **kwargs)
        return int(data["deleted"])

    async def count(self) -> int:
        """The server's count of this store (`GET /status`: an operator credential)."""
        status = await self._json("GET", "/status", operation="count")
        store = self._served(status, "count")
        if store.get("count") is None:
            raise ProviderError(str(store.get("error")), provider=PROVIDER, operation="count")
        return int(store["count"])

    async def ping(self) -> None:
        """`GET /ready`: the server answers and its store of this kind reaches its backend."""
        answer = await self._http.call("GET", "/ready", operation="ping")
        store = self._served(answer.json(), "ping")
        if store.get("status") != "ok":
            raise ProviderError(
                str(store.get("detail")), provider=str(store.get("provider")), operation="ping"
            )

    def _served(self, status: Mapping[str, Any], operation: str) -> Mapping[str, Any]:
        store = status.get("stores", {}).get(self.kind)
        if not isinstance(store, Mapping):
            raise NotSupportedError(f"the server at {self._http.url} has no {self.kind} store")
        return store

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._http.release()


def _page(answer: httpx.Response, items: list[Any]) -> Page[Any]:
    return Page(items, next_cursor=answer.headers.get("X-Next-Cursor"))


class RemoteFactStore(_RemoteStore):
    kind = "facts"

    async def count(self, *, query: FactQuery) -> int:
        body = _query_body(query)
        return int(
            (await self._json("POST", "/v1/facts/count", operation="count", body=body))["count"]
        )

    async def entities(self, *, query: FactQuery) -> list[FactEntity]:
        data = await self._json(
            "POST", "/v1/facts/entities", operation="entities", body=_query_body(query)
        )
        return _ENTITIES.validate_python(data["entities"])

    async def add(self, *, fact: FactInput) -> Fact:
        body = fact.model_dump(mode="json", exclude_none=True)
        answer = await self._http.call("POST", "/v1/facts", operation="add", body=body)
        return _with_events(answer, [Fact.model_validate(answer.json())])[0]

    async def add_many(self, *, facts: list[FactInput]) -> list[Fact]:
        body = {"facts": [item.model_dump(mode="json", exclude_none=True) for item in facts]}
        answer = await self._http.call("POST", "/v1/facts/batch", operation="add_many", body=body)
        return _with_events(answer, _FACTS.validate_python(answer.json()))

    async def get(self, *, fact_id: str, include_expired: bool) -> Fact:
        data = await self._json(
            "GET",
            _path("/v1/facts", fact_id=fact_id),
            operation="get",
            item=("fact", fact_id),
            params=_body(include_expired=include_expired or None),
        )
        return Fact.model_validate(data)

    async def get_all(self, *, query: FactQuery, limit: int, cursor: str | None) -> Page[Fact]:
        params = _query_body(query) | _body(limit=limit, cursor=cursor)
        answer = await self._http.call("GET", "/v1/facts", operation="get_all", params=params)
        return _page(answer, _FACTS.validate_python(answer.json()))

    async def search(self, *, request: FactSearch) -> list[Fact]:
        body = _query_body(request.query) | _body(
            query=request.text,
            limit=request.limit,
            threshold=request.threshold,
            search_mode=request.mode,
        )
        data = await self._json("POST", "/v1/facts/search", operation="search", body=body)
        return _FACTS.validate_python(data)

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None,
        metadata: Mapping[str, Any],
        expires_at: Any,
    ) -> Fact:
        body = _body(content=content, metadata=metadata or None)
        if expires_at is not KEEP:  # an explicit null clears the expiry
            body["expires_at"] = None if expires_at is None else expires_at.isoformat()
        data = await self._json(
            "PUT",
            _path("/v1/facts", fact_id=fact_id),
            operation="update",
            item=("fact", fact_id),
            body=body,
        )
        return Fact.model_validate(data)

    async def purge_expired(self, *, before: datetime) -> int:
        body = {"before": before.isoformat()}
        data = await self._json("POST", "/v1/facts/purge", operation="purge_expired", body=body)
        return int(data["deleted"])

    async def delete(self, *, fact_id: str) -> None:
        await self._http.call(
            "DELETE",
            _path("/v1/facts", fact_id=fact_id),
            operation="delete",
            item=("fact", fact_id),
        )

    async def delete_many(self, *, fact_ids: list[str]) -> int:
        data = await self._json(
            "DELETE", "/v1/facts/batch", operation="delete_many", body={"ids": fact_ids}
        )
        return int(data["deleted"])

    async def delete_all(self, *, scope: FactScope) -> int:
        return await self._deleted("/v1/facts", operation="delete_all", params=_body(**scope))

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        data = await self._json(
            "GET",
            _path("/v1/facts", fact_id=fact_id) + "/history",
            operation="history",
            item=("fact", fact_id),
        )
        return _EVENTS.validate_python(data)

    async def restore(self, *, facts: list[tuple[Fact, list[FactEvent]]]) -> list[bool]:
        body = {
            "facts": [fact.model_dump(mode="json", exclude={"score"}) for fact, _ in facts],
            "histories": {
                fact.id: [event.model_dump(mode="json") for event in events]
                for fact, events in facts
            },
        }
        return await self._restore("/v1/facts/restore", body)


def _query_body(query: FactQuery) -> dict[str, Any]:
    """The scope, filters and expiry flag of a facts read, as /v1 takes them."""
    return _body(
        **query.scope, filters=query.filters, include_expired=query.include_expired or None
    )


def _with_events(answer: httpx.Response, facts: list[Fact]) -> list[Fact]:
    """Set each fact's `event` (ADD, UPDATE or NONE) from the server's `X-Memio-Events`."""
    events = answer.headers.get("X-Memio-Events", "").split(",")
    if len(events) != len(facts):
        raise ProviderError(
            "the server did not say what the add did (X-Memio-Events): is it memio 0.4 or later?",
            provider=PROVIDER,
            operation="add",
        )
    for fact, event in zip(facts, events, strict=True):
        fact.event = event.strip()  # type: ignore[assignment]
    return facts


class RemoteHistoryStore(_RemoteStore):
    kind = "history"

    def _session(self, session_id: str, *rest: str) -> str:
        return _path("/v1/history/sessions", session_id=session_id) + "".join(
            f"/{part}" for part in rest
        )

    async def add(
        self, *, session_id: str, messages: list[Message], user_id: str | None
    ) -> list[Message]:
        body = _body(
            messages=[
                item.model_dump(mode="json", exclude_none=True, exclude={"score"})
                for item in messages
            ],
            user_id=user_id,
        )
        data = await self._represented(
            "POST", self._session(session_id, "messages"), operation="add", body=body
        )
        return _MESSAGES.validate_python(data)

    async def get(
        self, *, session_id: str, limit: int, cursor: str | None, user_id: str | None
    ) -> Page[Message]:
        answer = await self._http.call(
            "GET",
            self._session(session_id, "messages"),
            operation="get",
            item=("session", session_id),
            params=_body(limit=limit, cursor=cursor, user_id=user_id),
        )
        return _page(answer, _MESSAGES.validate_python(answer.json()))

    async def get_all(self, *, user_id: str | None, limit: int, cursor: str | None) -> Page[str]:
        answer = await self._http.call(
            "GET",
            "/v1/history/sessions",
            operation="get_all",
            params=_body(user_id=user_id, limit=limit, cursor=cursor),
        )
        return _page(answer, list(answer.json()["sessions"]))

    async def owner(self, *, session_id: str) -> str | None:
        data = await self._json(
            "GET", self._session(session_id), operation="owner", item=("session", session_id)
        )
        return data["user_id"]

    async def search(self, *, request: HistorySearch) -> list[FoundMessage]:
        body = _body(
            query=request.text,
            session_id=request.session_id,
            limit=request.limit,
            user_id=request.user_id,
            search_mode=request.mode,
        )
        item = None if request.session_id is None else ("session", request.session_id)
        data = await self._json(
            "POST", "/v1/history/search", operation="search", item=item, body=body
        )
        return _FOUND.validate_python(data)

    async def delete(self, *, session_id: str, user_id: str | None) -> None:
        await self._http.call(
            "DELETE",
            self._session(session_id),
            operation="delete",
            item=("session", session_id),
            params=_body(user_id=user_id),
        )

    async def delete_all(self, *, user_id: str | None) -> int:
        return await self._deleted(
            "/v1/history/sessions", operation="delete_all", params=_body(user_id=user_id)
        )


class RemoteDocumentStore(_RemoteStore):
    kind = "documents"

    async def add(self, *, document: DocumentInput) -> Document:
        body = document.model_dump(mode="json", exclude_none=True)
        data = await self._json("POST", "/v1/documents", operation="add", body=body)
        return Document.model_validate(data)

    async def _batch(
        self, method: str, documents: list[DocumentInput], operation: str
    ) -> list[Document]:
        body = {
            "documents": [item.model_dump(mode="json", exclude_none=True) for item in documents]
        }
        data = await self._json(method, "/v1/documents/batch", operation=operation, body=body)
        return _DOCUMENTS.validate_python(data)

    async def add_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        return await self._batch("POST", documents, "add_many")

    async def upsert_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        return await self._batch("PUT", documents, "upsert_many")

    async def get(self, *, doc_id: str, user_id: str | None, shared: bool) -> Document:
        data = await self._json(
            "GET",
            _path("/v1/documents", doc_id=doc_id),
            operation="get",
            item=("document", doc_id),
            params=_body(user_id=user_id, include_shared=shared or None),
        )
        return Document.model_validate(data)

    async def get_all(
        self, *, query: DocumentQuery, limit: int, cursor: str | None
    ) -> Page[Document]:
        params = _document_body(query) | _body(limit=limit, cursor=cursor)
        answer = await self._http.call("GET", "/v1/documents", operation="get_all", params=params)
        return _page(answer, _DOCUMENTS.validate_python(answer.json()))

    async def search(self, *, request: DocumentSearch) -> list[Document]:
        body = _document_body(request.query) | _body(
            query=request.text, limit=request.limit, search_mode=request.mode
        )
        data = await self._json("POST", "/v1/documents/search", operation="search", body=body)
        return _DOCUMENTS.validate_python(data)

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None,
        metadata: Mapping[str, Any],
        user_id: str | None,
    ) -> Document:
        data = await self._json(
            "PUT",
            _path("/v1/documents", doc_id=doc_id),
            operation="update",
            item=("document", doc_id),
            params=_body(user_id=user_id),
            body=_body(content=content, metadata=metadata or None),
        )
        return Document.model_validate(data)

    async def delete(self, *, doc_id: str, user_id: str | None) -> None:
        await self._http.call(
            "DELETE",
            _path("/v1/documents", doc_id=doc_id),
            operation="delete",
            item=("document", doc_id),
            params=_body(user_id=user_id),
        )

    async def delete_many(self, *, doc_ids: list[str], user_id: str | None) -> int:
        data = await self._json(
            "DELETE",
            "/v1/documents/batch",
            operation="delete_many",
            params=_body(user_id=user_id),
            body={"ids": doc_ids},
        )
        return int(data["deleted"])

    async def restore(self, *, documents: list[Document]) -> list[bool]:
        body = {
            "documents": [
                document.model_dump(mode="json", exclude={"score"}) for document in documents
            ]
        }
        return await self._restore("/v1/documents/restore", body)

    async def delete_all(self, *, user_id: str | None) -> int:
        return await self._deleted(
            "/v1/documents", operation="delete_all", params=_body(user_id=user_id)
        )


def _document_body(query: DocumentQuery) -> dict[str, Any]:
    """The owner, shared flag and filters of a documents read, as /v1 takes them."""
    return _body(user_id=query.user_id, include_shared=query.shared or None, filters=query.filters)


class RemoteGraphStore(_RemoteStore):
    kind = "graph"

    async def add(self, *, triples: list[Triple]) -> list[Triple]:
        """One request per owner (/v1 takes the owner per call), answers in the given order."""
        for i, item in enumerate(triples):
            check_wire(item.model_dump(exclude_none=True), field=f"triples[{i}]")
        by_owner: dict[str | None, list[int]] = {}
        for i, item in enumerate(triples):
            by_owner.setdefault(item.user_id, []).append(i)
        stored: list[Triple | None] = [None] * len(triples)
        parts = {"subject", "predicate", "object", "metadata"}
        for owner, indices in by_owner.items():
            body = _body(
                triples=[triples[i].model_dump(mode="json", include=parts) for i in indices],
                user_id=owner,
            )
            data = await self._represented("POST", "/v1/graph/triples", operation="add", body=body)
            for i, triple in zip(indices, _TRIPLES.validate_python(data), strict=True):
                stored[i] = triple
        return [triple for triple in stored if triple is not None]

    async def get(
        self, *, entity: str, user_id: str | None, shared: bool, depth: int
    ) -> GraphResult:
        data = await self._json(
            "GET",
            _path("/v1/graph/entities", entity=entity),
            operation="get",
            item=("entity", entity),
            params=_body(user_id=user_id, depth=depth, include_shared=shared or None),
        )
        return GraphResult.model_validate(data)

    async def get_all(
        self, *, user_id: str | None, shared: bool, limit: int, cursor: str | None
    ) -> GraphResult:
        params = _body(user_id=user_id, limit=limit, cursor=cursor, include_shared=shared or None)
        data = await self._json("GET", "/v1/graph/triples", operation="get_all", params=params)
        return GraphResult.model_validate(data)

    async def search(
        self, *, query: str, user_id: str | None, shared: bool, limit: int
    ) -> GraphResult:
        body = _body(query=query, user_id=user_id, limit=limit, include_shared=shared or None)
        data = await self._json("POST", "/v1/graph/search", operation="search", body=body)
        return GraphResult.model_validate(data)

    async def delete(
        self, *, entity: str | None, triple_id: str | None, user_id: str | None
    ) -> int:
        if entity is not None:
            path, item = _path("/v1/graph/entities", entity=entity), ("entity", entity)
        else:
            path, item = (
                _path("/v1/graph/triples", triple_id=str(triple_id)),
                ("triple", str(triple_id)),
            )
        return await self._deleted(
            path, operation="delete", item=item, params=_body(user_id=user_id)
        )

    async def delete_all(self, *, user_id: str | None) -> int:
        return await self._deleted(
            "/v1/graph", operation="delete_all", params=_body(user_id=user_id)
        )

    async def restore(self, *, triples: list[Triple]) -> list[bool]:
        body = {"triples": [triple.model_dump(mode="json") for triple in triples]}
        return await self._restore("/v1/graph/restore", body)
