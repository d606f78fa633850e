"""One write and one read per store over memio's /v1 API, for the end-to-end server tests.

`write(client, kind, tag)` stores one item in the store `kind` (checking the documented success
status) and returns an `Item`; `read(client, item)` reads it back and checks it is the item
written. Every item carries `tag` in its ids, so calls never collide with earlier ones.
`failing_calls(item)` lists reads and writes of the item's store, each with the provider operation
it reaches, for checking the 502s of a backend outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Call", "Item", "failing_calls", "read", "write"]


@dataclass(frozen=True)
class Item:
    kind: str
    tag: str
    id: str  # fact id, session id, document id, or the graph entity
    content: str


@dataclass(frozen=True)
class Call:
    """One request and the provider operation it runs (as named in a 502's `operation`)."""

    operation: str
    method: str
    path: str
    json: Any = None
    params: Any = None

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(self.method, self.path, json=self.json, params=self.params)


def _expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: {response.status_code} "
        f"{response.text}"
    )
    return response.json() if response.content else None


def write(client: httpx.Client, kind: str, tag: str) -> Item:
    user = f"user-{tag}"
    if kind == "facts":
        content = f"{tag} prefers green tea in the morning"
        body = _expect(client.post("/v1/facts", json={"content": content, "user_id": user}), 201)
        assert body["content"] == content and body["user_id"] == user
        return Item(kind, tag, body["id"], content)
    if kind == "history":
        session, content = f"session-{tag}", f"hello from {tag}"
        _expect(
            client.post(
                f"/v1/history/sessions/{session}/messages",
                json={"messages": [{"role": "user", "content": content}], "user_id": user},
            ),
            204,
        )
        return Item(kind, tag, session, content)
    if kind == "documents":
        doc_id, content = f"doc-{tag}", f"{tag}: green tea is brewed at 80 degrees"
        body = _expect(
            client.post("/v1/documents", json={"doc_id": doc_id, "content": content}), 201
        )
        assert body["id"] == doc_id and body["content"] == content
        return Item(kind, tag, doc_id, content)
    if kind == "graph":
        entity = f"alice-{tag}"
        triple = {"subject": entity, "predicate": "works_at", "object": "Acme"}
        _expect(client.post("/v1/graph/triples", json={"triples": [triple], "user_id": user}), 204)
        return Item(kind, tag, entity, "works_at Acme")
    raise ValueError(f"unknown store {kind!r}")


def read(client: httpx.Client, item: Item) -> None:
    user = f"user-{item.tag}"
    if item.kind == "facts":
        body = _expect(client.get(f"/v1/facts/{item.id}"), 200)
        assert body["content"] == item.content
        found = _expect(
            client.post("/v1/facts/search", json={"query": "green tea", "user_id": user}), 200
        )
        assert item.id in [fact["id"] for fact in found]
    elif item.kind == "history":
        body = _expect(client.get(f"/v1/history/sessions/{item.id}/messages"), 200)
        assert item.content in [message["content"] for message in body]
    elif item.kind == "documents":
        body = _expect(client.get(f"/v1/documents/{item.id}"), 200)
        assert body["content"] == item.content
    elif item.kind == "graph":
        body = _expect(client.get(f"/v1/graph/entities/{item.id}", params={"user_id": user}), 200)
        assert [(t["subject"], t["predicate"], t["object"]) for t in body["triples"]] == [
            (item.id, "works_at", "Acme")
        ]
        assert set(body["nodes"]) == {item.id, "Acme"}
    else:
        raise ValueError(f"unknown store {item.kind!r}")


def failing_calls(item: Item) -> list[Call]:
    """Reads and writes of the store `item.kind` that must each reach its backend."""
    user = f"user-{item.tag}"
    if item.kind == "facts":
        return [
            Call("add", "POST", "/v1/facts", json={"content": "while down", "user_id": user}),
            Call("get", "GET", f"/v1/facts/{item.id}"),
            Call("get_all", "GET", "/v1/facts", params={"user_id": user}),
            Call("search", "POST", "/v1/facts/search", json={"query": "tea", "user_id": user}),
        ]
    if item.kind == "documents":
        return [
            Call("add", "POST", "/v1/documents", json={"content": "while down"}),
            Call("get", "GET", f"/v1/documents/{item.id}"),
            Call("get_all", "GET", "/v1/documents"),
            Call("search", "POST", "/v1/documents/search", json={"query": "tea"}),
        ]
    if item.kind == "history":
        messages = {"messages": [{"role": "user", "content": "while down"}], "user_id": user}
        return [
            Call("add", "POST", f"/v1/history/sessions/{item.id}/messages", json=messages),
            Call("get", "GET", f"/v1/history/sessions/{item.id}/messages"),
            Call("get_all", "GET", "/v1/history/sessions", params={"user_id": user}),
            Call("search", "POST", f"/v1/history/sessions/{item.id}/search", json={"query": "hi"}),
        ]
    if item.kind == "graph":
        triple = {"subject": item.id, "predicate": "knows", "object": "Bob"}
        return [
            Call("add", "POST", "/v1/graph/triples", json={"triples": [triple], "user_id": user}),
            Call("get", "GET", f"/v1/graph/entities/{item.id}", params={"user_id": user}),
            Call("get_all", "GET", "/v1/graph/triples", params={"user_id": user}),
            Call("search", "POST", "/v1/graph/search", json={"query": "Acme", "user_id": user}),
        ]
    raise ValueError(f"unknown store {item.kind!r}")
