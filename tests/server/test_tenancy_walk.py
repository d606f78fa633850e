"""Cross-tenant walk: every operation of the running server's OpenAPI document, called by a
credential bound to one user, must neither show nor change another user's data.

The operations come from the live server's /openapi.json, not from a list in this file, so a route
added later is walked without anyone remembering it; a path parameter the walker cannot fill
fails the test and asks to be taught. Requests are built from each operation's own schema.

Three users hold data in every store: alice (the walker), bob (whom the requests name: his ids in
paths, ``user_id=bob`` in queries and bodies) and a third user whose id is never sent, so any
trace of it in an answer can only be a leak (entity listings, config views). Facts and sessions
without a user must stay invisible to alice too; shared documents and triples are readable.

For every operation three requests go out: naming bob, naming no one (the credential decides),
and a positive control on alice's own fresh items (which must mostly succeed, or the walk would
prove nothing). After every request: no bob, third-user or ownerless content in the answer, no
5xx, and a request naming bob never succeeds; after every non-GET, the operator checks that bob's,
the third user's, the ownerless and the shared items are exactly as seeded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from memio.server.app import DOCS_PATHS, STATIC_DOCS, create_app
from memio.server.mcp.http import MCP_PATH
from memio.server.mem0_api.selfhosted import UNSUPPORTED
from memio.server.routers import all_routers, ops
from tests.support.fixtures_pgvector import postgres_stores
from tests.support.server_process import run_server

OPERATOR = "walk-operator-key"
KEYS = {"alice": "walk-alice-key", "bob": "walk-bob-key"}
HIDDEN = "zedhidden"  # the third user's id: never sent by the walker
HIDDEN_KEY = "walk-hidden-key"
MARKERS = ("BOBSECRET", HIDDEN, "NOBODYSECRET")  # must never reach alice
SCOPE_FIELDS = {"user_id", "agent_id", "app_id"}
# Fields the walker fills by meaning (Builder.special), whether or not the schema requires them.
SPECIAL_FIELDS = {
    "messages", "ids", "memory_ids", "memories", "memory_id", "fact_id", "doc_id", "filters",
    "name", "label", "subject", "metadata",
}  # fmt: skip


@dataclass
class Items:
    """One user's items in every store."""

    user: str
    fact: str = ""
    session: str = ""
    doc: str = ""
    entity: str = ""
    triple: str = ""


@dataclass
class World:
    base_url: str
    operator: httpx.Client
    alice: httpx.Client
    bob: Items = field(default_factory=lambda: Items("bob"))
    hidden: Items = field(default_factory=lambda: Items(HIDDEN))
    nobody_fact: str = ""
    snapshot: dict[str, Any] = field(default_factory=dict)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def seed_user(client: httpx.Client, user: str, marker: str, tag: str) -> Items:
    """Items of `user` in every store, each holding `marker` (written by the operator)."""
    items = Items(user)
    items.fact = _ok(
        client.post("/v1/facts", json={"content": f"{marker} fact {tag}", "user_id": user})
    )["id"]
    items.session = f"s-{user}-{tag}"
    _ok(
        client.post(
            f"/v1/history/sessions/{items.session}/messages",
            json={
                "messages": [{"role": "user", "content": f"{marker} says {tag}"}],
                "user_id": user,
            },
        )
    )
    items.doc = f"d-{user}-{tag}"
    _ok(
        client.post(
            "/v1/documents",
            json={"content": f"{marker} document {tag}", "doc_id": items.doc, "user_id": user},
        )
    )
    items.entity = f"{user}-entity-{tag}"
    _ok(
        client.post(
            "/v1/graph/triples",
            json={
                "triples": [
                    {"subject": items.entity, "predicate": "knows", "object": f"{marker} {tag}"}
                ],
                "user_id": user,
            },
        )
    )
    triples = _ok(client.get(f"/v1/graph/entities/{items.entity}", params={"user_id": user}))
    items.triple = triples["triples"][0]["id"]
    return items


