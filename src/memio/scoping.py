"""Stores confined to one scope: what a credential bound to a user, agent or app may see and do.

A `Scope` names the bound fields. `confine(kind, store, scope)` (and `Memio.scoped`) puts the scope
into the seam between a store's validating layer and its provider: every call, already checked
(`memio.checked`), is completed against the scope *before* the provider sees it; providers stay
unaware of tenancy and no route has to repeat a check:

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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from memio.checked import (
    DocumentQuery,
    DocumentSearch,
    FactQuery,
    FactScope,
    FactSearch,
    HistorySearch,
    fact_scope_of,
)
from memio.errors import ConflictError, ForbiddenError, MemioError, NotFoundError
from memio.filters import parse_filters
from memio.models import (
    FACT_SCOPE,
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
from memio.providers.base import Provider
from memio.providers.shared import FACT_FIELDS, FACT_TIMESTAMPS, triple_id
from memio.validating import validating

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
    """Shared mechanics of the four wrappers: scope checks and write reporting. Each wraps a
    provider and is itself one (`providers.base`): it sits between the validating store and the
    provider, so it works on checked values."""

    store_kind = ""

    def __init__(self, inner: Any, scope: Scope, observe: WriteObserver | None) -> None:
        self._inner = inner
        self._scope = scope
        self._observe = observe
        self.provider: str = inner.provider

    # -- scope checks --------------------------------------------------------------------------

    def _fill(self, given: Mapping[str, str | None], where: str = "") -> dict[str, str | None]:
        """`given` scope ids with the bound ones filled in; another value is forbidden."""
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

    # -- what every provider has ---------------------------------------------------------------

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


def _gone(result: int) -> int:
    return result


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

    def _confined(self, query: FactQuery) -> FactQuery:
        return replace(query, scope=self._fill(query.scope))

    async def add(self, *, fact: FactInput) -> Fact:
        async def add() -> Fact:
            filled = self._fill(fact_scope_of(fact))
            return await self._inner.add(fact=fact.model_copy(update=filled))

        given = [fact.fact_id] if fact.fact_id else []
        return await self._write("add", add, ids=given, ids_of=lambda stored: [stored.id])

    async def add_many(self, *, facts: list[FactInput]) -> list[Fact]:
        async def add_many() -> list[Fact]:
            filled = [
                item.model_copy(update=self._fill(fact_scope_of(item), f"facts[{index}]."))
                for index, item in enumerate(facts)
            ]
            return await self._inner.add_many(facts=filled)

        return await self._write(
            "add_many", add_many, ids_of=lambda stored: [fact.id for fact in stored]
        )

    async def get(self, *, fact_id: str, include_expired: bool) -> Fact:
        return await self._get_visible(fact_id, include_expired=include_expired)

    async def get_all(self, *, query: FactQuery, limit: int, cursor: str | None) -> Page[Fact]:
        return await self._inner.get_all(query=self._confined(query), limit=limit, cursor=cursor)

    async def count(self, *, query: FactQuery) -> int:  # type: ignore[override]
        """Within the scope, as `get_all` lists."""
        return int(await self._inner.count(query=self._confined(query)))

    async def entities(self, *, query: FactQuery) -> list[FactEntity]:
        return await self._inner.entities(query=self._confined(query))

    async def search(self, *, request: FactSearch) -> list[Fact]:
        confined = replace(request, query=self._confined(request.query))
        return await self._inner.search(request=confined)

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None,
        metadata: Mapping[str, Any],
        expires_at: Any,
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

    async def delete_many(self, *, fact_ids: list[str]) -> int:
        async def delete_many() -> int:
            ids = await self._in_scope(fact_ids) if self._scope.bound else fact_ids
            return int(await self._inner.delete_many(fact_ids=ids)) if ids else 0

        return await self._write("delete_many", delete_many, ids=fact_ids, count_of=_gone)

    async def _in_scope(self, fact_ids: list[str]) -> list[str]:
        """The listed ids that name facts in the scope (the others are skipped, as unknown ids);
        expired ones too, as `delete` takes them."""
        wanted = {"id": {"in": fact_ids}}
        query = FactQuery(
            scope=self._fill(dict.fromkeys(FACT_SCOPE)),
            filters=wanted,
            where=parse_filters(wanted, fields=FACT_FIELDS, datetime_fields=FACT_TIMESTAMPS),
            include_expired=True,
        )
        found: list[str] = []
        cursor = None
        while True:
            page = await self._inner.get_all(query=query, limit=MAX_LIMIT, cursor=cursor)
            found.extend(fact.id for fact in page)
            cursor = page.next_cursor
            if not cursor:
                return found

    async def delete_all(self, *, scope: FactScope) -> int:
        async def delete_all() -> int:
            return int(await self._inner.delete_all(scope=self._fill(scope)))

        return await self._write("delete_all", delete_all, count_of=_gone)

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

        return await self._write("purge_expired", purge_expired, count_of=_gone)


class ScopedHistory(_Confined):
    store_kind = "history"

    async def add(
        self, *, session_id: str, messages: list[Message], user_id: str | None
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
        self, *, session_id: str, limit: int, cursor: str | None, user_id: str | None
    ) -> Page[Message]:
        return await self._inner.get(
            session_id=session_id, limit=limit, cursor=cursor, user_id=self._user(user_id)
        )

    async def get_all(self, *, user_id: str | None, limit: int, cursor: str | None) -> Page[str]:
        return await self._inner.get_all(user_id=self._user(user_id), limit=limit, cursor=cursor)

    async def search(self, *, request: HistorySearch) -> list[FoundMessage]:
        confined = replace(request, user_id=self._user(request.user_id))
        return await self._inner.search(request=confined)

    async def owner(self, *, session_id: str) -> str | None:
        """A bound caller learns only of its own sessions: another's is unknown to it."""
        owner = await self._inner.owner(session_id=session_id)
        if self._scope.bound and owner != self._user(None):
            raise NotFoundError("session", session_id)
        return owner

    async def delete(self, *, session_id: str, user_id: str | None) -> None:
        await self._write(
            "delete",
            lambda: self._inner.delete(session_id=session_id, user_id=self._user(user_id)),
            ids=[session_id],
        )

    async def delete_all(self, *, user_id: str | None) -> int:
        return await self._write(
            "delete_all",
            lambda: self._inner.delete_all(user_id=self._user(user_id)),
            count_of=_gone,
        )


