"""Moving items between stores: what `memio export`, `import`, `migrate` and `stats` share.

`read_items` walks the stores page by page (cursor-paged, one page in memory at a time) and
yields `dump.DumpItem`s; `Importer` writes them into a `Memio` with their ids, timestamps and
fact histories (the stores' `restore` verbs), skipping what the target already holds, so an
interrupted import or migration is simply run again. Outcomes are counted in a `Tally`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memio.client import Memio
from memio.dump import PLURALS, VECTOR_KINDS, DumpItem, vector_text
from memio.errors import (
    ConflictError,
    InvalidRequestError,
    MemioError,
    NotFoundError,
    NotSupportedError,
)
from memio.models import Document, Fact, Message
from memio.protocols import DocumentStore, Embedder, FactStore, GraphStore, HistoryStore
from memio.providers import STORE_KINDS

__all__ = ["BATCH_SIZE", "PAGE_SIZE", "Importer", "Tally", "read_items"]

PAGE_SIZE = 200
BATCH_SIZE = 100  # items per restore call, messages per add
_RESTORED = frozenset({"fact", "document", "triple"})
# What one item may be refused for: counted, and the import goes on. Anything else (a backend
# down: ProviderError) stops it, with the summary of what was done.
ITEM_ERRORS = (ConflictError, InvalidRequestError, NotFoundError)
# the fields that say whether a stored item is the one a dump line holds (not its timestamps:
# a store without `restore` stamps its own)
_SAME_FIELDS = {
    "fact": ("content", "user_id", "agent_id", "app_id", "run_id", "metadata"),
    "message": ("role", "content", "name", "metadata"),
    "document": ("content", "user_id", "metadata"),
    "triple": ("subject", "predicate", "object", "user_id"),
}


async def read_items(
    memio: Memio,
    *,
    stores: Sequence[str] = STORE_KINDS,
    user_ids: Sequence[str] | None = None,
    embedder: Embedder | None = None,
    histories: bool = True,
) -> AsyncIterator[DumpItem]:
    """Every item of `stores` (of `user_ids` only, when given), store by store, in each store's
    listing order; a fact with its history (unless not `histories`), a session before its
    messages. With `embedder`, facts, documents and triples carry the vector it computes."""

    async def facts(store: FactStore, user_id: str | None) -> AsyncIterator[list[DumpItem]]:
        async for page in _facts(store, user_id, histories=histories):
            yield page

    readers: dict[str, Any] = {
        "facts": facts,
        "history": _sessions,
        "documents": _documents,
        "graph": _triples,
    }
    configured = memio.stores
    for kind in stores:
        store = configured.get(kind)
        if store is None:
            continue
        for user_id in user_ids or [None]:
            async for page in readers[kind](store, user_id):
                if embedder is not None:
                    await _add_vectors(page, embedder)
                for item in page:
                    yield item


async def _pages(fetch: Callable[[str | None], Awaitable[Any]]) -> AsyncIterator[Any]:
    """Every page of a listing: `fetch(cursor)` answers a Page or GraphResult."""
    cursor = None
    while True:
        page = await fetch(cursor)
        yield page
        cursor = page.next_cursor
        if cursor is None:
            return


async def _facts(
    store: FactStore, user_id: str | None, *, histories: bool
) -> AsyncIterator[list[DumpItem]]:
    # Expired facts the sweep has not deleted yet are still held (and readable on request):
    # a dump keeps them with their expiry, so a migration loses nothing within the grace period.
    async for page in _pages(
        lambda cursor: store.get_all(
            user_id=user_id, limit=PAGE_SIZE, cursor=cursor, include_expired=True
        )
    ):
        yield [
            DumpItem(
                "fact",
                model=fact,
                history=await store.history(fact_id=fact.id) if histories else [],
            )
            for fact in page
        ]


async def _sessions(store: HistoryStore, user_id: str | None) -> AsyncIterator[list[DumpItem]]:
    async for page in _pages(
        lambda cursor: store.get_all(user_id=user_id, limit=PAGE_SIZE, cursor=cursor)
    ):
        for session_id in page:
            owner = user_id if user_id is not None else await store.owner(session_id=session_id)
            yield [DumpItem("session", session_id=session_id, owner=owner)]
            async for messages in _pages(
                lambda cursor, session_id=session_id: store.get(
                    session_id=session_id, limit=PAGE_SIZE, cursor=cursor, user_id=user_id
                )
            ):
                yield [DumpItem("message", model=m, session_id=session_id) for m in messages]


async def _documents(store: DocumentStore, user_id: str | None) -> AsyncIterator[list[DumpItem]]:
    async for page in _pages(
        lambda cursor: store.get_all(user_id=user_id, limit=PAGE_SIZE, cursor=cursor)
    ):
        yield [DumpItem("document", model=document) for document in page]


async def _triples(store: GraphStore, user_id: str | None) -> AsyncIterator[list[DumpItem]]:
    async for result in _pages(
        lambda cursor: store.get_all(user_id=user_id, limit=PAGE_SIZE, cursor=cursor)
    ):
        yield [DumpItem("triple", model=triple) for triple in result.triples]


async def _add_vectors(page: list[DumpItem], embedder: Embedder) -> None:
    wanted = [item for item in page if item.kind in VECTOR_KINDS]
    if not wanted:
        return
    vectors = await embedder.embed([vector_text(item) for item in wanted])
    for item, vector in zip(wanted, vectors, strict=True):
        item.vector = [round(float(x), 7) for x in vector]


@dataclass
class Tally:
    """What an import did, per kind: written (with ids, times and history), `renewed` (written,
    but the store stamped new times and history: it cannot restore them), skipped (already
    there), conflicts and failures (each with the item's id and why)."""

    written: Counter[str] = field(default_factory=Counter)
    renewed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)

    @property
    def seen(self) -> int:
        return (
            sum(self.written.values())
            + sum(self.renewed.values())
            + sum(self.skipped.values())
            + len(self.conflicts)
            + len(self.failures)
        )

    def lines(self, *, shown: int = 20) -> list[str]:
        """The summary a user reads at the end (or at Ctrl-C)."""
        kinds = [k for k in PLURALS if self.written[k] or self.renewed[k] or self.skipped[k]]
        out = [
            f"{PLURALS[kind]}: {self.written[kind]} written, {self.skipped[kind]} already there"
            + (f", {self.renewed[kind]} written with new timestamps" if self.renewed[kind] else "")
            for kind in kinds
        ]
        out += sorted(self.notes)
        for label, rows in (("conflict", self.conflicts), ("failure", self.failures)):
            if rows:
                out.append(f"{len(rows)} {label}{'s' if len(rows) > 1 else ''}:")
                out += [f"  {kind} {item_id}: {why}" for kind, item_id, why in rows[:shown]]
                if len(rows) > shown:
                    out.append(f"  ... and {len(rows) - shown} more")
        return out or ["nothing to import"]


