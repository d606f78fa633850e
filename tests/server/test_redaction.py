"""Passwords in provider URLs and DSNs never reach an answer or a log line (memio.redaction)."""

from __future__ import annotations

import logging

import httpx
import pytest

from memio.redaction import redacted
from tests.server.conftest import AUTH, bearer
from tests.support.server_process import free_port, run_server

SECRET = "s3cretPW"
ADMIN = bearer(AUTH["api_keys"][1]["key"])


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("at http://admin:s3cretPW@10.0.0.1:80: down", "at http://admin:***@10.0.0.1:80: down"),
        ("postgresql://memio:s3cretPW@db:5432/x?ssl=1", "postgresql://memio:***@db:5432/x?ssl=1"),
        ("host=db user=u password=s3cretPW dbname=x", "host=db user=u password=*** dbname=x"),
        ("host=db password = 's3cret \\' PW' dbname=x", "host=db password = '***' dbname=x"),
        ("redis://:s3cretPW@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://default:s3cretPW@cache:6380", "rediss://default:***@cache:6380"),
        ("http://u:s3cr@tPW@host:1/x", "http://u:***@host:1/x"),  # unencoded @ in the password
        ("http://u:s3c/retPW@host:1/x", "http://u:***@host:1/x"),  # unencoded / in the password
        ("{'password': 's3cretPW', 'user': 'x'}", "{'password': '***', 'user': 'x'}"),
        # no credentials: unchanged
        ("https://api.example/v1/?user_id=alice@example.com", None),
        ("http://host:8000/path?email=a@b.c", None),
        ("http://user@host/x", None),
        ("password authentication failed for user memio", None),
    ],
)  # fmt: skip
def test_redacted_masks_passwords_only(text: str, shown: str | None) -> None:
    assert redacted(text) == (text if shown is None else shown)


def _assert_hidden(responses: list[httpx.Response], log: str) -> None:
    for response in responses:
        assert SECRET not in response.text, (response.request.url, response.text)
    assert SECRET not in log


def test_a_down_chroma_server_url_keeps_its_password(serve, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://admin:{SECRET}@127.0.0.1:{free_port()}"
    client = serve(
        {
            "auth": AUTH,
            "stores": {"facts": {"provider": "chroma", "config": {"url": url}}},
            "server": {"ready_timeout_seconds": 120},
        }
    )
    added = client.post("/v1/facts", json={"content": "x", "user_id": "u"}, headers=ADMIN)
    ready = client.get("/ready", headers=ADMIN)
    status = client.get("/status", headers=ADMIN)
    assert (added.status_code, ready.status_code) == (502, 503)
    assert "http://admin:***@127.0.0.1" in added.json()["detail"]
    _assert_hidden([added, ready, status], caplog.text)


@pytest.mark.postgres
def test_a_postgres_dsn_keeps_its_password(serve, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    closed = free_port()
    for dsn in (
        f"postgresql://memio:{SECRET}@127.0.0.1:{closed}/test",
        f"host=127.0.0.1 port=5432 dbname=test user=nosuchrole password={SECRET}",
    ):
        client = serve(
            {
                "auth": AUTH,
                "stores": {"history": {"provider": "postgres", "config": {"dsn": dsn}}},
            }
        )
        listed = client.get("/v1/history/sessions", headers=ADMIN)
        ready = client.get("/ready", headers=ADMIN)
        configured = client.get("/configure", headers=ADMIN)
        assert (listed.status_code, ready.status_code, configured.status_code) == (502, 503, 200)
        _assert_hidden([listed, ready, configured], caplog.text)


def test_a_redis_url_keeps_its_password(serve, caplog) -> None:
    """The rate limit storage is down: the 503, the log and /configure never show its
    password."""
    caplog.set_level(logging.DEBUG)
    url = f"redis://default:{SECRET}@127.0.0.1:{free_port()}/0"
    client = serve(
        {
            "auth": AUTH,
            "server": {"rate_limit": {"enabled": True, "storage_uri": url}},
        }
    )
    refused = client.get("/v1/facts", headers=bearer(AUTH["api_keys"][2]["key"]))
    configured = client.get("/configure", headers=ADMIN)
    assert refused.status_code == 503
    _assert_hidden([refused, configured], caplog.text)


def test_the_server_log_never_shows_a_password() -> None:
    """A real server process: the warm-up warning, the provider error and /ready."""
    url = f"http://admin:{SECRET}@127.0.0.1:{free_port()}"
    config = {
        "stores": {"facts": {"provider": "chroma", "config": {"url": url}}},
        "server": {"ready_timeout_seconds": 120},
    }
    with run_server(config) as server:
        added = httpx.post(f"{server.base_url}/v1/facts", json={"content": "x"}, timeout=120)
        ready = httpx.get(f"{server.base_url}/ready", timeout=120)
        assert (added.status_code, ready.status_code) == (502, 503)
        log = server.stderr()
    assert "provider error" in log and "admin:***@" in log
    _assert_hidden([added, ready], log)


def test_configure_hides_the_cursor_secret(serve) -> None:
    client = serve({"auth": AUTH, "server": {"cursor_secret": f"{SECRET}-long-enough"}})
    shown = client.get("/configure", headers=ADMIN)
    assert shown.json()["server"]["cursor_secret"] == "***"
    _assert_hidden([shown], "")
