"""Keys created at run time (POST /v1/keys), kept as SHA-256 digests.

SQLite under `data_dir` by default (one server), PostgreSQL when `auth.key_store` names a DSN (so
replicas share the keys). Every request with such a key looks it up again, so a revocation is in
force on the next request, on every replica. A key is never stored or shown again after creation;
listings show its name, scope and a short prefix.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from memio.errors import ConflictError, ProviderError
from memio.models import as_utc
from memio.providers.shared import OpenOnce
from memio.scoping import SCOPE_FIELDS, Scope

__all__ = ["KeyStore", "PostgresKeyStore", "SQLiteKeyStore", "StoredKey", "build_key_store"]

RateLimitSpec = list[str] | Literal[False] | None
_COLUMNS = (
    "name",
    "prefix",
    *SCOPE_FIELDS,
    "rate_limit",
    "created_at",
    "expires_at",
    "last_used_at",
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


class KeyStore(ABC):
    """Where runtime keys live. Backend failures are ProviderError (`provider` "key_store.*").

    The backend opens on first use (and again after a failed open), so a key store that is down
    at start-up only fails the requests that need it."""

    kind = ""
    shared = False  # serves several replicas (a database), as opposed to a local file

    def __init__(self) -> None:
        self._opened = OpenOnce(self._open)

    async def open(self) -> None:
        await self._opened()

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def aclose(self) -> None: ...

    @abstractmethod
    async def create(self, key: StoredKey, *, sha256: str) -> None:
        """Store a new key; a name already taken is a ConflictError naming `name`."""

    @abstractmethod
    async def find(self, sha256: str) -> StoredKey | None: ...

    @abstractmethod
    async def list(self) -> list[StoredKey]:
        """Every key, oldest first."""

    @abstractmethod
    async def revoke(self, name: str) -> bool:
        """Delete the key; False when there was none of that name."""

    @abstractmethod
    async def touch(self, name: str, when: datetime) -> None:
        """Record when the key was last used."""

    def _failed(self, operation: str, exc: BaseException) -> ProviderError:
        return ProviderError(
            f"{type(exc).__name__}: {exc}",
            provider=f"key_store.{self.kind}",
            operation=operation,
            cause=exc,
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


def _values(key: StoredKey, sha256: str, stamp: Any = lambda when: when) -> tuple[Any, ...]:
    """The INSERT parameters of a key; `stamp` turns timestamps into what the driver takes."""
    return (
        key.name,
        sha256,
        key.prefix,
        *(getattr(key.scope, name) for name in SCOPE_FIELDS),
        json.dumps(key.rate_limit),
        stamp(key.created_at),
        stamp(key.expires_at) if key.expires_at is not None else None,
    )


class SQLiteKeyStore(KeyStore):
    """One SQLite file for one server process (replicas share a PostgreSQL key store instead);
    each call runs in a worker thread on one shared connection. Keys found are remembered until
    revoked here, so a request with a created key costs no file access; expiry is checked at use.
    """

    _REMEMBERED = 10_000

    kind = "sqlite"
    _SCHEMA = """
        CREATE TABLE IF NOT EXISTS api_keys (
            name TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            user_id TEXT, agent_id TEXT, app_id TEXT,
            rate_limit TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            last_used_at TEXT
        )"""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._found: dict[str, StoredKey] = {}  # sha256 -> key

    async def _open(self) -> None:
        try:
            await asyncio.to_thread(self._connect)
        except (sqlite3.Error, OSError) as exc:
            raise self._failed("open", exc) from exc

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(self._SCHEMA)
        db.commit()
        self._db = db

    async def aclose(self) -> None:
        db, self._db = self._db, None
        self._opened.reset()
        if db is not None:
            await asyncio.to_thread(db.close)

    async def _run(self, operation: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
        await self.open()

        def run() -> Any:
            if self._db is None:
                raise RuntimeError("the key store is not open")
            with self._lock:
                cursor = self._db.execute(sql, params)
                rows = [dict(row) for row in cursor.fetchall()]
                self._db.commit()
                return rows, cursor.rowcount

        try:
            return await asyncio.to_thread(run)
        except sqlite3.IntegrityError:
            raise
        except (sqlite3.Error, RuntimeError) as exc:
            raise self._failed(operation, exc) from exc

    async def create(self, key: StoredKey, *, sha256: str) -> None:
        values = _values(key, sha256, stamp=datetime.isoformat)
        try:
            await self._run(
                "create",
                "INSERT INTO api_keys (name, sha256, prefix, user_id, agent_id, app_id, "
                "rate_limit, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
        except sqlite3.IntegrityError:
            raise ConflictError(f"a key named {key.name!r} already exists", field="name") from None

    def _absent(self) -> bool:
        """No key was ever created: reads need not create the file (a server whose stores live
        elsewhere leaves nothing in data_dir)."""
        return self._db is None and not self.path.exists()

    async def find(self, sha256: str) -> StoredKey | None:
        known = self._found.get(sha256)
        if known is not None or self._absent():
            return known
        rows, _ = await self._run(
            "find", f"SELECT {', '.join(_COLUMNS)} FROM api_keys WHERE sha256 = ?", (sha256,)
        )
        if not rows:
            return None
        if len(self._found) >= self._REMEMBERED:
            self._found.clear()
        found = self._found[sha256] = _row_to_key(rows[0])
        return found

    async def list(self) -> list[StoredKey]:
        if self._absent():
            return []
        rows, _ = await self._run(
            "list", f"SELECT {', '.join(_COLUMNS)} FROM api_keys ORDER BY created_at, name"
        )
        return [_row_to_key(row) for row in rows]

    async def revoke(self, name: str) -> bool:
        if self._absent():
            return False
        self._found = {sha: key for sha, key in self._found.items() if key.name != name}
        _, count = await self._run("revoke", "DELETE FROM api_keys WHERE name = ?", (name,))
        return bool(count)

    async def touch(self, name: str, when: datetime) -> None:
        await self._run(
            "touch", "UPDATE api_keys SET last_used_at = ? WHERE name = ?", (when.isoformat(), name)
        )


class PostgresKeyStore(KeyStore):
    """A table `<schema>.api_keys` shared by every replica (psycopg 3 async pool)."""

    kind = "postgres"
    shared = True

    def __init__(self, dsn: str, *, schema: str = "memio") -> None:
        super().__init__()
        self.dsn = dsn
        self.schema = schema
        self._pool: Any = None

    async def _open(self) -> None:
        try:
            import psycopg  # noqa: F401
            from psycopg_pool import AsyncConnectionPool
        except ImportError:  # pragma: no cover - depends on the install
            raise ProviderError(
                "psycopg is not installed: pip install 'memio[postgres]'",
                provider="key_store.postgres",
                operation="open",
            ) from None
        pool = AsyncConnectionPool(
            self.dsn, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}
        )
        try:
            await pool.open(wait=True, timeout=10)
            async with pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}.api_keys",)
                )
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS "{self.schema}".api_keys (
                        name text PRIMARY KEY,
                        sha256 text NOT NULL UNIQUE,
                        prefix text NOT NULL,
                        user_id text, agent_id text, app_id text,
                        rate_limit jsonb NOT NULL,
                        created_at timestamptz NOT NULL,
                        expires_at timestamptz,
                        last_used_at timestamptz)"""
                )
        except Exception as exc:
            await pool.close()
            raise self._failed("open", exc) from exc
        self._pool = pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        self._opened.reset()
        if pool is not None:
            await pool.close()

    async def _rows(self, operation: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        await self.open()
        try:
            async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(sql.replace("{table}", f'"{self.schema}".api_keys'), params)
                rows = await cur.fetchall() if cur.description else []
                return rows, cur.rowcount
        except psycopg.errors.UniqueViolation:
            raise
        except psycopg.Error as exc:
            raise self._failed(operation, exc) from exc

    async def create(self, key: StoredKey, *, sha256: str) -> None:
        import psycopg

        try:
            await self._rows(
                "create",
                "INSERT INTO {table} (name, sha256, prefix, user_id, agent_id, app_id, "
                "rate_limit, created_at, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
                _values(key, sha256),
            )
        except psycopg.errors.UniqueViolation:
            raise ConflictError(f"a key named {key.name!r} already exists", field="name") from None

    async def find(self, sha256: str) -> StoredKey | None:
        rows, _ = await self._rows(
            "find", f"SELECT {', '.join(_COLUMNS)} FROM {{table}} WHERE sha256 = %s", (sha256,)
        )
        return _row_to_key(rows[0]) if rows else None

    async def list(self) -> list[StoredKey]:
        rows, _ = await self._rows(
            "list", f"SELECT {', '.join(_COLUMNS)} FROM {{table}} ORDER BY created_at, name"
        )
        return [_row_to_key(row) for row in rows]

    async def revoke(self, name: str) -> bool:
        _, count = await self._rows("revoke", "DELETE FROM {table} WHERE name = %s", (name,))
        return bool(count)

    async def touch(self, name: str, when: datetime) -> None:
        await self._rows(
            "touch", "UPDATE {table} SET last_used_at = %s WHERE name = %s", (when, name)
        )


def build_key_store(setting: str | None, schema: str, data_dir: Path) -> KeyStore:
    """The key store `auth.key_store` names (default: SQLite under `data_dir`)."""
    if setting is None:
        return SQLiteKeyStore(Path(data_dir) / "keys.sqlite3")
    if setting.startswith("sqlite:///"):
        return SQLiteKeyStore(Path(setting.removeprefix("sqlite:///")))
    return PostgresKeyStore(setting, schema=schema)
