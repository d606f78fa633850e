"""Shared checks of the HTTP contract suite."""

from __future__ import annotations

import re
from typing import Any

import httpx

API_KEY = "http-suite-app-key"
ADMIN_KEY = "http-suite-admin-key"

# Fields every memio 0.3.1 client may read (the 0.3.1 response schemas); memio adds more.
FACT_FIELDS_031 = {
    "id",
    "content",
    "user_id",
    "agent_id",
    "metadata",
    "score",
    "created_at",
    "updated_at",
}
MESSAGE_FIELDS_031 = {"role", "content", "metadata", "timestamp", "name"}
DOCUMENT_FIELDS_031 = {"id", "content", "metadata", "score", "created_at", "updated_at"}
TRIPLE_FIELDS_031 = {"subject", "predicate", "object", "metadata"}
GRAPH_RESULT_FIELDS_031 = {"triples", "nodes", "scores"}

ERROR_FIELDS = {"error", "detail", "provider", "operation", "request_id"}

_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def auth_config() -> dict[str, Any]:
    """The `auth` section of every suite server: one application key and one admin key."""
    return {
        "api_keys": [
            {"name": "app", "key": API_KEY},
            {"name": "admin", "key": ADMIN_KEY, "admin": True},
        ]
    }


def assert_error(response: httpx.Response, status: int, *mentions: str) -> dict[str, Any]:
    """The response is the JSON error envelope with `status`, and mentions each given text."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) >= ERROR_FIELDS, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    text = response.text
    for mention in mentions:
        assert mention in text, f"{mention!r} not in {text}"
    return body


def refused_as_declared(server: Any, kind: str, capability: str, response: httpx.Response) -> bool:
    """True when the profile's `kind` backend declares it `cannot` do `capability` and the server
    answered with the 501 `not_supported` envelope (anything else then fails the test); False when
    the backend did not declare it, so the caller checks the normal answer and a 501 fails."""
    if capability not in server.profile.backends[kind].cannot:
        return False
    assert_error(response, 501)
    assert response.json()["error"] == "not_supported", response.text
    return True


def next_link(response: httpx.Response) -> str | None:
    match = _LINK_NEXT.search(response.headers.get("link", ""))
    return match.group(1) if match else None


def walk(
    client: httpx.Client, path: str, params: dict[str, Any], *, key: str | None = None
) -> tuple[list[Any], int]:
    """Every item of a listing, following `X-Next-Cursor`; checks `Link` agrees on each page.
    Returns the items and the number of pages. `key` picks the list out of an object body."""
    items: list[Any] = []
    pages = 0
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        page = body[key] if key else body
        assert isinstance(page, list)
        items.extend(page)
        pages += 1
        cursor = response.headers.get("x-next-cursor")
        link = next_link(response)
        if cursor is None:
            assert link is None, response.headers
            return items, pages
        assert link is not None and f"cursor={cursor}" in link, response.headers
        assert pages < 1000, "pagination does not end"


def walk_links(client: httpx.Client, path: str, params: dict[str, Any]) -> list[Any]:
    """Every item of a listing by following the `Link: rel="next"` URLs only."""
    items: list[Any] = []
    response = client.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        items.extend(response.json())
        url = next_link(response)
        if url is None:
            return items
        response = client.get(url)
