"""What both PostgreSQL stores share: config, the lazily opened pool, migrations, error mapping."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, ClassVar

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from memio.errors import InvalidRequestError, ProviderError
from memio.models import as_utc
from memio.protocols import Embedder
from memio.providers.base import Provider
from memio.providers.shared import (
    WORD_PATTERN,  # the one definition of a word (see word_terms)
    OpenOnce,
    parse_config,
    provider_errors,
)

__all__ = [
    "PROVIDER",
    "PostgresConfig",
    "PostgresStore",
    "as_utc",
    "query_words",
]

PROVIDER = "postgres"
# Every psycopg failure (connection refused, server gone, pool timeout or closed, SQL errors) is a
# psycopg.Error subclass: psycopg_pool.PoolTimeout and PoolClosed derive from OperationalError.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (psycopg.Error,)

# Text search configuration of the indexes: 'simple' lower-cases words and keeps every word (no
# stemming, no stop words), like the other providers' word matching, in any language.
TS_CONFIG = "simple"
# Query words looked up in a full-text index (a longer query is cut there).
MAX_QUERY_WORDS = 64

_UNSTORABLE_TEXT = (
    psycopg.errors.UntranslatableCharacter,
    psycopg.errors.CharacterNotInRepertoire,
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# pg_advisory_xact_lock(int, int) key of memio migrations ("memi"); the second key is the schema.
_LOCK_NAMESPACE = 0x6D656D69


class PostgresConfig(BaseModel):
    """`stores.<kind>.config` of the postgres provider."""

    model_config = ConfigDict(extra="forbid")

    dsn: str = Field(min_length=1)
    schema_name: str = Field("memio", alias="schema")
    pool_min_size: int = Field(1, ge=0, le=100)
    pool_max_size: int = Field(10, ge=1, le=1000)
    pool_timeout: float = Field(10.0, gt=0, le=600)
    connect_timeout: int = Field(5, ge=1, le=600)

    @field_validator("dsn")
    @classmethod
    def _valid_dsn(cls, value: str) -> str:
        try:
            conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            # psycopg's message may quote the string, password included: do not repeat it.
            raise ValueError("not a valid PostgreSQL connection string or URI") from None
        return value

    @field_validator("schema_name")
    @classmethod
    def _valid_schema(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(
                "must be a plain identifier: a letter or _, then letters, digits or _ "
                "(at most 63 characters)"
            )
        if value.lower().startswith("pg_"):
            raise ValueError("schema names starting with pg_ are reserved by PostgreSQL")
        return value

    @field_validator("pool_max_size")
    @classmethod
    def _max_at_least_min(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("pool_min_size")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least pool_min_size ({minimum})")
        return value


def query_words(query: str) -> list[str]:
    """The query's distinct words as `shared.word_terms` splits them, but with their case kept
    (PostgreSQL lower-cases them itself, and its lower() differs from casefold() for a few
    letters such as ß), at most MAX_QUERY_WORDS."""
    words: dict[str, str] = {}
    for word in WORD_PATTERN.findall(query):
        words.setdefault(word.casefold(), word)
    return list(words.values())[:MAX_QUERY_WORDS]


def any_word_tsquery(count: int) -> str:
    """SQL for a tsquery matching any of `count` words given as parameters: each word goes
    through plainto_tsquery, which accepts any input, so user text is never tsquery syntax."""
    return " || ".join([f"plainto_tsquery('{TS_CONFIG}'::regconfig, %s)"] * count)


def quote_ident(name: str) -> str:
    """Quote an identifier already checked against `_IDENTIFIER`."""
    return '"' + name.replace('"', '""') + '"'


def _schema_lock_key(schema: str) -> int:
    digest = hashlib.blake2s(schema.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresStore(Provider):
    """Pool, migrations and error mapping; subclasses add the store's SQL."""

    provider = PROVIDER
    kind: ClassVar[str]
    config_model: ClassVar[type[PostgresConfig]] = PostgresConfig
    # Ordered (version, SQL) pairs; "{s}" is replaced by the quoted schema.
    migrations: ClassVar[Sequence[tuple[int, str]]]

    def __init__(
        self,
        *,
        dsn: str,
        schema: str = "memio",
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        pool_timeout: float = 10.0,
        connect_timeout: int = 5,
        embedder: Embedder | None = None,
    ) -> None:
        if not _IDENTIFIER.match(schema):
            raise InvalidRequestError("must be a plain identifier", field="schema")
        self.dsn = dsn
        self.schema = schema
        self.pool_min_size = pool_min_size
        self.pool_max_size = max(pool_max_size, pool_min_size, 1)
        self.pool_timeout = pool_timeout
        self.connect_timeout = connect_timeout
        self.embedder = embedder
        self.s = quote_ident(schema)
        self._pool: AsyncConnectionPool | None = None
        self._ready = OpenOnce(self._open)

    @classmethod
    def config_kwargs(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor keyword arguments from a validated `stores.<kind>.config`."""
        kwargs = parse_config(cls.config_model, config).model_dump()
        kwargs["schema"] = kwargs.pop("schema_name")
        return kwargs

    # -- lifecycle -------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": self.connect_timeout,
            "application_name": f"memio-{self.kind}",
        }

    async def _open(self) -> None:
        # Migrate over a direct connection first: an unreachable server fails at once with
        # libpq's reason, instead of after pool_timeout with "couldn't get a connection".
        async with await psycopg.AsyncConnection.connect(
            self.dsn, **self._connect_kwargs()
        ) as conn:
            await self._migrate(conn)
        pool = AsyncConnectionPool(
            self.dsn,
            min_size=self.pool_min_size,
            max_size=self.pool_max_size,
            timeout=self.pool_timeout,
            open=False,
            # Test each connection as it leaves the pool: after the server restarts, dead
            # connections are replaced instead of failing the next call.
            check=AsyncConnectionPool.check_connection,
            configure=self._configure_connection,
            kwargs=self._connect_kwargs(),
            name=f"memio-{self.kind}-{self.schema}",
        )
        await pool.open(wait=False)
        self._pool = pool

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Create or upgrade this store's tables, once, even with several processes starting."""
        latest = max(version for version, _ in self.migrations)
        async with conn.transaction():
            # Serialises memio migrations of this schema across processes; released at commit.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                (_LOCK_NAMESPACE, _schema_lock_key(self.schema)),
            )
            cur = await conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            )
            if await cur.fetchone() is None:
                await conn.execute(f"CREATE SCHEMA {self.s}")
            cur = await conn.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
                (self.schema, "memio_schema_version"),
            )
            if await cur.fetchone() is None:
                await conn.execute(
                    f"CREATE TABLE {self.s}.memio_schema_version ("
                    " kind text PRIMARY KEY,"
                    " version integer NOT NULL,"
                    " updated_at timestamptz NOT NULL DEFAULT now())"
                )
            cur = await conn.execute(
                f"SELECT version FROM {self.s}.memio_schema_version WHERE kind = %s",
                (self.kind,),
            )
            row = await cur.fetchone()
            current = row["version"] if row else 0
            await self._before_migrate(conn, current)
            if current > latest:
                raise ProviderError(
                    f"schema {self.schema!r} holds {self.kind} tables at version {current}, "
                    f"newer than this memio understands ({latest}); upgrade memio",
                    provider=PROVIDER,
                    operation="migrate",
                )
            if current < latest:
                for version, statements in self.migrations:
                    if version > current:
                        await conn.execute(self._migration_sql(statements))
                await conn.execute(
                    f"INSERT INTO {self.s}.memio_schema_version (kind, version) VALUES (%s, %s)"
                    " ON CONFLICT (kind) DO UPDATE"
                    " SET version = EXCLUDED.version, updated_at = now()",
                    (self.kind, latest),
                )
            await self._after_migrate(conn)

    async def _before_migrate(self, conn: psycopg.AsyncConnection[Any], current: int) -> None:
        """What the migrations need first (an extension); runs in the locked transaction with
        the version the tables are at (0: none yet)."""

    def _migration_sql(self, statements: str) -> str:
        """A migration's SQL with its placeholders filled: "{s}" is the quoted schema."""
        return statements.replace("{s}", self.s)

    async def _after_migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Per-open checks and optional objects; runs in the migration's locked transaction."""

    async def _configure_connection(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Set up each new pooled connection (type adapters); runs before its first use."""

    async def schema_version(self) -> int:
        """The version of this store's tables recorded in `<schema>.memio_schema_version`."""
        async with self.connection("schema_version") as conn:
            cur = await conn.execute(
                f"SELECT version FROM {self.s}.memio_schema_version WHERE kind = %s", (self.kind,)
            )
            row = await cur.fetchone()
        return row["version"] if row else 0

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        self._ready.reset()
        if pool is not None:
            await pool.close()

    # -- helpers for subclasses ------------------------------------------------------------

    @contextmanager
    def errors(self, operation: str) -> Iterator[None]:
        """psycopg errors become ProviderError (by type: every one derives from psycopg.Error),
        except text PostgreSQL cannot hold, which is the caller's InvalidRequestError.

        Writes never rely on a unique violation to detect a client's conflict (they use
        ON CONFLICT and explicit checks), so one reaching here is a backend failure too."""
        with provider_errors(PROVIDER, operation, backend_errors=BACKEND_ERRORS):
            try:
                yield
            except psycopg.DataError as exc:
                # sqlstate None: psycopg refused to send the value (a NUL in text). 22P05/22021:
                # the server cannot represent it (\u0000 in JSON, or outside its encoding).
                if exc.sqlstate is None or isinstance(exc, _UNSTORABLE_TEXT):
                    raise InvalidRequestError(
                        "PostgreSQL cannot store this text: it contains NUL (\\u0000) "
                        "characters, or characters the database encoding lacks"
                    ) from exc
                raise

    @asynccontextmanager
    async def connection(
        self,
        operation: str,
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection (opening the store first), backend errors mapped for `operation`."""
        with self.errors(operation):
            await self._ready()
            pool = self._pool
            if pool is None:  # closed while this call was starting
                raise ProviderError("the store is closed", provider=PROVIDER, operation=operation)
            try:
                conn = await pool.getconn(timeout=timeout)
            except PoolTimeout:
                await self._after_checkout_timeout(pool, operation)
                raise
            try:
                async with conn:
                    yield conn
            finally:
                await pool.putconn(conn)

    async def _after_checkout_timeout(self, pool: AsyncConnectionPool, operation: str) -> None:
        """No connection came in time: if the server is unreachable, drop the pool.

        psycopg_pool retries failed connections with exponential backoff, so after an outage a
        pool can wait many seconds before trying again. Dropping it makes the next call start a
        fresh pool that connects at once. A busy pool (the server answers) is kept.
        """
        try:
            probe = await psycopg.AsyncConnection.connect(self.dsn, **self._connect_kwargs())
        except psycopg.OperationalError as exc:
            if self._pool is pool:
                self._pool = None
                self._ready.reset()
                await pool.close(timeout=1.0)
            raise ProviderError(
                f"{type(exc).__name__}: {exc}",
                provider=PROVIDER,
                operation=operation,
                cause=exc,
            ) from exc
        await probe.close()

    async def ping(self) -> None:
        async with self.connection("ping", timeout=min(self.pool_timeout, 5.0)) as conn:
            await conn.execute("SELECT 1")
