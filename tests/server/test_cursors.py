"""Paging cursors are signed: a cursor memio did not issue is a 400 naming `cursor`, never a 500
or a backend error; replicas sharing the secret (configured, or the data directory's file)
accept each other's cursors."""

from __future__ import annotations

import base64
import contextlib
import json
import stat
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from memio.server.cursor_secret import SECRET_FILE
from tests.server.conftest import Serve
from tests.support.server_process import run_server

EMBEDDED = {
    "facts": {"provider": "chroma"},
    "history": {"provider": "sqlite"},
    "documents": {"provider": "chroma"},
    "graph": {"provider": "networkx"},
}
MEMORY = {kind: {"provider": "memory"} for kind in EMBEDDED}
# listing -> what to add first (path, body), so the listing has a second page
LISTINGS = {
    "/v1/facts?user_id=u&limit=1": [("/v1/facts", {"content": f"fact {i}", "user_id": "u"})
                                     for i in range(2)],
    "/v1/documents?limit=1": [("/v1/documents", {"content": f"doc {i}"}) for i in range(2)],
    "/v1/history/sessions/s/messages?limit=1": [
        ("/v1/history/sessions/s/messages",
         {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})
    ],
    "/v1/history/sessions?limit=1": [
        (f"/v1/history/sessions/t{i}/messages", {"messages": [{"role": "user", "content": "c"}]})
        for i in range(2)
    ],
    "/v1/graph/triples?limit=1": [
        ("/v1/graph/triples",
         {"triples": [{"subject": "a", "predicate": "knows", "object": f"b{i}"} for i in range(2)]})
    ],
}  # fmt: skip


def _fill(client: httpx.Client) -> None:
    for writes in LISTINGS.values():
        for path, body in writes:
            added = client.post(path, json=body)
            assert added.status_code in (201, 204), added.text


def _forged(cursor: str) -> str:
    """An issued cursor with every integer of its position made 2**63 (on an unsigned cursor:
    a 500 from SQLite, a 502 "Invalid where clause" from Chroma), its tag (if any) kept."""
    body, dot, tag = cursor.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["p"] = {k: 2**63 if isinstance(v, int) else v for k, v in payload["p"].items()}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + dot + tag


@pytest.mark.parametrize("stores", [EMBEDDED, MEMORY], ids=["embedded", "memory"])
def test_a_forged_cursor_is_a_400_naming_cursor(serve: Serve, stores) -> None:
    client = serve({"stores": stores})
    _fill(client)
    for listing in LISTINGS:
        first = client.get(listing)
        assert first.status_code == 200, (listing, first.text)
        cursor = first.headers["x-next-cursor"]
        second = client.get(f"{listing}&cursor={cursor}")
        assert second.status_code == 200, (listing, second.text)
        for bad in (_forged(cursor), cursor.partition(".")[0], cursor + "x", "日本"):
            refused = client.get(f"{listing}&cursor={quote(bad)}")
            assert refused.status_code == 400, (listing, bad, refused.text)
            assert refused.json()["detail"] == "cursor: not a cursor this server issued"


def test_the_secret_is_made_once_in_the_data_dir(serve: Serve, tmp_path: Path) -> None:
    data = tmp_path / "data"
    client = serve({"data_dir": str(data)})
    _fill(client)
    cursor = client.get("/v1/documents?limit=1").headers["x-next-cursor"]
    secret = data / SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    kept = secret.read_text()
    assert len(kept.strip()) == 64
    assert [p.name for p in data.iterdir() if p.name.startswith(".")] == []
    again = serve({"data_dir": str(data)})  # a restart on the same data
    assert secret.read_text() == kept
    assert again.get("/v1/documents", params={"cursor": cursor}).status_code == 200


def test_the_configured_secret_needs_sixteen_characters() -> None:
    from memio.config import ConfigError
    from tests.server.conftest import make_config

    with pytest.raises(ConfigError, match=r"server\.cursor_secret"):
        make_config({"server": {"cursor_secret": "short"}})


def test_replicas_sharing_the_secret_accept_each_others_cursors(tmp_path: Path) -> None:
    """Real processes: two on one data directory, two with one configured secret (${VAR}),
    and one on its own directory, which refuses the others' cursors."""
    shared = {"stores": MEMORY, "data_dir": str(tmp_path / "shared")}
    configured = {
        "stores": MEMORY,
        "server": {"cursor_secret": "${CURSOR_SECRET}"},
        "data_dir": str(tmp_path / "configured"),
    }
    alone = {"stores": MEMORY, "data_dir": str(tmp_path / "alone")}
    env = {"CURSOR_SECRET": "one secret for every replica"}
    with contextlib.ExitStack() as stack:
        a, b, c, d, e = (
            stack.enter_context(run_server(config, env=env))
            for config in (shared, shared, configured, configured, alone)
        )

        def cursor_of(server) -> str:
            with httpx.Client(base_url=server.base_url) as client:
                _fill(client)
                return client.get("/v1/documents?limit=1").headers["x-next-cursor"]

        def status(server, cursor: str) -> int:
            url = f"{server.base_url}/v1/documents"
            return httpx.get(url, params={"limit": 1, "cursor": cursor}).status_code

        from_a, from_c = cursor_of(a), cursor_of(c)
        assert (status(b, from_a), status(d, from_c)) == (200, 200)
        assert (status(e, from_a), status(e, from_c), status(c, from_a)) == (400, 400, 400)