class _SharedReadable(_Confined):
    """Documents and graph: items without a user are shared knowledge, read-only when bound."""

    def _reads(self, user_id: str | None, shared: bool) -> tuple[str | None, bool]:
        """Whose items a read sees: for a bound caller its user's plus the shared ones."""
        return self._user(user_id), shared or self._scope.bound

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

    def _own(self, documents: list[DocumentInput]) -> list[DocumentInput]:
        if not self._scope.bound:
            return documents
        return [
            item.model_copy(
                update={"user_id": self._user(item.user_id, f"documents[{index}].user_id")}
            )
            for index, item in enumerate(documents)
        ]

    def _query(self, query: DocumentQuery) -> DocumentQuery:
        user_id, shared = self._reads(query.user_id, query.shared)
        return replace(query, user_id=user_id, shared=shared)

    async def add(self, *, document: DocumentInput) -> Document:
        async def add() -> Document:
            owned = document.model_copy(update={"user_id": self._user(document.user_id)})
            return await self._inner.add(document=owned)

        given = [document.doc_id] if document.doc_id else []
        return await self._write("add", add, ids=given, ids_of=lambda stored: [stored.id])

    async def add_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        return await self._write(
            "add_many",
            lambda: self._inner.add_many(documents=self._own(documents)),
            ids_of=lambda stored: [document.id for document in stored],
        )

    async def upsert_many(self, *, documents: list[DocumentInput]) -> list[Document]:
        return await self._write(
            "upsert_many",
            lambda: self._inner.upsert_many(documents=self._own(documents)),
            ids_of=lambda stored: [document.id for document in stored],
        )

    async def get(self, *, doc_id: str, user_id: str | None, shared: bool) -> Document:
        owner, shared = self._reads(user_id, shared)
        return await self._inner.get(doc_id=doc_id, user_id=owner, shared=shared)

    async def get_all(
        self, *, query: DocumentQuery, limit: int, cursor: str | None
    ) -> Page[Document]:
        return await self._inner.get_all(query=self._query(query), limit=limit, cursor=cursor)

    async def search(self, *, request: DocumentSearch) -> list[Document]:
        confined = replace(request, query=self._query(request.query))
        return await self._inner.search(request=confined)

    async def update(
        self,
        *,
        doc_id: str,
        content: str | None,
        metadata: Mapping[str, Any],
        user_id: str | None,
    ) -> Document:
        return await self._write(
            "update",
            lambda: self._on_own(
                user_id,
                lambda owner: self._inner.update(
                    doc_id=doc_id, content=content, metadata=metadata, user_id=owner
                ),
                lambda: self.get(doc_id=doc_id, user_id=None, shared=False),
            ),
            ids=[doc_id],
        )

    async def delete(self, *, doc_id: str, user_id: str | None) -> None:
        await self._write(
            "delete",
            lambda: self._on_own(
                user_id,
                lambda owner: self._inner.delete(doc_id=doc_id, user_id=owner),
                lambda: self.get(doc_id=doc_id, user_id=None, shared=False),
            ),
            ids=[doc_id],
        )

    async def delete_many(self, *, doc_ids: list[str], user_id: str | None) -> int:
        return await self._write(
            "delete_many",
            lambda: self._inner.delete_many(doc_ids=doc_ids, user_id=self._user(user_id)),
            ids=doc_ids,
            count_of=_gone,
        )

    async def delete_all(self, *, user_id: str | None) -> int:
        return await self._write(
            "delete_all",
            lambda: self._inner.delete_all(user_id=self._user(user_id)),
            count_of=_gone,
        )


