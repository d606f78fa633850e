"""Paging links: relative unless `server.public_url` is set, never built from the Host header,
and percent-encoded so any session id fits a header."""

from __future__ import annotations

import re

import pytest

from memio.config import ConfigError
from tests.server.conftest import Serve, make_config

EVIL = {"Host": "evil.example"}
SESSION = "/v1/history/sessions/%E6%97%A5%E6%9C%AC/messages"  # 日本


def _next(response) -> str:
    match = re.fullmatch(r'<([^>]+)>; rel="next"', response.headers["link"])
    assert match, response.headers
    return match.group(1)


def _add_messages(client) -> None:
    messages = [{"role": "user", "content": "first"}, {"role": "user", "content": "second"}]
    assert client.post(SESSION, json={"messages": messages}).status_code == 204


def _add_facts(client) -> None:
    for text in ("tea", "coffee", "water"):
        added = client.post("/v1/facts", json={"content": f"drinks {text}", "user_id": "u"})
        assert added.status_code == 201, added.text


def test_a_non_latin1_session_id_gets_an_encoded_next_link(serve: Serve) -> None:
    client = serve({})
    _add_messages(client)
    first = client.get(SESSION, params={"limit": 1})
    assert first.status_code == 200, first.text
    link = _next(first)
    cursor = first.headers["x-next-cursor"]
    assert link == f"{SESSION}?limit=1&cursor={cursor}"
    second = client.get(link)
    assert [m["content"] for m in (*first.json(), *second.json())] == ["first", "second"]


def test_links_ignore_the_host_header(serve: Serve) -> None:
    client = serve({})
    _add_messages(client)
    _add_facts(client)
    listed = client.get(SESSION, params={"limit": 1}, headers=EVIL)
    assert _next(listed).startswith(f"{SESSION}?")
    facts = client.get("/v1/facts", params={"user_id": "u", "limit": 1}, headers=EVIL)
    assert _next(facts).startswith("/v1/facts?")
    page = client.post(
        "/v3/memories/", params={"page": 2, "page_size": 1}, json={"filters": {"user_id": "u"}},
        headers=EVIL,
    )  # fmt: skip
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["next"] == "/v3/memories/?page=3&page_size=1"
    assert body["previous"] == "/v3/memories/?page=1&page_size=1"
    assert "evil" not in listed.headers["link"] + facts.headers["link"] + page.text


def test_links_are_absolute_under_the_public_url(serve: Serve) -> None:
    client = serve({"server": {"public_url": "https://memio.example.com/base/"}})
    _add_messages(client)
    _add_facts(client)
    listed = client.get(SESSION, params={"limit": 1}, headers=EVIL)
    assert _next(listed).startswith(f"https://memio.example.com/base{SESSION}?limit=1&cursor=")
    page = client.post(
        "/v3/memories/", params={"page": 1, "page_size": 2}, json={"filters": {"user_id": "u"}},
        headers=EVIL,
    )  # fmt: skip
    assert page.json()["next"] == "https://memio.example.com/base/v3/memories/?page=2&page_size=2"


def test_the_public_url_must_be_an_absolute_base() -> None:
    for bad in ("memio.example.com", "ftp://x", "https://u:p@x", "https://x/?a=1"):
        with pytest.raises(ConfigError, match=r"server\.public_url"):
            make_config({"server": {"public_url": bad}})
