"""The small tables the server keeps beside the stores (keys created at run time, the entities of
the mem0 dialects): a SQLite file under ``data_dir`` for one server, or a PostgreSQL schema that
every replica shares.

Both open on first use (and again after a failed open), so one that is down at start-up only
fails the requests that need it, and report a backend failure as ProviderError naming
``<what>.<kind>`` and the operation. SQL is written with ``?`` parameters and ``{schema}.``
before each table name; PostgreSQL gets ``%s`` and its configured schema, SQLite no prefix.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memio.errors import ProviderError
from memio.providers.shared import OpenOnce

__all__ = [
    "PostgresState",
    "SQLiteState",
    "StateDB",
    "Statement",
    "UniqueViolation",
    "build_state_db",
]

Statement = tuple[str, tuple[Any, ...]]
Result = tuple[list[dict[str, Any]], int]  # rows, rowcount


class UniqueViolation(Exception):
    """A write hit a unique constraint (the caller says which field that makes a conflict)."""


class StateDB(ABC):
    kind = ""
    shared = False  # serves several replicas (a database), as opposed to a local file

    def __init__(self, what: str, tables: Sequence[str]) -> None:
        self.provider = f"{what}.{self.kind}"
        self._tables = tables  # CREATE TABLE IF NOT EXISTS ..., run at open
        self._opened = OpenOnce(self._open)

    async def open(self) -> None:
        await self._opened()

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def aclose(self) -> None: ...

    @abstractmethod
    async def run(self, operation: str, statements: Sequence[Statement]) -> list[Result]:
        """Run the statements in one transaction; each one's rows and rowcount."""

    async def one(self, operation: str, sql: str, params: tuple[Any, ...] = ()) -> Result:
        return (await self.run(operation, [(sql, params)]))[0]

    def absent(self) -> bool:
        """Nothing was ever written: reads may answer empty without creating anything."""
        return False

    def failed(self, operation: str, exc: BaseException) -> ProviderError:
        return ProviderError(
            f"{type(exc).__name__}: {exc}", provider=self.provider, operation=operation, cause=exc
        )


class SQLiteState(StateDB):
    """One file for one server process (`path` None: in memory, for a server that must write
    nothing to disk); calls run in a worker thread on one shared connection."""

    kind = "sqlite"

    def __init__(self, what: str, tables: Sequence[str], path: Path | None) -> None:
        super().__init__(what, tables)
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def _open(self) -> None:
        try:
            await asyncio.to_thread(self._connect)
        except (sqlite3.Error, OSError) as exc:
            raise self.failed("open", exc) from exc

    def _connect(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        where = ":memory:" if self.path is None else self.path
        db = sqlite3.connect(where, check_same_thread=False, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        for table in self._tables:
            db.execute(table.replace("{schema}.", ""))
        db.commit()
        self._db = db

    async def aclose(self) -> None:
        db, self._db = self._db, None
        self._opened.reset()
        if db is not None:
            await asyncio.to_thread(db.close)

    def absent(self) -> bool:
        return self._db is None and (self.path is None or not self.path.exists())

    async def run(self, operation: str, statements: Sequence[Statement]) -> list[Result]:
        await self.open()

        def run() -> list[Result]:
            if self._db is None:
                raise RuntimeError(f"the {self.provider} database is not open")
            with self._lock:
                try:
                    results = []
                    for sql, params in statements:
                        cursor = self._db.execute(sql.replace("{schema}.", ""), params)
                        results.append(([dict(row) for row in cursor.fetchall()], cursor.rowcount))
                    self._db.commit()
                    return results
                except BaseException:
                    self._db.rollback()
                    raise

        try:
            return await asyncio.to_thread(run)
        except sqlite3.IntegrityError as exc:
            raise UniqueViolation(str(exc)) from exc
        except (sqlite3.Error, RuntimeError) as exc:
            raise self.failed(operation, exc) from exc


class PostgresState(StateDB):
    """Tables in `schema` shared by every replica (psycopg 3 async pool)."""

    kind = "postgres"
    shared = True

    def __init__(self, what: str, tables: Sequence[str], dsn: str, *, schema: str) -> None:
        super().__init__(what, tables)
        self.dsn = dsn
        self.schema = schema
        self._pool: Any = None

    def _sql(self, sql: str) -> str:
        return sql.replace("{schema}.", f'"{self.schema}".').replace("?", "%s")

    async def _open(self) -> None:
        try:
            import psycopg  # noqa: F401
            from psycopg_pool import AsyncConnectionPool
        except ImportError:  # pragma: no cover - depends on the install
            raise ProviderError(
                "psycopg is not installed: pip install 'memio[postgres]'",
                provider=self.provider,
                operation="open",
            ) from None
        pool = AsyncConnectionPool(
            self.dsn, min_size=1, max_size=4, open=False, kwargs={"autocommit": True}
        )
        try:
            await pool.open(wait=True, timeout=10)
            async with pool.connection() as conn, conn.transaction():
                # Replicas starting together create the schema one at a time.
                lock = f"{self.schema}.{self.provider}"
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                for table in self._tables:
                    await conn.execute(self._sql(table))
        except Exception as exc:
            await pool.close()
            raise self.failed("open", exc) from exc
        self._pool = pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        self._opened.reset()
        if pool is not None:
            await pool.close()

    async def run(self, operation: str, statements: Sequence[Statement]) -> list[Result]:
        import psycopg
        from psycopg.rows import dict_row

        await self.open()
        try:
            async with self._pool.connection() as conn, conn.transaction():
                results = []
                async with conn.cursor(row_factory=dict_row) as cur:
                    for sql, params in statements:
                        await cur.execute(self._sql(sql), params)
                        rows = await cur.fetchall() if cur.description else []
                        results.append((rows, cur.rowcount))
                return results
        except psycopg.errors.UniqueViolation as exc:
            raise UniqueViolation(str(exc)) from exc
        except psycopg.Error as exc:
            raise self.failed(operation, exc) from exc


def build_state_db(
    what: str,
    setting: str | None,
    *,
    schema: str,
    default_path: Path | None,
    tables: Sequence[str],
    postgres_tables: Sequence[str] | None = None,
) -> StateDB:
    """The database a setting names: a PostgreSQL DSN (`postgres_tables`, else `tables`, in
    `schema`), ``sqlite:///path``, or None for `default_path` (None: SQLite in memory)."""
    if setting is not None and not setting.startswith("sqlite:///"):
        return PostgresState(what, postgres_tables or tables, setting, schema=schema)
    path = Path(setting.removeprefix("sqlite:///")) if setting else default_path
    return SQLiteState(what, tables, path)
