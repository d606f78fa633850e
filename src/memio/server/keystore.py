"""Keys created at run time (POST /v1/keys), kept as SHA-256 digests.

SQLite under `data_dir` by default (one server), PostgreSQL when `auth.key_store` names a DSN (so
replicas share the keys). Every request with such a key looks it up again, so a revocation is in
force on the next request, on every replica. A key is never stored or shown again after creation;
listings show its name, scope and a short prefix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from memio.errors import ConflictError
from memio.models import as_utc
from memio.scoping import SCOPE_FIELDS, Scope
from memio.server.state_db import StateDB, UniqueViolation, build_state_db

__all__ = ["KeyStore", "StoredKey", "build_key_store"]

RateLimitSpec = list[str] | Literal[False] | None
_SELECTED = ", ".join(
    ("name", "prefix", *SCOPE_FIELDS, "rate_limit", "created_at", "expires_at", "last_used_at")
)


@dataclass(frozen=True)
class StoredKey:
    name: str
    prefix: str  # the first characters of the key, to recognise it
    scope: Scope
    rate_limit: RateLimitSpec
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class KeyStore:
    """Where runtime keys live, on a `StateDB`; backend failures are ProviderError
    (`provider` "key_store.<kind>").

    A key found in a local file is remembered until revoked here, so a request with a created
    key costs no file access; a shared database is asked every time, so a revocation through
    another replica is in force on the next request. Expiry is checked at use."""

    _REMEMBERED = 10_000

    def __init__(self, db: StateDB) -> None:
        self.db = db
        self._found: dict[str, StoredKey] = {}  # sha256 -> key, local files only

    @property
    def shared(self) -> bool:
        """Serves several replicas (a database), as opposed to a local file."""
        return self.db.shared

    async def open(self) -> None:
        await self.db.open()

    async def aclose(self) -> None:
        self._found.clear()
        await self.db.aclose()

    async def create(self, key: StoredKey, *, sha256: str) -> None:
        """Store a new key; a name already taken is a ConflictError naming `name`."""
        try:
            await self.db.one(
                "create",
                "INSERT INTO {schema}.api_keys (name, sha256, prefix, user_id, agent_id, app_id, "
                "rate_limit, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _values(key, sha256),
            )
        except UniqueViolation:
            raise ConflictError(f"a key named {key.name!r} already exists", field="name") from None

    async def find(self, sha256: str) -> StoredKey | None:
        known = self._found.get(sha256)
        if known is not None or self.db.absent():
            return known
        rows, _ = await self.db.one(
            "find", f"SELECT {_SELECTED} FROM {{schema}}.api_keys WHERE sha256 = ?", (sha256,)
        )
        if not rows:
            return None
        found = _row_to_key(rows[0])
        if not self.shared:
            if len(self._found) >= self._REMEMBERED:
                self._found.clear()
            self._found[sha256] = found
        return found

    async def list(self) -> list[StoredKey]:
        """Every key, oldest first."""
        if self.db.absent():
            return []
        rows, _ = await self.db.one(
            "list", f"SELECT {_SELECTED} FROM {{schema}}.api_keys ORDER BY created_at, name"
        )
        return [_row_to_key(row) for row in rows]

    async def revoke(self, name: str) -> bool:
        """Delete the key; False when there was none of that name."""
        if self.db.absent():
            return False
        self._found = {sha: key for sha, key in self._found.items() if key.name != name}
        _, count = await self.db.one(
            "revoke", "DELETE FROM {schema}.api_keys WHERE name = ?", (name,)
        )
        return bool(count)

    async def touch(self, name: str, when: datetime) -> None:
        """Record when the key was last used."""
        await self.db.one(
            "touch",
            "UPDATE {schema}.api_keys SET last_used_at = ? WHERE name = ?",
            (when.isoformat(), name),
        )


def _row_to_key(row: dict[str, Any]) -> StoredKey:
    limit = row["rate_limit"]
    if isinstance(limit, str):
        limit = json.loads(limit)
    return StoredKey(
        name=row["name"],
        prefix=row["prefix"],
        scope=Scope(**{name: row[name] for name in SCOPE_FIELDS}),
        rate_limit=limit,
        created_at=_utc(row["created_at"]),
        expires_at=_utc(row["expires_at"]) if row["expires_at"] else None,
        last_used_at=_utc(row["last_used_at"]) if row["last_used_at"] else None,
    )


def _utc(value: datetime | str) -> datetime:
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _values(key: StoredKey, sha256: str) -> tuple[Any, ...]:
    """The INSERT parameters of a key. Timestamps and the rate limit go as text, which SQLite
    keeps as is and PostgreSQL casts to its column's type."""
    return (
        key.name,
        sha256,
        key.prefix,
        *(getattr(key.scope, name) for name in SCOPE_FIELDS),
        json.dumps(key.rate_limit),
        key.created_at.isoformat(),
        key.expires_at.isoformat() if key.expires_at is not None else None,
    )


def _table(timestamp: str, json_type: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {{schema}}.api_keys (
        name TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        user_id TEXT, agent_id TEXT, app_id TEXT,
        rate_limit {json_type} NOT NULL,
        created_at {timestamp} NOT NULL,
        expires_at {timestamp},
        last_used_at {timestamp})"""


def build_key_store(setting: str | None, schema: str, data_dir: Path) -> KeyStore:
    """The key store `auth.key_store` names (default: SQLite under `data_dir`)."""
    return KeyStore(
        build_state_db(
            "key_store",
            setting,
            schema=schema,
            default_path=data_dir / "keys.sqlite3",
            tables=[_table("TEXT", "TEXT")],
            postgres_tables=[_table("timestamptz", "jsonb")],
        )
    )
