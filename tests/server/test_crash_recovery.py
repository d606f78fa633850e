"""SIGKILL a real memio-server under 32 concurrent writers, restart it on the same data: every
write it acknowledged is there.

These are short runs of `python -m bench crash` (bench/crash.py and bench/ledger.py, the same
code): three chained trials per profile, each killing the server one to three seconds into the
load. Each trial checks that the restart is clean (/ready 200, no error in the log), that every
acknowledged fact, fact-history event, document, history message and triple is stored as
acknowledged, that nothing no writer sent is stored, and that no request before the kill failed.
What an unanswered write may leave half done ("torn") is reported, not failed: the contract only
covers acknowledged writes. Nothing here asserts on time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.crash import CrashRun, Postgres, run
from tests.support.fixtures_postgres import new_schema

TRIALS = 3
WRITERS = 32
LOAD_SECONDS = (1.0, 3.0)


def check(summary: dict[str, Any]) -> None:
    assert len(summary["trials"]) == TRIALS
    for trial in summary["trials"]:
        where = f"trial {trial['trial']} (seed {summary['seed']})"
        assert trial["acknowledged"] > 0, f"{where}: no write was acknowledged before the kill"
        assert trial["http_errors"] == 0, f"{where}: {trial['http_error_examples']}"
        assert trial["clean"], f"{where}: restart not clean: {trial['log_errors']}"
        assert trial["lost"] == 0, f"{where}: acknowledged writes lost: {trial['examples']}"
        assert trial["phantom"] == 0, f"{where}: unsent records stored: {trial['examples']}"
        for torn in trial["torn"]:
            print(f"{where}: unacknowledged write half done: {torn}")


def test_embedded_defaults_lose_no_acknowledged_write(tmp_path: Path) -> None:
    check(run(tmp_path, TRIALS, profile="embedded", writers=WRITERS, load_seconds=LOAD_SECONDS))


@pytest.mark.postgres
@pytest.mark.pgvector
def test_postgres_providers_lose_no_acknowledged_write(
    tmp_path: Path, postgres_dsn: str, pgvector_dsn: str
) -> None:
    # History and graph on the machine's PostgreSQL, facts and documents on pgvector's cluster;
    # the schema is dropped (or thrown away with the cluster) when the session ends.
    postgres = Postgres(postgres_dsn, new_schema(), vector_dsn=pgvector_dsn)
    check(
        run(
            tmp_path,
            TRIALS,
            profile="postgres",
            writers=WRITERS,
            load_seconds=LOAD_SECONDS,
            postgres=postgres,
        )
    )


def test_the_check_finds_lost_and_phantom_writes(tmp_path: Path) -> None:
    """The check can fail: acknowledged records removed behind the writers' backs are lost, a
    record nobody sent is a phantom."""
    crash = CrashRun(tmp_path, writers=4, seed=1)
    try:
        crash.load(3.0)
        assert crash.check().lost == []
        ledger = max(crash.ledgers, key=lambda ledger: sum(ledger.acknowledged.values()))
        fact_id = next(iter(ledger.facts))
        doc_id = next(doc for doc, item in ledger.documents.items() if item.acked)
        subject = next(batch for batch in ledger.triples if batch.acked).keys[0][0]
        session = next(s for s, batches in ledger.sessions.items() if any(b.acked for b in batches))
        user = {"user_id": ledger.user_id}
        assert crash.server is not None
        with httpx.Client(base_url=crash.server.base_url) as http:
            for response in (
                http.delete(f"/v1/facts/{fact_id}"),
                http.delete(f"/v1/documents/{doc_id}"),
                http.delete(f"/v1/graph/entities/{subject}", params=user),
                http.delete(f"/v1/history/sessions/{session}", params=user),
                http.post("/v1/documents", json={"doc_id": "ghost", "content": "unsent", **user}),
            ):
                assert response.status_code < 300, response.text
        verdict = crash.check()
        for missing in (fact_id, doc_id, subject, session):
            assert any(missing in problem for problem in verdict.lost), (missing, verdict.lost)
        assert any("ghost" in problem for problem in verdict.phantom), verdict.phantom
    finally:
        crash.stop()
