"""Stores confined to one scope: what a credential bound to a user, agent or app may see and do.

A `Scope` names the bound fields. `scoped(memio, scope)` wraps each store so every call is checked
and completed against the scope *before* a provider sees it; providers stay unaware of tenancy and
no route has to repeat a check:

- reads, searches, listings and deletes are confined to the scope;
- a write that omits a bound field gets it filled in; naming another value is a ForbiddenError
  naming the field;
- an item outside the scope is a NotFoundError, exactly like an id that does not exist, so ids of
  other tenants cannot be probed;
- facts and history sessions stored without a user are invisible to a user-bound scope; documents
  and triples stored without a user are shared knowledge: readable, never writable by it;
- history, documents and graph are kept per user, so a scope bound only to an agent or app cannot
  use them (ForbiddenError), rather than seeing every user's items;
- counting a whole store is for operators; a facts count is confined to the scope, as listings are.

An unbound scope (an operator) passes every call through unchanged. Either way every write and
delete is reported to an optional observer (the server's audit log) with its outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from memio.errors import ConflictError, ForbiddenError, MemioError, NotFoundError
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
from memio.pagination import MAX_LIMIT
from memio.ranking import DEFAULT_SEARCH_MODE, HISTORY_SEARCH_MODE, SearchMode
from memio.validating.arguments import coerce_items

__all__ = ["SCOPE_FIELDS", "Scope", "WriteObserver", "WriteRecord", "confine", "scoped_stores"]

SCOPE_FIELDS = ("user_id", "agent_id", "app_id")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Scope:
    """The fields a credential is bound to; all None is an operator (acts for anyone)."""

    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None

    @property
    def bound(self) -> bool:
        return any(value is not None for value in self.fields().values())

    def fields(self) -> dict[str, str]:
        """The bound fields and their values."""
        values = {name: getattr(self, name) for name in SCOPE_FIELDS}
        return {name: value for name, value in values.items() if value is not None}

    def describe(self) -> str:
        return ", ".join(f"{name}={value!r}" for name, value in self.fields().items()) or "any"


@dataclass(frozen=True)
class WriteRecord:
    """One write or delete as the observer sees it: never content, only ids and the outcome."""

    store: str
    operation: str
    ids: list[str] = field(default_factory=list)
    outcome: str = "ok"  # "ok", or the error code (not_found, forbidden, conflict, ...)
    count: int | None = None  # items removed, for deletes of many


WriteObserver = Callable[[WriteRecord], None]


class _Confined:
    """Shared mechanics of the four wrappers: scope checks and write reporting."""

    store_kind = ""

    def __init__(self, inner: Any, scope: Scope, observe: WriteObserver | None) -> None:
        self._inner = inner
        self._scope = scope
        self._observe = observe
        self.provider: str = inner.provider

    # -- scope checks --------------------------------------------------------------------------

    def _fill(self, where: str = "", **given: str | None) -> dict[str, str | None]:
        """`given` scope arguments with the bound ones filled in; another value is forbidden."""
        out = dict(given)
        for name, bound in self._scope.fields().items():
            if name not in out:
                continue
            value = out[name]
            if value is not None and value != bound:
                raise ForbiddenError(
                    f"this credential acts for {name} {bound!r} only", field=f"{where}{name}"
                )
            out[name] = bound
        return out

    def _user(self, given: str | None, where: str = "user_id") -> str | None:
        """The user a per-user store is called with: the bound user (as given for operators)."""
        if not self._scope.bound:
            return given
        bound = self._scope.user_id
        if bound is None:
            raise ForbiddenError(
                f"the {self.store_kind} store is kept per user and this credential is bound to "
                f"{self._scope.describe()} without a user_id",
                field=where,
            )
        if given is not None and given != bound:
            raise ForbiddenError(f"this credential acts for user_id {bound!r} only", field=where)
        return bound

    def _operators_only(self, what: str) -> None:
        if self._scope.bound:
            raise ForbiddenError(f"{what} needs an operator credential")

    # -- reporting -----------------------------------------------------------------------------

    async def _write(
        self,
        operation: str,
        call: Callable[[], Any],
        *,
        ids: Sequence[str] = (),
        ids_of: Callable[[Any], list[str]] | None = None,
        count_of: Callable[[Any], int | None] | None = None,
    ) -> Any:
        """Run a write, then tell the observer what happened (also when it failed)."""
        try:
            result = await call()
        except MemioError as exc:
            self._report(operation, list(ids), exc.code, None)
            raise
        except Exception:
            self._report(operation, list(ids), "error", None)
            raise
        found = ids_of(result) if ids_of is not None else list(ids)
        self._report(operation, found, "ok", count_of(result) if count_of else None)
        return result

    def _report(self, operation: str, ids: list[str], outcome: str, count: int | None) -> None:
        if self._observe is not None:
            self._observe(WriteRecord(self.store_kind, operation, ids, outcome, count))

    # -- Store --------------------------------------------------------------------------------

    async def count(self) -> int:
        self._operators_only(f"counting the whole {self.store_kind} store")
        return int(await self._inner.count())

    async def ping(self) -> None:
        await self._inner.ping()

    async def restore(self, **items: Any) -> list[bool]:
        """Write exported items with the scopes and times they name (`memio import` through a
        server): an operator's job, as the items may be anybody's."""
        self._operators_only(f"restoring into the {self.store_kind} store")
        return await self._write("restore", lambda: self._inner.restore(**items))

    async def aclose(self) -> None:
        """Nothing to release: the wrapped store belongs to whoever built it."""


class ScopedFacts(_Confined):
    store_kind = "facts"

    def _visible(self, fact: Fact | FactEvent) -> bool:
        bound = self._scope.fields().items()
        return all(getattr(fact, name, None) == value for name, value in bound)

    async def _get_visible(self, fact_id: str, *, include_expired: bool = True) -> Fact:
        """The fact, if in the scope (expired ones too: they can still be updated or deleted)."""
        fact: Fact = await self._inner.get(fact_id=fact_id, include_expired=include_expired)
        if not self._visible(fact):
            raise NotFoundError("fact", fact_id)
        return fact

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
        async def add() -> Fact:
            scope = self._fill(user_id=user_id, agent_id=agent_id, app_id=app_id)
            return await self._inner.add(
                content=content,
                run_id=run_id,
                metadata=metadata,
                fact_id=fact_id,
                expires_at=expires_at,
                **scope,
            )

        return await self._write(
            "add", add, ids=[fact_id] if fact_id else [], ids_of=lambda fact: [fact.id]
        )

    async def add_many(self, *, facts: Sequence[FactInput | Mapping[str, Any]]) -> list[Fact]:
        async def add_many() -> list[Fact]:
            filled = []
            for index, item in enumerate(coerce_items(FactInput, facts, field="facts")):
                scope = self._fill(
                    f"facts[{index}].",
                    user_id=item.user_id,
                    agent_id=item.agent_id,
                    app_id=item.app_id,
                )
                filled.append(item.model_copy(update=scope))
            return await self._inner.add_many(facts=filled)

        return await self._write(
            "add_many", add_many, ids_of=lambda stored: [fact.id for fact in stored]
        )

    async def get(self, *, fact_id: str, include_expired: bool = False) -> Fact:
        return await self._get_visible(fact_id, include_expired=include_expired)

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
        scope = self._fill(user_id=user_id, agent_id=agent_id, app_id=app_id)
        return await self._inner.get_all(
            run_id=run_id,
            filters=filters,
            limit=limit,
            cursor=cursor,
            include_expired=include_expired,
            **scope,
        )

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
        """Within the scope, as `get_all` lists."""
        scope = self._fill(user_id=user_id, agent_id=agent_id, app_id=app_id)
        return int(
            await self._inner.count(
                run_id=run_id, filters=filters, include_expired=include_expired, **scope
            )
        )

    async def entities(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
        include_expired: bool = False,
    ) -> list[FactEntity]:
        """Within the scope, as `get_all` lists."""
        scope = self._fill(user_id=user_id, agent_id=agent_id, app_id=app_id)
        return await self._inner.entities(run_id=run_id, include_expired=include_expired, **scope)

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
        include_expired: bool = False,
        search_mode: SearchMode = DEFAULT_SEARCH_MODE,
    ) -> list[Fact]:
        scope = self._fill(user_id=user_id, agent_id=agent_id, app_id=app_id)
        return await self._inner.search(
            query=query,
            run_id=run_id,
            limit=limit,
            filters=filters,
            threshold=threshold,
            include_expired=include_expired,
            search_mode=search_mode,
            **scope,
        )

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        expires_at: Any = KEEP,
    ) -> Fact:
        async def update() -> Fact:
            if self._scope.bound:
                await self._get_visible(fact_id)
            return await self._inner.update(
                fact_id=fact_id, content=content, metadata=metadata, expires_at=expires_at
            )

        return await self._write("update", update, ids=[fact_id])

    async def delete(self, *, fact_id: str) -> None:
        async def delete() -> None:
            if self._scope.bound:
                await self._get_visible(fact_id)
            await self._inner.delete(fact_id=fact_id)

        await self._write("delete", delete, ids=[fact_id])

    async def delete_many(self, *, fact_ids: Sequence[str]) -> int:
        async def delete_many() -> int:
            ids = list(fact_ids)
            if self._scope.bound and ids:
                ids = await self._in_scope(ids)
            return int(await self._inner.delete_many(fact_ids=ids)) if ids else 0

        return await self._write(
            "delete_many", delete_many, ids=list(fact_ids), count_of=lambda gone: gone
        )

    async def _in_scope(self, fact_ids: list[str]) -> list[str]:
        """The listed ids that name facts in the scope (the others are skipped, as unknown ids)."""
        found: list[str] = []
        cursor = None
        while True:
            page = await self._inner.get_all(
                **self._scope.fields(),
                filters={"id": {"in": fact_ids}},
                limit=MAX_LIMIT,
                cursor=cursor,
            )
            found.extend(fact.id for fact in page)
            cursor = page.next_cursor
            if not cursor:
                return found

    async def delete_all(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
    ) -> int:
        async def delete_all() -> int:
            scope = self._fill(user_id=user_id, agent_id=agent_id, app_id=app_id)
            return int(await self._inner.delete_all(run_id=run_id, **scope))

        return await self._write("delete_all", delete_all, count_of=lambda gone: gone)

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        if not self._scope.bound:
            return await self._inner.history(fact_id=fact_id)
        try:
            await self._get_visible(fact_id)
        except NotFoundError:
            # Deleted facts keep their history; its events say whose the fact was.
            events: list[FactEvent] = await self._inner.history(fact_id=fact_id)
            if not events or not self._visible(events[0]):
                raise NotFoundError("fact", fact_id) from None
            return events
        return await self._inner.history(fact_id=fact_id)

    async def purge_expired(self, *, before: datetime) -> int:
        """The sweep of the whole store: operators only."""
        self._operators_only("sweeping expired facts")

        async def purge_expired() -> int:
            return int(await self._inner.purge_expired(before=before))

        return await self._write("purge_expired", purge_expired, count_of=lambda gone: gone)


class ScopedHistory(_Confined):
    store_kind = "history"

    async def add(
        self,
        *,
        session_id: str,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str | None = None,
    ) -> list[Message]:
        async def add() -> list[Message]:
            owner = self._user(user_id)
            try:
                return await self._inner.add(
                    session_id=session_id, messages=messages, user_id=owner
                )
            except ConflictError as exc:
                if self._scope.bound and exc.field == "user_id":
                    # Another owner's session: bound callers cannot learn that it exists.
                    raise NotFoundError("session", session_id) from None
                raise

        return await self._write("add", add, ids=[session_id])

    async def get(
        self,
        *,
        session_id: str,
        limit: int = 50,
        cursor: str | None = None,
        user_id: str | None = None,
    ) -> Page[Message]:
        return await self._inner.get(
            session_id=session_id, limit=limit, cursor=cursor, user_id=self._user(user_id)
        )

    async def get_all(
        self, *, user_id: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        return await self._inner.get_all(user_id=self._user(user_id), limit=limit, cursor=cursor)

    async def search(
        self,
        *,
        query: str,
        session_id: str | None = None,
        limit: int = 10,
        user_id: str | None = None,
        search_mode: SearchMode = HISTORY_SEARCH_MODE,
    ) -> list[FoundMessage]:
        return await self._inner.search(
            query=query,
            session_id=session_id,
            limit=limit,
            user_id=self._user(user_id),
            search_mode=search_mode,
        )

    async def owner(self, *, session_id: str) -> str | None:
        """A bound caller learns only of its own sessions: another's is unknown to it."""
        owner = await self._inner.owner(session_id=session_id)
        if self._scope.bound and owner != self._user(None):
            raise NotFoundError("session", session_id)
        return owner

    async def delete(self, *, session_id: str, user_id: str | None = None) -> None:
        await self._write(
            "delete",
            lambda: self._inner.delete(session_id=session_id, user_id=self._user(user_id)),
            ids=[session_id],
        )

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self._write(
            "delete_all",
            lambda: self._inner.delete_all(user_id=self._user(user_id)),
            count_of=lambda gone: gone,
        )