class Importer:
    """Writes dump items into `memio`'s stores, facts, documents and triples `BATCH_SIZE` per
    `restore` call and messages a batch per `add`; call `flush()` at the end. A batch refused as
    a whole (a conflict, a bad item) is written again one item at a time, so the summary names
    each item that was refused and everything else is written; a backend failure stops it."""

    def __init__(self, memio: Memio, tally: Tally | None = None) -> None:
        self.memio = memio
        self.tally = tally or Tally()
        self._session: tuple[str, str | None] | None = None
        self._session_refused = False
        self._known_messages: set[str] = set()
        self._pending: list[Message] = []
        self._new_session = False
        self._batch: list[DumpItem] = []

    async def write(self, item: DumpItem) -> None:
        if self._batch and self._batch[0].kind != item.kind:
            await self._restore_batch()
        if item.kind in _RESTORED:
            self._batch.append(item)
            if len(self._batch) >= BATCH_SIZE:
                await self._restore_batch()
            return
        if item.kind != "message":
            await self._add_messages()
        try:
            if item.kind == "session":
                await self._open_session(item)
            else:
                await self._message(item)
        except ITEM_ERRORS as exc:
            self._refused(item, exc)

    async def flush(self) -> None:
        await self._restore_batch()
        await self._add_messages()

    def _refused(self, item: DumpItem, exc: MemioError) -> None:
        rows = self.tally.conflicts if isinstance(exc, ConflictError) else self.tally.failures
        rows.append((item.kind, str(item.id), exc.message))

    async def _add_messages(self) -> None:
        if not self._pending or self._session is None:
            return
        session_id, owner = self._session
        batch, self._pending = self._pending, []
        try:
            await self.memio.history.add(session_id=session_id, messages=batch, user_id=owner)
        except ITEM_ERRORS as exc:
            for message in batch:
                self.tally.failures.append(("message", str(message.id), exc.message))
            return
        self.tally.written["message"] += len(batch)
        if self._new_session:
            self.tally.written["session"] += 1
            self._new_session = False

    async def _restore_batch(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        try:
            plan = await self._restore(batch)
        except NotSupportedError as exc:
            if batch[0].kind != "fact":
                for item in batch:
                    self._refused(item, exc)
                return
            for item in batch:  # a store that cannot restore facts: each added anew
                assert isinstance(item.model, Fact)
                try:
                    await self._add_fact(item.model, exc)
                except ITEM_ERRORS as error:
                    self._refused(item, error)
            return
        except ITEM_ERRORS as exc:
            if len(batch) == 1:
                self._refused(batch[0], exc)
                return
            for item in batch:  # which one: each alone
                self._batch = [item]
                await self._restore_batch()
            return
        for item, written in zip(batch, plan, strict=True):
            if written:
                self.tally.written[item.kind] += 1
                continue
            try:
                await self._already_there(item.kind, item.model, await self._stored(item.model))
            except ITEM_ERRORS as exc:
                self._refused(item, exc)

    async def _restore(self, batch: list[DumpItem]) -> list[bool]:
        models: list[Any] = [item.model for item in batch]
        kind = batch[0].kind
        if kind == "fact":
            histories = {item.id: item.history for item in batch if item.id is not None}
            return await self.memio.facts.restore(facts=models, histories=histories)
        if kind == "document":
            return await self.memio.documents.restore(documents=models)
        return await self.memio.graph.restore(triples=models)

    async def _add_fact(self, fact: Fact, refusal: NotSupportedError) -> None:
        """A store that cannot restore: the fact as a new one with its id (or, where the store
        picks ids, a new id: the store's dedup then finds it again on a second run), said so."""
        facts = self.memio.facts
        self.tally.notes.add(f"facts: {facts.provider}: {refusal.message}")
        fields = {
            "content": fact.content,
            "user_id": fact.user_id,
            "agent_id": fact.agent_id,
            "app_id": fact.app_id,
            "run_id": fact.run_id,
            "metadata": fact.metadata,
            "expires_at": fact.expires_at,
        }
        try:
            await facts.add(**fields, fact_id=fact.id)
        except NotSupportedError as exc:  # the store assigns ids itself
            self.tally.notes.add(f"facts: {facts.provider}: {exc.message}: new ids given")
            added = await facts.add(**fields)
            if added.event == "ADD":
                self.tally.renewed["fact"] += 1
            else:
                self.tally.skipped["fact"] += 1
            return
        except ConflictError:
            try:
                stored = await self.memio.facts.get(fact_id=fact.id, include_expired=True)
            except NotFoundError:
                raise ConflictError(
                    "another fact of the same scope holds this content", field="content"
                ) from None
            await self._already_there("fact", fact, stored)
            return
        self.tally.renewed["fact"] += 1

    async def _stored(self, model: Any) -> Any:
        if isinstance(model, Fact):
            return await self.memio.facts.get(fact_id=model.id, include_expired=True)
        if isinstance(model, Document):
            return await self.memio.documents.get(doc_id=model.id)
        return model  # a triple's id is its content and scope: the same id is the same triple

    async def _already_there(self, kind: str, wanted: Any, stored: Any) -> None:
        differing = [
            name for name in _SAME_FIELDS[kind] if getattr(wanted, name) != getattr(stored, name)
        ]
        if differing:
            raise ConflictError(f"the target holds this id with another {', '.join(differing)}")
        self.tally.skipped[kind] += 1

    async def _open_session(self, item: DumpItem) -> None:
        assert item.session_id is not None
        self._session = (item.session_id, item.owner)
        self._session_refused = False
        self._new_session = False
        self._known_messages = set()
        history = self.memio.history
        try:
            owner = await history.owner(session_id=item.session_id)
        except NotFoundError:
            self._new_session = True  # written with its first messages
            return
        if owner != item.owner:
            self._session_refused = True
            raise ConflictError(
                f"the target's session belongs to {owner!r}, the dump's to {item.owner!r}",
                field="user_id",
            )
        self.tally.skipped["session"] += 1
        session_id = item.session_id
        async for page in _pages(
            lambda cursor: history.get(session_id=session_id, limit=PAGE_SIZE, cursor=cursor)
        ):
            self._known_messages.update(m.id for m in page if m.id is not None)

    async def _message(self, item: DumpItem) -> None:
        message = item.model
        assert isinstance(message, Message)
        if self._session is None or item.session_id != self._session[0]:
            raise ConflictError("comes before the line of its session", field="session_id")
        if self._session_refused:  # reported once, as the session's conflict
            self.tally.skipped["message"] += 1
            return
        if message.id in self._known_messages:
            self.tally.skipped["message"] += 1
            return
        self._pending.append(message)
        if len(self._pending) >= BATCH_SIZE:
            await self._add_messages()
