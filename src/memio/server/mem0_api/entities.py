"""The entities the mem0 dialects were given memories for, kept beside the facts so that the
platform's ``DELETE /v2/entities/{type}/{id}/`` answers 404 for one that never had any, as the
platform does, and 200 for one whose memories are already gone.

The record is the set of scopes (user, agent, app and run id together) that memories were added
with, written before the memories: a record that cannot be written refuses the add (502) with
nothing stored. Deleting an entity clears it from every scope that names it and the caller may
reach, and keeps the other ids of those scopes: the SDKs' ``reset()`` deletes every entity
``users()`` listed, one after another, and an agent whose memories went with its user's is still
there to delete. Facts written through ``/v1`` are not recorded when added; the ids they carry
beside a deleted entity are recorded at that delete, for the same reason.

Where it lives is `server.entity_store`: ``<data_dir>/entities.sqlite3`` by default, a
PostgreSQL DSN for replicas (one table, ``<schema>.mem0_entities``), in memory for a server
given stores it did not build (`create_app(memio=...)`), which writes nothing to disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from memio.config import ServerConfig
from memio.scoping import Scope
from memio.server.mem0_api.shapes import ENTITY_FIELDS
from memio.server.state_db import StateDB, build_state_db

__all__ = ["ENTITY_FILE", "EntityRegistry", "build_entity_registry"]

ENTITY_FILE = "entities.sqlite3"  # under data_dir, unless server.entity_store names another

_COLUMNS = ", ".join(ENTITY_FIELDS)
_TABLE = f"""CREATE TABLE IF NOT EXISTS {{schema}}.mem0_entities (
    {", ".join(f"{field} TEXT NOT NULL DEFAULT ''" for field in ENTITY_FIELDS)},
    PRIMARY KEY ({_COLUMNS}))"""
_INSERT = (
    f"INSERT INTO {{schema}}.mem0_entities ({_COLUMNS}) VALUES "
    f"({', '.join('?' for _ in ENTITY_FIELDS)}) ON CONFLICT DO NOTHING"
)
_EMPTY = " AND ".join(f"{field} = ''" for field in ENTITY_FIELDS)


class EntityRegistry:
    """Scopes given memories, on a `StateDB` (failures: ProviderError "entity_store.<kind>")."""

    def __init__(self, db: StateDB) -> None:
        self.db = db

    async def aclose(self) -> None:
        await self.db.aclose()

    async def record(self, scopes: Iterable[Mapping[str, str | None]]) -> None:
        """Remember the scopes (each a mapping of entity field to id; unnamed fields empty)."""
        rows = {tuple(scope.get(field) or "" for field in ENTITY_FIELDS) for scope in scopes}
        rows.discard(("",) * len(ENTITY_FIELDS))
        if rows:
            await self.db.run("record", [(_INSERT, row) for row in sorted(rows)])

    async def forget(self, field: str, value: str, *, within: Scope) -> bool:
        """Clear `field` = `value` from the recorded scopes `within` reaches; False when none
        named it. The other ids of those scopes stay recorded."""
        if field not in ENTITY_FIELDS:
            raise ValueError(f"not an entity field: {field!r}")
        if self.db.absent():
            return False
        named = {field: value, **within.fields()}
        where = " AND ".join(f"{name} = ?" for name in named)
        params = tuple(named.values())
        kept = ", ".join("''" if name == field else name for name in ENTITY_FIELDS)
        results = await self.db.run(
            "forget",
            [
                (
                    f"INSERT INTO {{schema}}.mem0_entities ({_COLUMNS}) SELECT {kept} "
                    f"FROM {{schema}}.mem0_entities WHERE {where} ON CONFLICT DO NOTHING",
                    params,
                ),
                (f"DELETE FROM {{schema}}.mem0_entities WHERE {where}", params),
                (f"DELETE FROM {{schema}}.mem0_entities WHERE {_EMPTY}", ()),
            ],
        )
        return results[1][1] > 0


def build_entity_registry(config: ServerConfig, *, in_memory: bool) -> EntityRegistry:
    """The registry `server.entity_store` names; `in_memory` when nothing may go to disk."""
    return EntityRegistry(
        build_state_db(
            "entity_store",
            config.server.entity_store,
            schema=config.server.entity_store_schema,
            default_path=None if in_memory else Path(config.data_dir) / ENTITY_FILE,
            tables=[_TABLE],
        )
    )
