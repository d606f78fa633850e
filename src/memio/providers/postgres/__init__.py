"""PostgreSQL provider: all four stores, each over its own psycopg 3 async pool.

Install with ``pip install 'memio[postgres]'``. psycopg is imported when this package is, which the
registry only does when a store is configured with ``provider: postgres``; a missing psycopg then
becomes an "install memio[postgres]" hint, and ``import memio`` never needs it.

- `_base`: config, the lazily opened pool (`shared.OpenOnce`), migrations recorded in
  ``<schema>.memio_schema_version`` under ``pg_advisory_xact_lock``, error mapping, recovery.
- `_vector`: what facts and documents share on pgvector (the extension, the embedder check,
  vector adaptation, HNSW search settings, metadata JSON); `_filters`: portable filters as SQL.
- `facts`: facts with dedup by a unique index, history events in the same transaction.
- `documents`: documents with owners, batches in one transaction.
- `history`: sessions and ordered messages; full-text search ('simple' config, ts_rank_cd).
- `graph`: triples with stable ids, recursive expansion, word + meaning search
  (`shared.graph_match_score` over float32 embeddings stored as bytea).

See docs/providers/postgres.md.
"""

from memio.providers.postgres._base import PostgresConfig
from memio.providers.postgres.documents import PostgresDocumentStore
from memio.providers.postgres.facts import PostgresFactStore
from memio.providers.postgres.graph import PostgresGraphConfig, PostgresGraphStore
from memio.providers.postgres.history import PostgresHistoryStore

__all__ = [
    "PostgresConfig",
    "PostgresDocumentStore",
    "PostgresFactStore",
    "PostgresGraphConfig",
    "PostgresGraphStore",
    "PostgresHistoryStore",
]
