"""Facts in PostgreSQL with pgvector: exact-scope dedup by constraint, search by meaning, history.

- `<schema>.facts`: one row per fact: the embedding (``vector(<embedder dimensions>)``, HNSW cosine
  index), a `content_key` (`shared.content_key`), the four scope ids, metadata as JSONB, and a
  ``simple`` tsvector of the content (GIN index) for keyword search in the database.
- "One fact per content per scope" is a unique index on (content_key, the four scope ids), so it
  holds across any number of gateway processes. Adds also take transaction-scoped advisory locks
  on their dedup keys (sorted), so concurrent repeats of one fact wait for each other and merge
  (UPDATE / NONE) instead of failing; an insert that still loses a race (an explicit id created
  meanwhile) rolls its transaction back and the whole add is decided again.
- `<schema>.fact_events`: every ADD / UPDATE / DELETE with the fact's scope, written in the same
  transaction as the change. Changes of one fact hold its row lock (``FOR UPDATE``, or the
  DELETE's own), so its events are appended in one linear order (`seq`), with timestamps that
  never go backwards (`shared.plan_fact_batch`'s rule, also for update and delete).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg.errors

from memio.checked import FactQuery, FactScope, FactSearch, fact_scope_of
from memio.errors import ConflictError, NotFoundError, ProviderError
from memio.models import (
    Fact,
    FactEntity,
    FactEvent,
    FactEventType,
    FactInput,
    MetadataValue,
    Page,
    utcnow,
)
from memio.pagination import decode_cursor, encode_cursor, int_position
from memio.providers.postgres._base import PROVIDER, as_utc
from memio.providers.postgres._filters import Columns, where_sql
from memio.providers.postgres._vector import (
    EMBEDDERS_TABLE,
    PostgresVectorStore,
    metadata_jsonb,
    returned_rows,
)
from memio.providers.shared import (
    FACT_SCOPE,
    FACT_TIMESTAMPS,
    FactKey,
    FactStep,
    content_key,
    content_taken,
    entity_order,
    fact_key,
    merged_metadata,
    new_id,
    plan_fact_batch,
    plan_restore,
    updated_fact,
)

__all__ = ["PostgresFactStore"]

Scope = Mapping[str, str | None]
_TICK = timedelta(microseconds=1)
# An add decided again after losing an insert race or a deadlock; more means something is wrong.
_ATTEMPTS = 5
# The dedup key's columns: NULL scope ids as '' (never a valid id), so NULLs compare equal.
_SAME = (
    "content_key, COALESCE(user_id, ''), COALESCE(agent_id, ''), COALESCE(app_id, ''),"
    " COALESCE(run_id, '')"
)

FACT_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        EMBEDDERS_TABLE
        + f"""
        CREATE TABLE {{s}}.facts (
            id text PRIMARY KEY,
            seq bigserial NOT NULL UNIQUE,
            content text NOT NULL,
            content_key text NOT NULL,
            user_id text,
            agent_id text,
            app_id text,
            run_id text,
            metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            embedding {{vector}} NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            search tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, content)) STORED
        );
        CREATE UNIQUE INDEX facts_same ON {{s}}.facts ({_SAME});
        CREATE INDEX facts_user_seq ON {{s}}.facts (user_id, seq);
        CREATE INDEX facts_agent_seq ON {{s}}.facts (agent_id, seq);
        CREATE INDEX facts_app_seq ON {{s}}.facts (app_id, seq);
        CREATE INDEX facts_run_seq ON {{s}}.facts (run_id, seq);
        CREATE INDEX facts_embedding ON {{s}}.facts USING hnsw (embedding {{cosine_ops}});
        CREATE INDEX facts_search ON {{s}}.facts USING gin (search);
        CREATE TABLE {{s}}.fact_events (
            seq bigserial PRIMARY KEY,
            id text NOT NULL UNIQUE,
            fact_id text NOT NULL,
            event text NOT NULL,
            user_id text,
            agent_id text,
            app_id text,
            run_id text,
            old_content text,
            new_content text,
            old_metadata jsonb,
            new_metadata jsonb,
            created_at timestamptz NOT NULL
        );
        CREATE INDEX fact_events_fact ON {{s}}.fact_events (fact_id, seq);
        """,
    ),
    (
        2,
        """
        ALTER TABLE {s}.facts ADD COLUMN expires_at timestamptz;
        CREATE INDEX facts_expires ON {s}.facts (expires_at) WHERE expires_at IS NOT NULL;
        ALTER TABLE {s}.fact_events ADD COLUMN reason text;
        """,
    ),
)

_COLUMNS = (
    "id, seq, content, user_id, agent_id, app_id, run_id, metadata, created_at, updated_at,"
    " expires_at"
)
_FILTER_COLUMNS = Columns(
    text={name: f"t.{name}" for name in ("id", "content", *FACT_SCOPE)},
    timestamps={name: f"t.{name}" for name in FACT_TIMESTAMPS},
    metadata="t.metadata",
)


class _LostRace(Exception):
    """An insert met a row committed after the add read the table: decide the add again."""


def _fact(row: Mapping[str, Any], score: float | None = None) -> Fact:
    return Fact(
        id=row["id"],
        content=row["content"],
        metadata=row["metadata"] or {},
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
        expires_at=None if row["expires_at"] is None else as_utc(row["expires_at"]),
        score=score,
        **{name: row[name] for name in FACT_SCOPE},
    )


def _scope_sql(scope: Scope) -> tuple[str, list[str]]:
    """Equality on the scope ids that are given (a read's scope: None means any)."""
    given = [(name, value) for name, value in scope.items() if value is not None]
    if not given:
        return "true", []
    return " AND ".join(f"t.{name} = %s" for name, _ in given), [value for _, value in given]


def _after(moment: datetime | None, now: datetime) -> datetime:
    """`now`, or just after `moment` when a clock (another replica's) was ahead."""
    return now if moment is None else max(now, moment + _TICK)


class PostgresFactStore(PostgresVectorStore):
    """FactStore over PostgreSQL + pgvector (see the module docstring)."""

    kind = "facts"
    table = "facts"
    migrations = FACT_MIGRATIONS

    def _key_locks(self, keys: Sequence[FactKey]) -> list[int]:
        """Advisory lock keys (bigint) of dedup keys in this schema, sorted (no deadlocks)."""
        out = set()
        for key, scope in keys:
            text = "\x1f".join((self.schema, "facts", key, *(value or "" for value in scope)))
            digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
            out.add(int.from_bytes(digest, "big", signed=True))
        return sorted(out)

    async def _lock_keys(self, conn: Any, keys: Sequence[FactKey]) -> None:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) WITH ORDINALITY AS l(k, n)"
            " ORDER BY n",
            (self._key_locks(keys),),
        )

    async def count(self, *, query: FactQuery) -> int:
        scope_sql, scope_params = _scope_sql(query.scope)
        filter_sql, filter_params = where_sql(query.tree(), _FILTER_COLUMNS)
        async with self.connection("count") as conn:
            cur = await conn.execute(
                f"SELECT count(*) AS n FROM {self.t} AS t WHERE {scope_sql} AND {filter_sql}",
                (*scope_params, *filter_params),
            )
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def entities(self, *, query: FactQuery) -> list[FactEntity]:
        scope_sql, scope_params = _scope_sql(query.scope)
        filter_sql, filter_params = where_sql(query.tree(), _FILTER_COLUMNS)
        ids = ", ".join(f"('{name}', t.{name})" for name in FACT_SCOPE)
        async with self.connection("entities") as conn:
            cur = await conn.execute(
                "SELECT e.field, e.value, count(*) AS facts, min(t.created_at) AS created_at,"
                f" max(t.updated_at) AS updated_at FROM {self.t} AS t"
                f" CROSS JOIN LATERAL (VALUES {ids}) AS e (field, value)"
                f" WHERE e.value IS NOT NULL AND {scope_sql} AND {filter_sql}"
                " GROUP BY e.field, e.value",
                (*scope_params, *filter_params),
            )
            rows = await cur.fetchall()
        found = [
            FactEntity(
                field=row["field"],
                value=row["value"],
                facts=row["facts"],
                created_at=as_utc(row["created_at"]),
                updated_at=as_utc(row["updated_at"]),
            )
            for row in rows
        ]
        return sorted(found, key=entity_order)

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, *, fact_id: str, include_expired: bool) -> Fact:
        async with self.connection("get") as conn:
            cur = await conn.execute(f"SELECT {_COLUMNS} FROM {self.t} WHERE id = %s", (fact_id,))
            row = await cur.fetchone()
        fact = None if row is None else _fact(row)
        if fact is None or (not include_expired and fact.expired(utcnow())):
            raise NotFoundError("fact", fact_id)
        return fact

    async def get_all(self, *, query: FactQuery, limit: int, cursor: str | None) -> Page[Fact]:
        listing = query.listing()
        after = int_position(decode_cursor(cursor, scope=listing))
        scope_sql, scope_params = _scope_sql(query.scope)
        filter_sql, filter_params = where_sql(query.tree(), _FILTER_COLUMNS)
        async with self.connection("get_all") as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self.t} AS t"
                f" WHERE {scope_sql} AND {filter_sql} AND t.seq > %s ORDER BY t.seq LIMIT %s",
                (*scope_params, *filter_params, after, limit + 1),
            )
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor({"after": rows[-1]["seq"]}, scope=listing) if more else None
        return Page([_fact(row) for row in rows], next_cursor)

    async def search(self, *, request: FactSearch) -> list[Fact]:
        scope_sql, scope_params = _scope_sql(request.query.scope)
        filter_sql, filter_params = where_sql(request.query.tree(), _FILTER_COLUMNS)
        return await self.ranked_search(
            request.mode,
            query=request.text,
            limit=request.limit,
            columns=_COLUMNS,
            where=f"{scope_sql} AND {filter_sql}",
            params=(*scope_params, *filter_params),
            decode=_fact,
            threshold=request.threshold,
        )

    async def history(self, *, fact_id: str) -> list[FactEvent]:
        async with self.connection("history") as conn:
            cur = await conn.execute(
                f"SELECT * FROM {self.s}.fact_events WHERE fact_id = %s ORDER BY seq",
                (fact_id,),
            )
            rows = await cur.fetchall()
        if not rows:
            raise NotFoundError("fact", fact_id)
        return [
            FactEvent(
                id=row["id"],
                fact_id=row["fact_id"],
                event=FactEventType(row["event"]),
                old_content=row["old_content"],
                new_content=row["new_content"],
                old_metadata=row["old_metadata"],
                new_metadata=row["new_metadata"],
                created_at=as_utc(row["created_at"]),
                reason=row["reason"],
                **{name: row[name] for name in FACT_SCOPE},
            )
            for row in rows
        ]

    # --- writes --------------------------------------------------------------------------------

    async def add(self, *, fact: FactInput) -> Fact:
        vectors = await self.embed([fact.content])
        [added] = await self._add_planned(
            "add", [fact], [fact_scope_of(fact)], vectors, single=True
        )
        return added

    async def add_many(self, *, facts: list[FactInput]) -> list[Fact]:
        scopes = [fact_scope_of(item) for item in facts]
        vectors = await self.embed([item.content for item in facts])
        return await self._add_planned("add_many", facts, scopes, vectors, single=False)

    async def _add_planned(
        self,
        operation: str,
        items: Sequence[FactInput],
        scopes: Sequence[Scope],
        vectors: np.ndarray,
        *,
        single: bool,
    ) -> list[Fact]:
        """Decide and write an add in one transaction (embeddings computed before it)."""
        for _ in range(_ATTEMPTS):
            try:
                async with self.connection(operation) as conn, conn.transaction():
                    return await self._add_in(conn, items, scopes, vectors, single=single)
            except _LostRace:
                continue
            except ProviderError as exc:
                # PostgreSQL aborted this add to break a deadlock with another writer (a
                # delete_all locking rows in another order): nothing was written, decide again.
                if not isinstance(exc.cause, psycopg.errors.DeadlockDetected):
                    raise
        raise ProviderError(
            f"the add lost {_ATTEMPTS} insert races or deadlocks in a row",
            provider=PROVIDER,
            operation=operation,
        )

    async def _add_in(
        self,
        conn: Any,
        items: Sequence[FactInput],
        scopes: Sequence[Scope],
        vectors: np.ndarray,
        *,
        single: bool,
    ) -> list[Fact]:
        keys = [fact_key(item.content, scope) for item, scope in zip(items, scopes, strict=True)]
        await self._lock_keys(conn, keys)
        explicit = [item.fact_id for item in items if item.fact_id is not None]
        taken: set[str] = set()
        if explicit:
            cur = await conn.execute(f"SELECT id FROM {self.t} WHERE id = ANY(%s)", (explicit,))
            taken = {row["id"] for row in await cur.fetchall()}
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.fact_id is None:
                continue
            if item.fact_id in taken or item.fact_id in seen:
                field = "fact_id" if single else f"facts[{i}].fact_id"
                raise ConflictError(f"fact {item.fact_id!r} already exists", field=field)
            seen.add(item.fact_id)
        # The stored facts the items repeat, locked: an update of one of them waits for this
        # add, and this add for it.
        stored = await self._repeated(conn, keys, lock=True)
        steps = plan_fact_batch(items, scopes, stored, utcnow(), single=single)
        await self._write_steps(conn, steps, vectors)
        return [step.fact for step in steps]

    async def _repeated(
        self, conn: Any, keys: Sequence[FactKey], *, lock: bool
    ) -> dict[FactKey, Fact]:
        """The stored facts of these dedup keys (by the unique index), oldest first per key."""
        unique = list(dict.fromkeys(keys))
        columns = [[key for key, _ in unique]] + [
            [scope[n] or "" for _, scope in unique] for n in range(len(FACT_SCOPE))
        ]
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM {self.t} WHERE ({_SAME}) IN (SELECT * FROM"
            " unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]))"
            " ORDER BY seq" + (" FOR UPDATE" if lock else ""),
            columns,
        )
        stored: dict[FactKey, Fact] = {}
        for row in await cur.fetchall():
            fact = _fact(row)
            stored.setdefault(fact_key(fact.content, fact_scope_of(fact)), fact)
        return stored

    async def _write_steps(self, conn: Any, steps: Sequence[FactStep], vectors: np.ndarray) -> None:
        """New facts in their final state (creation order), merged facts, then every event."""
        final: dict[str, Fact] = {}
        first: dict[str, FactStep] = {}
        events: list[tuple[Any, ...]] = []
        for step in steps:
            fact = step.fact
            if fact.event == "NONE":
                continue
            final[fact.id] = fact
            first.setdefault(fact.id, step)
            if fact.event == "ADD":
                events.append(self._event(fact, FactEventType.ADD, fact.updated_at, new=fact))
            else:
                assert step.before is not None
                events.append(
                    self._event(
                        fact, FactEventType.UPDATE, fact.updated_at, old=step.before, new=fact
                    )
                )
        added = [fact_id for fact_id, step in first.items() if step.fact.event == "ADD"]
        merged = [fact_id for fact_id, step in first.items() if step.fact.event == "UPDATE"]
        if added:
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"INSERT INTO {self.t} (id, content, content_key, user_id, agent_id, app_id,"
                    " run_id, metadata, embedding, created_at, updated_at, expires_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING RETURNING id",
                    [
                        (
                            fact.id,
                            fact.content,
                            content_key(fact.content),
                            *(getattr(fact, name) for name in FACT_SCOPE),
                            metadata_jsonb(fact.metadata),
                            vectors[first[fact_id].index],
                            fact.created_at,
                            fact.updated_at,
                            fact.expires_at,
                        )
                        for fact_id in added
                        for fact in [final[fact_id]]
                    ],
                    returning=True,
                )
                inserted = await returned_rows(cur)
            if len(inserted) != len(added):
                raise _LostRace
        if merged:
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"UPDATE {self.t} SET metadata = %s, updated_at = %s, expires_at = %s"
                    " WHERE id = %s",
                    [
                        (
                            metadata_jsonb(final[fact_id].metadata),
                            final[fact_id].updated_at,
                            final[fact_id].expires_at,
                            fact_id,
                        )
                        for fact_id in merged
                    ],
                )
        await self._record(conn, events)

    def _event(
        self,
        fact: Fact,
        kind: FactEventType,
        at: datetime | None,
        *,
        old: Fact | None = None,
        new: Fact | None = None,
        reason: str | None = None,
    ) -> tuple[Any, ...]:
        return (
            new_id(),
            fact.id,
            kind.value,
            *(getattr(fact, name) for name in FACT_SCOPE),
            None if old is None else old.content,
            None if new is None else new.content,
            None if old is None else metadata_jsonb(old.metadata),
            None if new is None else metadata_jsonb(new.metadata),
            at,
            reason,
        )

    async def _record(
        self, conn: Any, events: Sequence[tuple[Any, ...]], *, skip_known: bool = False
    ) -> None:
        if not events:
            return
        async with conn.cursor() as cur:
            await cur.executemany(
                f"INSERT INTO {self.s}.fact_events (id, fact_id, event, user_id, agent_id, app_id,"
                " run_id, old_content, new_content, old_metadata, new_metadata, created_at,"
                " reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                + (" ON CONFLICT (id) DO NOTHING" if skip_known else ""),
                events,
            )

    async def restore(self, *, facts: list[tuple[Fact, list[FactEvent]]]) -> list[bool]:
        keys = [fact_key(fact.content, fact_scope_of(fact)) for fact, _ in facts]
        ids = [fact.id for fact, _ in facts]
        vectors = await self.embed([fact.content for fact, _ in facts])
        async with self.connection("restore") as conn, conn.transaction():
            await self._lock_keys(conn, keys)
            cur = await conn.execute(f"SELECT id FROM {self.t} WHERE id = ANY(%s)", (ids,))
            stored = {row["id"] for row in await cur.fetchall()}
            holders = {
                k: fact.id for k, fact in (await self._repeated(conn, keys, lock=False)).items()
            }
            plan = plan_restore([fact for fact, _ in facts], stored, holders)
            chosen = [i for i, write in enumerate(plan) if write]
            if not chosen:
                return plan
            async with conn.cursor() as cur:
                await cur.executemany(
                    f"INSERT INTO {self.t} (id, content, content_key, user_id, agent_id, app_id,"
                    " run_id, metadata, embedding, created_at, updated_at, expires_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            fact.id,
                            fact.content,
                            keys[i][0],
                            *keys[i][1],
                            metadata_jsonb(fact.metadata),
                            vectors[i],
                            fact.created_at,
                            fact.updated_at,
                            fact.expires_at,
                        )
                        for i in chosen
                        for fact in [facts[i][0]]
                    ],
                )
            # an event id already here is this fact's earlier life, imported before
            await self._record(
                conn,
                [
                    (
                        event.id,
                        event.fact_id,
                        event.event.value,
                        *(getattr(event, name) for name in FACT_SCOPE),
                        event.old_content,
                        event.new_content,
                        None if event.old_metadata is None else metadata_jsonb(event.old_metadata),
                        None if event.new_metadata is None else metadata_jsonb(event.new_metadata),
                        event.created_at,
                        event.reason,
                    )
                    for i in chosen
                    for event in facts[i][1]
                ],
                skip_known=True,
            )
        return plan

    async def update(
        self,
        *,
        fact_id: str,
        content: str | None,
        metadata: Mapping[str, MetadataValue],
        expires_at: Any,
    ) -> Fact:
        vector = (await self.embed([content]))[0] if content is not None else None
        async with self.connection("update") as conn, conn.transaction():
            if content is not None:
                # The scope never changes: lock the new content's dedup key before the row,
                # in the order adds take them.
                cur = await conn.execute(
                    f"SELECT {_COLUMNS} FROM {self.t} WHERE id = %s", (fact_id,)
                )
                row = await cur.fetchone()
                if row is None:
                    raise NotFoundError("fact", fact_id)
                await self._lock_keys(conn, [fact_key(content, fact_scope_of(_fact(row)))])
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM {self.t} WHERE id = %s FOR UPDATE", (fact_id,)
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFoundError("fact", fact_id)
            old = _fact(row)
            new = updated_fact(
                old,
                content=content,
                metadata=merged_metadata(old.metadata, metadata) or old.metadata,
                expires_at=expires_at,
                now=_after(old.updated_at, utcnow()),
            )
            if content is not None:
                await self._check_content_free(conn, new)
            await conn.execute(
                f"UPDATE {self.t} SET content = %s, content_key = %s, metadata = %s,"
                " updated_at = %s, expires_at = %s, embedding = COALESCE(%s, embedding)"
                " WHERE id = %s",
                (
                    new.content,
                    content_key(new.content),
                    metadata_jsonb(new.metadata),
                    new.updated_at,
                    new.expires_at,
                    vector,
                    fact_id,
                ),
            )
            await self._record(
                conn, [self._event(new, FactEventType.UPDATE, new.updated_at, old=old, new=new)]
            )
            return new

    async def _check_content_free(self, conn: Any, fact: Fact) -> None:
        """Another fact of the same scope already holding this content would be a second copy
        (the unique index refuses it): a ConflictError naming the other fact."""
        scope = fact_scope_of(fact)
        cur = await conn.execute(
            f"SELECT id FROM {self.t} WHERE content_key = %s AND id <> %s"
            " AND user_id IS NOT DISTINCT FROM %s AND agent_id IS NOT DISTINCT FROM %s"
            " AND app_id IS NOT DISTINCT FROM %s AND run_id IS NOT DISTINCT FROM %s",
            (content_key(fact.content), fact.id, *(scope[name] for name in FACT_SCOPE)),
        )
        row = await cur.fetchone()
        if row is not None:
            raise content_taken(row["id"])

    async def delete(self, *, fact_id: str) -> None:
        if not await self._remove("delete", "id = %s", [fact_id], order=[fact_id]):
            raise NotFoundError("fact", fact_id)

    async def delete_many(self, *, fact_ids: list[str]) -> int:
        return await self._remove("delete_many", "id = ANY(%s)", [fact_ids], order=fact_ids)

    async def delete_all(self, *, scope: FactScope) -> int:
        scope_sql, params = _scope_sql(scope)
        return await self._remove("delete_all", scope_sql, params)

    async def purge_expired(self, *, before: datetime) -> int:
        # One DELETE: a replica sweeping at the same time waits on the rows and deletes none.
        return await self._remove("purge_expired", "t.expires_at <= %s", [before], reason="expired")

    async def _remove(
        self,
        operation: str,
        where: str,
        params: Sequence[Any],
        *,
        order: Sequence[str] = (),
        reason: str | None = None,
    ) -> int:
        """Delete the matching facts and record their DELETE events, in one transaction; events
        follow `order` (ids as the caller gave them), else creation order."""
        async with self.connection(operation) as conn, conn.transaction():
            cur = await conn.execute(
                f"DELETE FROM {self.t} AS t WHERE {where} RETURNING {_COLUMNS}", tuple(params)
            )
            rows = await cur.fetchall()
            if not rows:
                return 0
            rank = {fact_id: i for i, fact_id in enumerate(order)}
            rows.sort(key=lambda row: (rank.get(row["id"], len(rank)), row["seq"]))
            now = utcnow()
            facts = [_fact(row) for row in rows]
            await self._record(
                conn,
                [
                    self._event(
                        fact,
                        FactEventType.DELETE,
                        _after(fact.updated_at, now),
                        old=fact,
                        reason=reason,
                    )
                    for fact in facts
                ],
            )
            return len(rows)
