"""The four store protocols over a memio server's /v1 routes (docs/api.md).

Arguments are checked here only where the route could not say which argument was wrong (batch
item lists, the graph's entity-or-triple choice); everything else is the server's to judge, so a
remote store refuses exactly what the server's own store refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from memio.errors import InvalidRequestError, NotSupportedError, ProviderError
from memio.models import (
    KEEP,
    Document,
    DocumentInput,
    Fact,
    FactEvent,
    FactInput,
    FoundMessage,
    GraphResult,
    Message,
    Page,
    Triple,
)
from memio.providers._shared import (
    ProviderContext,
    check_bool,
    coerce_items,
    expiry_arg,
    id_list,
    include_shared_scope,
    parse_config,
    require_text,
    restorable_documents,
    restorable_facts,
    restorable_triples,
)
from memio.providers.remote._http import PROVIDER, REPRESENTATION, RemoteConnection, check_wire
from memio.ranking import SearchMode

__all__ = ["RemoteDocumentStore", "RemoteFactStore", "RemoteGraphStore", "RemoteHistoryStore"]

_FACTS = TypeAdapter(list[Fact])
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
    """`route` followed by the ids (non-empty text, errors naming the argument), each
    percent-encoded whole (an id may hold "/")."""
    return route + "".join(
        "/" + quote(require_text(value, field=name), safe="") for name, value in ids.items()
    )


def _body(**fields: Any) -> dict[str, Any]:
    """A request body without the unset fields (what a 0.3.1 client would send)."""
    return {key: value for key, value in fields.items() if value is not None}


class _RemoteStore:
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

    async def count(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        include_expired: bool = False,
    ) -> int:
        body = _body(
            user_id=user_id,
            agent_id=agent_id,
            app_id=app_id,
            run_id=run_id,
            filters=filters,
            include_expired=check_bool(include_expired, field="include_expired") or None,
        )
        return int(
            (await self._json("POST", "/v1/facts/count", operation="count", body=body))["count"]
        )

    async def add(
        self,
        *,
        content: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        fact_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> Fact:
        body = _body(
            content=content,
            user_id=user_id,
            agent_id=agent_id,
            app_id=app_id,
            run_id=run_id,
            metadata=metadata,
            fact_id=fact_id,
            expires_at=None if expires_at is None else expiry_arg(expires_at).isoformat(),
        )
        answer = await self._http.call("POST", "/v1/facts", operation="add", body=body)
        return _with_events(answer, [Fact.model_validate(answer.json())])[0]

    async def add_many(self, *, facts: Sequence[FactInput | Mapping[str, Any]]) -> list[Fact]:
        items = coerce_items(FactInput, facts, field="facts")
        body = {"facts": [item.model_dump(mode="json", exclude_none=True) for item in items]}
        answer = await self._http.call("POST", "/v1/facts/batch", operation="add_many", body=body)
        return _with_events(answer, _FACTS.validate_python(answer.json()))

    async def get(self, *, fact_id: str, include_expired: bool = False) -> Fact:
        data = await self._json(
            "GET",
            _path("/v1/facts", fact_id=fact_id),
            operation="get",
            item=("fact", fact_id),
            params=_body(
                include_expired=check_bool(include_expired, field="include_expired") or None
            ),
        )
        return Fact.model_validate(data)

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_expired: bool = False,
    ) -> Page[Fact]:
        params = _body(
            user_id=user_id,
            agent_id=agent_id,
            app_id=app_id,
            run_id=run_id,
            filters=filters,
            limit=limit,
            cursor=cursor,
            include_expired=check_bool(include_expired, field="include_expired") or None,
        )
        answer = await self._http.call("GET", "/v1/facts", operation="get_all", params=params)
        return _page(answer, _FACTS.validate_python(answer.json()))

    async def search(
        self,
        *,
        query: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        threshold: float | None = None,
        search_mode: SearchMode = "hybrid",
        include_expired: bool = False,
    ) -> list[Fact]:
        body = _body(
            query=query,
            user_id=user_id,
            agent_id=agent_id,
            app_id=app_id,
            run_id=run_id,
            limit=limit,
            filters=filters,
            threshold=threshold,
            search_mode=search_mode,
            include_expired=check_bool(include_expired, field="include_expired"),
        )
        data = await self._json("POST", "/v1/facts/search", operation="search", body=body)
        return _FACTS.validate_python(data)

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        expires_at: Any = KEEP,
    ) -> Fact:
        body = _body(content=content, metadata=metadata)
        if expires_at is not KEEP:  # an explicit null clears the expiry
            expiry = expiry_arg(expires_at)
            body["expires_at"] = None if expiry is None else expiry.isoformat()
        data = await self._json(
            "PUT",
            _path("/v1/facts", fact_id=fact_id),
            operation="update",
            item=("fact", fact_id),
            body=body,
        )
        return Fact.model_validate(data)

    async def purge_expired(self, *, before: datetime) -> int:
        body = {"before": expiry_arg(before, field="before").isoformat()}  # type: ignore[union-attr]
        data = await self._json("POST", "/v1/facts/purge", operation="purge_expired", body=body)
        return int(data["deleted"])

    async def delete(self, *, fact_id: str) -> None:
        await self._http.call(
            "DELETE",
            _path("/v1/facts", fact_id=fact_id),
            operation="delete",
            item=("fact", fact_id),
        )

    async def delete_many(self, *, fact_ids: Sequence[str]) -> int:
        ids = id_list(fact_ids, field="fact_ids")
        if not ids:
            return 0
        data = await self._json(
            "DELETE", "/v1/facts/batch", operation="delete_many", body={"ids": ids}
        )
        return int(data["deleted"])

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        params = _body(user_id=user_id, agent_id=agent_id, app_id=app_id, run_id=run_id)
        return await self._deleted("/v1/facts", operation="delete_all", params=params)

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        data = await self._json(
            "GET",
            _path("/v1/facts", fact_id=fact_id) + "/history",
            operation="history",
            item=("fact", fact_id),
        )
        return _EVENTS.validate_python(data)

    async def restore(
        self,
        *,
        facts: Sequence[Fact | Mapping[str, Any]],
        histories: Mapping[str, Sequence[FactEvent]] | None = None,
    ) -> list[bool]:
        checked = restorable_facts(facts, histories)
        body = {
            "facts": [fact.model_dump(mode="json", exclude={"score"}) for fact, _ in checked],
            "histories": {
                fact.id: [event.model_dump(mode="json") for event in events]
                for fact, events in checked
            },
        }
        return await self._restore("/v1/facts/restore", body)


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
        self,
        *,
        session_id: str,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str | None = None,
    ) -> list[Message]:
        items = coerce_items(Message, messages, field="messages")
        body = _body(
            messages=[
                item.model_dump(mode="json", exclude_none=True, exclude={"score"}) for item in items
            ],
            user_id=user_id,
        )
        data = await self._represented(
            "POST", self._session(session_id, "messages"), operation="add", body=body
        )
        return _MESSAGES.validate_python(data)

    async def get(
        self,
        *,
        session_id: str,
        limit: int = 50,
        cursor: str | None = None,
        user_id: str | None = None,
    ) -> Page[Message]:
        answer = await self._http.call(
            "GET",
            self._session(session_id, "messages"),
            operation="get",
            item=("session", session_id),
            params=_body(limit=limit, cursor=cursor, user_id=user_id),
        )
        return _page(answer, _MESSAGES.validate_python(answer.json()))

    async def get_all(
        self, *, user_id: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
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

    async def search(
        self,
        *,
        query: str,
        session_id: str | None = None,
        limit: int = 10,
        user_id: str | None = None,
        search_mode: SearchMode = "keyword",
    ) -> list[FoundMessage]:
        body = _body(
            query=query,
            session_id=session_id,
            limit=limit,
            user_id=user_id,
            search_mode=search_mode,
        )
        item = None if session_id is None else ("session", session_id)
        data = await self._json(
            "POST", "/v1/history/search", operation="search", item=item, body=body
        )
        return _FOUND.validate_python(data)

    async def delete(self, *, session_id: str, user_id: str | None = None) -> None:
        await self._http.call(
            "DELETE",
            self._session(session_id),
            operation="delete",
            item=("session", session_id),
            params=_body(user_id=user_id),
        )

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self._deleted(
            "/v1/history/sessions", operation="delete_all", params=_body(user_id=user_id)
        )


class RemoteDocumentStore(_RemoteStore):
    kind = "documents"

    async def add(
        self,
        *,
        content: str,
        doc_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> Document:
        body = _body(content=content, doc_id=doc_id, metadata=metadata, user_id=user_id)
        data = await self._json("POST", "/v1/documents", operation="add", body=body)
        return Document.model_validate(data)

    async def _batch(
        self, method: str, documents: Sequence[DocumentInput | Mapping[str, Any]], operation: str
    ) -> list[Document]:
        items = coerce_items(DocumentInput, documents, field="documents")
        body = {"documents": [item.model_dump(mode="json", exclude_none=True) for item in items]}
        data = await self._json(method, "/v1/documents/batch", operation=operation, body=body)
        return _DOCUMENTS.validate_python(data)

    async def add_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self._batch("POST", documents, "add_many")

    async def upsert_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self._batch("PUT", documents, "upsert_many")

    async def get(
        self, *, doc_id: str, user_id: str | None = None, include_shared: bool = False
    ) -> Document:
        include_shared_scope(user_id, include_shared)
        data = await self._json(
            "GET",
            _path("/v1/documents", doc_id=doc_id),
            operation="get",
            item=("document", doc_id),
            params=_body(user_id=user_id, include_shared=include_shared or None),
        )
        return Document.model_validate(data)

    async def get_all(
        self,
        *,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> Page[Document]:
        include_shared_scope(user_id, include_shared)
        params = _body(
            limit=limit,
            filters=filters,
            user_id=user_id,
            cursor=cursor,
            include_shared=include_shared or None,
        )
        answer = await self._http.call("GET", "/v1/documents", operation="get_all", params=params)
        return _page(answer, _DOCUMENTS.validate_python(answer.json()))

    async def search(
        self,
        *,
        query: str,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        include_shared: bool = False,
        search_mode: SearchMode = "hybrid",
    ) -> list[Document]:
        include_shared_scope(user_id, include_shared)
        body = _body(
            query=query,
            limit=limit,
            filters=filters,
            user_id=user_id,
            include_shared=include_shared,
            search_mode=search_mode,
        )
        data = await self._json("POST", "/v1/documents/search", operation="search", body=body)
        return _DOCUMENTS.validate_python(data)

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> Document:
        data = await self._json(
            "PUT",
            _path("/v1/documents", doc_id=doc_id),
            operation="update",
            item=("document", doc_id),
            params=_body(user_id=user_id),
            body=_body(content=content, metadata=metadata),
        )
        return Document.model_validate(data)

    async def delete(self, *, doc_id: str, user_id: str | None = None) -> None:
        await self._http.call(
            "DELETE",
            _path("/v1/documents", doc_id=doc_id),
            operation="delete",
            item=("document", doc_id),
            params=_body(user_id=user_id),
        )

    async def delete_many(self, *, doc_ids: Sequence[str], user_id: str | None = None) -> int:
        ids = id_list(doc_ids, field="doc_ids")
        if not ids:
            return 0
        data = await self._json(
            "DELETE",
            "/v1/documents/batch",
            operation="delete_many",
            params=_body(user_id=user_id),
            body={"ids": ids},
        )
        return int(data["deleted"])

    async def restore(self, *, documents: Sequence[Document | Mapping[str, Any]]) -> list[bool]:
        body = {
            "documents": [
                document.model_dump(mode="json", exclude={"score"})
                for document in restorable_documents(documents)
            ]
        }
        return await self._restore("/v1/documents/restore", body)

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self._deleted(
            "/v1/documents", operation="delete_all", params=_body(user_id=user_id)
        )


class RemoteGraphStore(_RemoteStore):
    kind = "graph"

    async def add(
        self, *, triples: Sequence[Triple | Mapping[str, Any]], user_id: str | None = None
    ) -> list[Triple]:
        items = coerce_items(Triple, triples, field="triples")
        for i, item in enumerate(items):
            check_wire(item.model_dump(exclude_none=True), field=f"triples[{i}]")
        parts = {"subject", "predicate", "object", "metadata"}
        body = _body(
            triples=[item.model_dump(mode="json", include=parts) for item in items],
            user_id=user_id,
        )
        data = await self._represented("POST", "/v1/graph/triples", operation="add", body=body)
        return _TRIPLES.validate_python(data)

    async def get(
        self,
        *,
        entity: str,
        user_id: str | None = None,
        depth: int = 1,
        include_shared: bool = False,
    ) -> GraphResult:
        include_shared_scope(user_id, include_shared)
        data = await self._json(
            "GET",
            _path("/v1/graph/entities", entity=entity),
            operation="get",
            item=("entity", entity),
            params=_body(user_id=user_id, depth=depth, include_shared=include_shared or None),
        )
        return GraphResult.model_validate(data)

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> GraphResult:
        include_shared_scope(user_id, include_shared)
        params = _body(
            user_id=user_id, limit=limit, cursor=cursor, include_shared=include_shared or None
        )
        data = await self._json("GET", "/v1/graph/triples", operation="get_all", params=params)
        return GraphResult.model_validate(data)

    async def search(
        self,
        *,
        query: str,
        user_id: str | None = None,
        limit: int = 10,
        include_shared: bool = False,
    ) -> GraphResult:
        include_shared_scope(user_id, include_shared)
        body = _body(query=query, user_id=user_id, limit=limit, include_shared=include_shared)
        data = await self._json("POST", "/v1/graph/search", operation="search", body=body)
        return GraphResult.model_validate(data)

    async def delete(
        self,
        *,
        entity: str | None = None,
        triple_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        if (entity is None) == (triple_id is None):
            raise InvalidRequestError("give exactly one of entity and triple_id", field="entity")
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

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self._deleted(
            "/v1/graph", operation="delete_all", params=_body(user_id=user_id)
        )

    async def restore(self, *, triples: Sequence[Triple | Mapping[str, Any]]) -> list[bool]:
        body = {
            "triples": [triple.model_dump(mode="json") for triple in restorable_triples(triples)]
        }
        return await self._restore("/v1/graph/restore", body)