def snapshot(world: World) -> dict[str, Any]:
    """What the operator sees of everything alice must not change."""
    op = world.operator
    state: dict[str, Any] = {}
    for items in (world.bob, world.hidden):
        user = items.user
        state[f"{user} fact"] = op.get(f"/v1/facts/{items.fact}").json()
        state[f"{user} fact history"] = len(op.get(f"/v1/facts/{items.fact}/history").json())
        state[f"{user} session"] = op.get(f"/v1/history/sessions/{items.session}/messages").json()
        state[f"{user} doc"] = op.get(f"/v1/documents/{items.doc}").json()
        state[f"{user} graph"] = op.get(
            f"/v1/graph/entities/{items.entity}", params={"user_id": user}
        ).json()
    state["nobody fact"] = op.get(f"/v1/facts/{world.nobody_fact}").json()
    state["nobody session"] = op.get("/v1/history/sessions/s-nobody/messages").json()
    state["shared doc"] = op.get("/v1/documents/d-shared").json()
    state["shared graph"] = op.get("/v1/graph/entities/shared-entity").json()
    state["keys"] = sorted(key["name"] for key in op.get("/v1/keys").json())
    return state


@pytest.fixture(
    scope="module",
    params=[
        "embedded",
        pytest.param("postgres", marks=pytest.mark.pgvector),
    ],
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The walked server: the embedded defaults, and every store on PostgreSQL (whose scoping
    is SQL of its own, so it is walked too)."""
    config: dict[str, Any] = {
        "data_dir": str(tmp_path_factory.mktemp("walk-data")),
        "auth": {
            "api_keys": [
                {"name": "operator", "key": OPERATOR, "admin": True},
                *({"name": n, "key": k, "user_id": n} for n, k in KEYS.items()),
                {"name": "hidden", "key": HIDDEN_KEY, "user_id": HIDDEN},
            ]
        },
        # The walk sends hundreds of requests with one bound key: lift its default limit.
        "server": {"rate_limit": {"limits": ["100000/minute"]}},
    }
    if request.param == "postgres":  # all four stores in one schema of pgvector's cluster
        config["stores"] = postgres_stores(request.getfixturevalue("pgvector_dsn"))
    with (
        run_server(config) as server,
        httpx.Client(
            base_url=server.base_url, headers={"X-API-Key": OPERATOR}, timeout=120
        ) as operator,
        httpx.Client(
            base_url=server.base_url, headers={"X-API-Key": KEYS["alice"]}, timeout=120
        ) as alice,
    ):
        world = World(base_url=server.base_url, operator=operator, alice=alice)
        world.bob = seed_user(operator, "bob", "BOBSECRET", "seed")
        world.hidden = seed_user(operator, HIDDEN, "BOBSECRET", "seed")
        world.nobody_fact = _ok(
            operator.post("/v1/facts", json={"content": "NOBODYSECRET fact", "agent_id": "bot"})
        )["id"]
        _ok(
            operator.post(
                "/v1/history/sessions/s-nobody/messages",
                json={"messages": [{"role": "user", "content": "NOBODYSECRET says hi"}]},
            )
        )
        _ok(
            operator.post(
                "/v1/documents", json={"content": "shared handbook", "doc_id": "d-shared"}
            )
        )
        _ok(
            operator.post(
                "/v1/graph/triples",
                json={
                    "triples": [{"subject": "shared-entity", "predicate": "is", "object": "public"}]
                },
            )
        )
        world.snapshot = snapshot(world)
        yield world


# --- building requests from the schema -------------------------------------------------------


class Builder:
    """Values for one request of one variant: "bob" (name him), "implicit" (name no one) or
    "own" (alice's fresh items, naming no one)."""

    def __init__(self, doc: dict[str, Any], variant: str, target: Items, world: World) -> None:
        self.schemas = doc.get("components", {}).get("schemas", {})
        self.variant = variant
        self.target = target
        self.world = world
        self.names_bob = False  # a scope field or filter of the request says "bob"

    def path_value(self, name: str, where: str) -> str:
        t = self.target
        values = {
            "fact_id": t.fact,
            "memory_id": t.fact,
            "session_id": t.session,
            "doc_id": t.doc,
            "entity": t.entity,
            "triple_id": t.triple,
            "user_id": t.user,
            "entity_type": "user",
            "entity_id": t.user,
            "name": "operator",  # keys: the operator's own key
            "key_id": "operator",
        }
        if name not in values:
            pytest.fail(
                f"the tenancy walk cannot fill path parameter {name!r} of {where}: teach "
                "Builder.path_value which item of the target user it names"
            )
        return values[name]

    def scope_value(self, name: str) -> str | None:
        if self.variant == "bob" and name == "user_id":
            self.names_bob = True
            return "bob"
        return None

    def filters(self) -> dict[str, str] | None:
        if self.variant != "bob":
            return None
        self.names_bob = True
        return {"user_id": "bob"}

    def query(self, parameters: list[dict[str, Any]]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for parameter in self.flattened(parameters):
            if parameter.get("in") != "query":
                continue
            name = parameter["name"]
            if name in SCOPE_FIELDS | {"run_id"}:
                value = self.scope_value(name)
                if value is not None:
                    params[name] = value
            elif name == "filters":
                params[name] = json.dumps(self.filters() or {})
            elif parameter.get("required"):
                params[name] = self.value(name, parameter.get("schema", {}))
        return params

    @staticmethod
    def flattened(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """An exploded form object (``entity``: at least one of the entity ids) is its
        properties, each its own optional query parameter on the wire."""
        flat = []
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter.get("explode") and schema.get("type") == "object":
                flat += [
                    {"name": name, "in": parameter["in"], "schema": sub}
                    for name, sub in schema["properties"].items()
                ]
            else:
                flat.append(parameter)
        return flat

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        if "properties" in schema:  # a model; its anyOf/allOf are rules over its fields
            return schema
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [s for s in schema[key] if self.resolve(s).get("type") != "null"]
                return self.resolve(options[0] if options else schema[key][0])
        if "allOf" in schema:
            return self.resolve(schema["allOf"][0])
        return schema

    def value(self, name: str, schema: dict[str, Any]) -> Any:
        schema = self.resolve(schema)
        special = self.special(name)
        if special is not None:
            return special
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object":
            return self.obj(schema)
        if kind == "array":
            return [self.value(name, schema.get("items", {}))]
        if kind == "integer":
            return max(int(schema.get("minimum", 1)), 1)
        if kind == "number":
            return 0.5
        if kind == "boolean":
            return False
        return "walk text"

    def special(self, name: str) -> Any:
        """A value chosen for what the field means (None: generate it from the schema)."""
        t = self.target
        own = self.variant == "own"
        fresh = f"walk-{uuid.uuid4().hex[:8]}"
        values: dict[str, Callable[[], Any]] = {
            "messages": lambda: [{"role": "user", "content": "walk message"}],
            "ids": lambda: [t.fact, t.doc],
            "memory_ids": lambda: [t.fact],
            "memories": lambda: [{"memory_id": t.fact, "text": "overwritten by the walk"}],
            "memory_id": lambda: t.fact,
            "fact_id": lambda: None if own else t.fact,
            "doc_id": lambda: fresh if own else t.doc,
            "filters": self.filters,
            "name": lambda: fresh,
            "label": lambda: fresh,
            "subject": lambda: t.entity,
            "metadata": lambda: {"walk": True},
        }
        make = values.get(name)
        return make() if make is not None else None

    def obj(self, schema: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            if name in SCOPE_FIELDS:
                value = self.scope_value(name)
                if value is not None:
                    body[name] = value
            elif name in schema.get("required", ()) or name in SPECIAL_FIELDS:
                value = self.value(name, sub)
                if value is not None:
                    body[name] = value
        return body

    def request(self, method: str, path: str, operation: dict[str, Any]) -> dict[str, Any]:
        where = f"{method.upper()} {path}"
        filled = path
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "path":
                value = self.path_value(parameter["name"], where)
                filled = filled.replace("{" + parameter["name"] + "}", value)
        request: dict[str, Any] = {
            "method": method.upper(),
            "url": filled,
            "params": self.query(operation.get("parameters", [])),
        }
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            request["json"] = self.value("body", content["application/json"].get("schema", {}))
        return request


# --- the walk ----------------------------------------------------------------------------------


def test_no_route_leaks_or_changes_another_tenants_data(world: World) -> None:
    doc = world.operator.get("/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, methods in doc["paths"].items()
        for method, operation in methods.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    leaks: list[str] = []
    succeeded: set[str] = set()
    for index, (path, method, operation) in enumerate(operations):
        where = f"{method.upper()} {path}"
        own = seed_user(world.operator, "alice", "walk", str(index))
        for variant, target in (("bob", world.bob), ("implicit", world.bob), ("own", own)):
            builder = Builder(doc, variant, target, world)
            request = builder.request(method, path, operation)
            response = world.alice.request(**request)
            status = response.status_code
            found = [marker for marker in MARKERS if marker in response.text]
            if found:
                leaks.append(f"{where} [{variant}] showed {found}: {response.text[:300]}")
            if status >= 500 and status != 501:  # 501: a documented "memio does not do this"
                leaks.append(f"{where} [{variant}] answered {status}: {response.text[:300]}")
            if builder.names_bob and status < 300:
                leaks.append(f"{where} [bob] succeeded ({status}) although it names bob")
            if variant == "own" and status < 300:
                succeeded.add(where)
            if method != "get":
                now = snapshot(world)
                if now != world.snapshot:
                    changed = [k for k in now if now[k] != world.snapshot.get(k)]
                    leaks.append(f"{where} [{variant}] changed {changed}")
                    world.snapshot = now
    print(
        f"\ntenancy walk: {len(operations)} operations, {3 * len(operations)} requests, "
        f"{len(leaks)} leaks; {len(succeeded)} operations succeeded on alice's own items"
    )
    assert not leaks, "\n".join(leaks)
    assert len(operations) >= 70  # every dialect's routes are in the document
    # The positive control: the generated requests reach real code, not just validation errors.
    assert len(succeeded) >= 0.8 * len(operations), sorted(
        f"{m.upper()} {p}" for p, m, _ in operations if f"{m.upper()} {p}" not in succeeded
    )


# Routes left out of the OpenAPI document, so the walk does not reach them: each must be one of
# these, whose handlers touch no store (or are an alias of a walked route).
HIDDEN_ROUTES = {
    *UNSUPPORTED,  # mem0 server routes memio answers 501 without touching a store
    ("GET", "/"),  # redirects to /docs
    ("POST", "/configure"),  # answers 405 (memio is configured by its YAML file)
    # restore (memio import through a server): operator credentials only, a bound key is 403
    # (tests/test_remote_client.py: test_restore_routes_are_for_operators_only)
    ("POST", "/v1/facts/restore"),
    ("POST", "/v1/documents/restore"),
    ("POST", "/v1/graph/restore"),
}


def test_no_route_hides_from_the_walk() -> None:
    hidden = {
        (method, route.path)
        for router in [*all_routers(), ops.router]
        for route in router.routes
        if isinstance(route, APIRoute) and not route.include_in_schema
        for method in route.methods
    }
    assert hidden <= HIDDEN_ROUTES, sorted(hidden - HIDDEN_ROUTES)


# Endpoints outside the routers (no OpenAPI operation, so the walk cannot reach them) that touch
# the stores, each with the tests that prove it keeps tenants apart.
WALKED_ELSEWHERE = {
    MCP_PATH: "tests/mcp/test_http.py: test_bound_keys_never_see_each_others_memories, "
    "test_an_operator_must_name_the_user",
}


def test_every_endpoint_outside_the_routers_is_accounted_for() -> None:
    app = create_app()
    others = {  # the routers' own routes are guarded above
        route.path
        for route in app.router.routes
        if isinstance(route, (Route, Mount)) and not isinstance(route, APIRoute)
        if route.path not in DOCS_PATHS
    }
    assert others - {STATIC_DOCS} == set(WALKED_ELSEWHERE)