class ScopedGraph(_SharedReadable):
    store_kind = "graph"

    def _own(self, triples: list[Triple]) -> list[Triple]:
        """Each triple the caller's own: a triple without an owner gets the bound user, and the
        id that owner gives it."""
        owned = []
        for index, triple in enumerate(triples):
            owner = self._user(triple.user_id, f"triples[{index}].user_id")
            if owner != triple.user_id:
                ident = triple_id(triple.subject, triple.predicate, triple.object, owner)
                triple = triple.model_copy(update={"user_id": owner, "id": ident})
            owned.append(triple)
        return owned

    async def add(self, *, triples: list[Triple]) -> list[Triple]:
        return await self._write(
            "add",
            lambda: self._inner.add(triples=self._own(triples)),
            ids_of=lambda stored: [triple.id for triple in stored if triple.id],
        )

    async def get(
        self, *, entity: str, user_id: str | None, shared: bool, depth: int
    ) -> GraphResult:
        owner, shared = self._reads(user_id, shared)
        return await self._inner.get(entity=entity, user_id=owner, shared=shared, depth=depth)

    async def get_all(
        self, *, user_id: str | None, shared: bool, limit: int, cursor: str | None
    ) -> GraphResult:
        owner, shared = self._reads(user_id, shared)
        return await self._inner.get_all(user_id=owner, shared=shared, limit=limit, cursor=cursor)

    async def search(
        self, *, query: str, user_id: str | None, shared: bool, limit: int
    ) -> GraphResult:
        owner, shared = self._reads(user_id, shared)
        return await self._inner.search(query=query, user_id=owner, shared=shared, limit=limit)

    async def delete(
        self, *, entity: str | None, triple_id: str | None, user_id: str | None
    ) -> int:
        async def shared_entity() -> Any:
            if entity is None:  # a triple id: no cheap look-up tells shared from unknown
                raise NotFoundError("triple", triple_id or "")
            found = await self.get(entity=entity, user_id=None, shared=False, depth=1)
            if not found.triples:
                raise NotFoundError("entity", entity)

        return await self._write(
            "delete",
            lambda: self._on_own(
                user_id,
                lambda owner: self._inner.delete(entity=entity, triple_id=triple_id, user_id=owner),
                shared_entity,
            ),
            ids=[item for item in (entity, triple_id) if item],
            count_of=_gone,
        )

    async def delete_all(self, *, user_id: str | None) -> int:
        return await self._write(
            "delete_all",
            lambda: self._inner.delete_all(user_id=self._user(user_id)),
            count_of=_gone,
        )


_WRAPPERS: dict[str, type[_Confined]] = {
    "facts": ScopedFacts,
    "history": ScopedHistory,
    "documents": ScopedDocuments,
    "graph": ScopedGraph,
}


def confine(kind: str, store: Any, scope: Scope, *, observe: WriteObserver | None = None) -> Any:
    """`store` (a store of `kind` as memio builds it: facts, history, documents, graph) confined
    to `scope`, reporting every write to `observe`. The confinement sits below the store's
    validating layer and above its provider, so it sees checked values."""
    provider = getattr(store, "adapter", store)  # a provider, or one already confined
    if not isinstance(provider, Provider | _Confined):
        raise TypeError(f"confine() takes a store built by memio, not {type(store).__name__}")
    return validating(kind, _WRAPPERS[kind](provider, scope, observe))


def scoped_stores(
    stores: Mapping[str, Any], scope: Scope, *, observe: WriteObserver | None = None
) -> dict[str, Any]:
    """Each of `stores` (kind -> store) confined to `scope`, reporting writes to `observe`."""
    return {kind: confine(kind, store, scope, observe=observe) for kind, store in stores.items()}