class _SharedReadable(_Confined):
    """Documents and graph: items without a user are shared knowledge, read-only when bound."""

    def _reads(self, user_id: str | None, include_shared: bool) -> dict[str, Any]:
        """Arguments of a read: for a bound caller its user's items plus the shared ones."""
        owner = self._user(user_id)
        return {"user_id": owner, "include_shared": include_shared or self._scope.bound}

    async def _on_own(
        self,
        user_id: str | None,
        write: Callable[[str | None], Awaitable[_T]],
        shared: Callable[[], Awaitable[Any]],
    ) -> _T:
        """Run `write` on the caller's own item. When a bound caller misses and `shared()`
        finds the item (shared knowledge, which it may read), say it is read-only."""
        owner = self._user(user_id)
        try:
            return await write(owner)
        except NotFoundError as exc:
            if not self._scope.bound:
                raise
            try:
                await shared()
            except NotFoundError:
                raise exc from None
            where = "entity" if exc.kind == "entity" else f"{exc.kind}_id"
            raise ForbiddenError(
                f"{exc.kind} {exc.item_id!r} is shared knowledge (stored without a user): "
                "read-only for user-bound credentials",
                field=where,
            ) from None


class ScopedDocuments(_SharedReadable):
    store_kind = "documents"

    def _items(self, documents: Sequence[DocumentInput | Mapping[str, Any]]) -> Any:
        if not self._scope.bound:
            return documents
        items = coerce_items(DocumentInput, documents, field="documents")
        return [
            item.model_copy(
                update={"user_id": self._user(item.user_id, f"documents[{index}].user_id")}
            )
            for index, item in enumerate(items)
        ]

    async def add(
        self,
        *,
        content: str,
        doc_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> Document:
        return await self._write(
            "add",
            lambda: self._inner.add(
                content=content, doc_id=doc_id, metadata=metadata, user_id=self._user(user_id)
            ),
            ids=[doc_id] if doc_id else [],
            ids_of=lambda document: [document.id],
        )

    async def add_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self._write(
            "add_many",
            lambda: self._inner.add_many(documents=self._items(documents)),
            ids_of=lambda stored: [document.id for document in stored],
        )

    async def upsert_many(
        self, *, documents: Sequence[DocumentInput | Mapping[str, Any]]
    ) -> list[Document]:
        return await self._write(
            "upsert_many",
            lambda: self._inner.upsert_many(documents=self._items(documents)),
            ids_of=lambda stored: [document.id for document in stored],
        )

    async def get(
        self, *, doc_id: str, user_id: str | None = None, include_shared: bool = False
    ) -> Document:
        return await self._inner.get(doc_id=doc_id, **self._reads(user_id, include_shared))

    async def get_all(
        self,
        *,
        limit: int = 100,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> Page[Document]:
        return await self._inner.get_all(
            limit=limit, filters=filters, cursor=cursor, **self._reads(user_id, include_shared)
        )

    async def search(
        self,
        *,
        query: str,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        include_shared: bool = False,
        search_mode: SearchMode = DEFAULT_SEARCH_MODE,
    ) -> list[Document]:
        return await self._inner.search(
            query=query,
            limit=limit,
            filters=filters,
            search_mode=search_mode,
            **self._reads(user_id, include_shared),
        )

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> Document:
        return await self._write(
            "update",
            lambda: self._on_own(
                user_id,
                lambda owner: self._inner.update(
                    doc_id=doc_id, content=content, metadata=metadata, user_id=owner
                ),
                lambda: self.get(doc_id=doc_id),
            ),
            ids=[doc_id],
        )

    async def delete(self, *, doc_id: str, user_id: str | None = None) -> None:
        await self._write(
            "delete",
            lambda: self._on_own(
                user_id,
                lambda owner: self._inner.delete(doc_id=doc_id, user_id=owner),
                lambda: self.get(doc_id=doc_id),
            ),
            ids=[doc_id],
        )

    async def delete_many(self, *, doc_ids: Sequence[str], user_id: str | None = None) -> int:
        return await self._write(
            "delete_many",
            lambda: self._inner.delete_many(doc_ids=doc_ids, user_id=self._user(user_id)),
            ids=list(doc_ids),
            count_of=lambda gone: gone,
        )

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self._write(
            "delete_all",
            lambda: self._inner.delete_all(user_id=self._user(user_id)),
            count_of=lambda gone: gone,
        )


class ScopedGraph(_SharedReadable):
    store_kind = "graph"

    async def add(
        self, *, triples: Sequence[Triple | Mapping[str, Any]], user_id: str | None = None
    ) -> list[Triple]:
        async def add() -> list[Triple]:
            owner = self._user(user_id)
            if not self._scope.bound:
                return await self._inner.add(triples=triples, user_id=owner)
            items = [
                item.model_copy(
                    update={"user_id": self._user(item.user_id, f"triples[{index}].user_id")}
                )
                for index, item in enumerate(coerce_items(Triple, triples, field="triples"))
            ]
            return await self._inner.add(triples=items, user_id=owner)

        return await self._write(
            "add", add, ids_of=lambda stored: [triple.id for triple in stored if triple.id]
        )

    async def get(
        self,
        *,
        entity: str,
        user_id: str | None = None,
        depth: int = 1,
        include_shared: bool = False,
    ) -> GraphResult:
        return await self._inner.get(
            entity=entity, depth=depth, **self._reads(user_id, include_shared)
        )

    async def get_all(
        self,
        *,
        user_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        include_shared: bool = False,
    ) -> GraphResult:
        return await self._inner.get_all(
            limit=limit, cursor=cursor, **self._reads(user_id, include_shared)
        )

    async def search(
        self,
        *,
        query: str,
        user_id: str | None = None,
        limit: int = 10,
        include_shared: bool = False,
    ) -> GraphResult:
        return await self._inner.search(
            query=query, limit=limit, **self._reads(user_id, include_shared)
        )

    async def delete(
        self,
        *,
        entity: str | None = None,
        triple_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        async def shared_entity() -> Any:
            if entity is None:  # a triple id: no cheap look-up tells shared from unknown
                raise NotFoundError("triple", triple_id or "")
            if not (await self.get(entity=entity)).triples:
                raise NotFoundError("entity", entity)

        return await self._write(
            "delete",
            lambda: self._on_own(
                user_id,
                lambda owner: self._inner.delete(entity=entity, triple_id=triple_id, user_id=owner),
                shared_entity,
            ),
            ids=[item for item in (entity, triple_id) if item],
            count_of=lambda gone: gone,
        )

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self._write(
            "delete_all",
            lambda: self._inner.delete_all(user_id=self._user(user_id)),
            count_of=lambda gone: gone,
        )


_WRAPPERS: dict[str, type[_Confined]] = {
    "facts": ScopedFacts,
    "history": ScopedHistory,
    "documents": ScopedDocuments,
    "graph": ScopedGraph,
}


def confine(kind: str, store: Any, scope: Scope, *, observe: WriteObserver | None = None) -> Any:
    """`store` (a store of `kind`: facts, history, documents, graph) confined to `scope`,
    reporting every write to `observe`."""
    return _WRAPPERS[kind](store, scope, observe)


def scoped_stores(
    stores: Mapping[str, Any], scope: Scope, *, observe: WriteObserver | None = None
) -> dict[str, Any]:
    """Each of `stores` (kind -> store) confined to `scope`, reporting writes to `observe`."""
    return {kind: confine(kind, store, scope, observe=observe) for kind, store in stores.items()}
