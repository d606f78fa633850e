"""mem0's self-hosted server dialect (the REST API of mem0's own ``server/``), over memio's facts.

Flat paths without a trailing slash: ``POST|GET|DELETE /memories``, ``GET|PUT|DELETE
/memories/{id}``, ``GET /memories/{id}/history``, ``POST /search``, ``POST /reset``, ``GET|POST
/configure``, ``GET /entities``, ``DELETE /entities/{type}/{id}``. Keys are sent as
``X-API-Key`` or ``Authorization: Bearer`` (memio's auth accepts both). Answers are mem0's:
``{"results": [...]}`` for adds, listings and searches, ``{"message": ...}`` for updates and
deletes, a bare list for history and entities.

Errors carry memio's fields (``error``, ``detail``, ``request_id``, ...); a 422's ``detail`` is the
list of issues (``[{loc, msg, type}]``), as mem0's server (FastAPI) answers it.

What memio does not do is refused with the reason: ``POST /configure`` answers 405 (memio is
configured by its YAML file; ``Allow: GET``), mem0's user accounts 501 (``/auth/*``,
``/requests``, ``/configure/providers``, ``/generate-instructions``). ``/api-keys`` manages
memio's runtime keys (those of ``/v1/keys``); the keys it creates are operator keys (never
admin). Admin keys only: ``/api-keys``, ``POST /reset`` and listing or deleting memories
without naming an entity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from memio.config import KEY_NAME_PATTERN
from memio.errors import InvalidRequestError, NotSupportedError
from memio.models import FACT_SCOPE, KEEP
from memio.pagination import MAX_LIMIT
from memio.redaction import REDACTED, redacted
from memio.scoping import SCOPE_FIELDS, Scope
from memio.server.auth import principal_of, require_admin
from memio.server.deps import FactsDep
from memio.server.errors import ErrorBody, ErrorInfo, ErrorStyle, ValidationErrorBody
from memio.server.expiry import EXPIRATION_DATE, MEM0_DATE_SCHEMA, mem0_expiry, update_expiry
from memio.server.keys import KeyInfo, create_key, key_info, list_keys, revoke_key
from memio.server.mem0_api import responses as answer
from memio.server.mem0_api.core import (
    INFER_HEADER,
    admin_unless_named,
    admin_unless_pinned,
    entity_field,
    get_memory,
    memory_not_found,
    parse_messages,
    require_entity,
    search_facts,
    store_messages,
)
from memio.server.mem0_api.filters import Translation, merge_ids, translate
from memio.server.mem0_api.responses import answers
from memio.server.mem0_api.shapes import (
    selfhosted_add_result,
    selfhosted_entity,
    selfhosted_history_entry,
    selfhosted_memory,
)
from memio.server.routing import make_router
from memio.server.rules import (
    MEM0_MESSAGES,
    Doc,
    EntityType,
    Mem0Filters,
    MetadataIn,
    Text,
    any_of_required,
    names_entity,
)
from memio.server.strict import IGNORED, destructive

__all__ = ["UNSUPPORTED", "redacted_config", "router"]


class SelfHostedErrors(ErrorStyle):
    """memio's error body, with a 422's ``detail`` the list of issues mem0's server answers."""

    models = (ErrorBody, ValidationErrorBody)

    def render(self, error: ErrorInfo) -> tuple[int, dict[str, Any]]:
        status, body = super().render(error)
        if error.status == 422 and error.errors is not None:
            body["detail"] = error.errors
        return status, body

    def documented(self, status: int) -> tuple[int, str]:
        if status == 422:
            return status, ValidationErrorBody.__name__
        return super().documented(status)


router = make_router(
    unknown_input="report", error_style=SelfHostedErrors(), tags=["mem0 self-hosted"]
)

DEFAULT_LIST_TOP_K = 100
DEFAULT_SEARCH_TOP_K = 20  # mem0's Memory.search default
_REQUEST = ConfigDict(extra="allow")
_ACCOUNTS = (
    "memio has no user accounts: keys are configured in memio-server.yaml (auth.api_keys) or "
    "created with POST /v1/keys, and tokens come from the app's own backend (auth.jwt)"
)
# mem0 server routes memio does not implement, and why (answered 501)
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("GET", "/auth/setup-status"): _ACCOUNTS,
    ("POST", "/auth/register"): _ACCOUNTS,
    ("POST", "/auth/login"): _ACCOUNTS,
    ("POST", "/auth/refresh"): _ACCOUNTS,
    ("GET", "/auth/me"): _ACCOUNTS,
    ("PATCH", "/auth/me"): _ACCOUNTS,
    ("POST", "/auth/change-password"): _ACCOUNTS,
    ("POST", "/auth/onboarding-complete"): _ACCOUNTS,
    ("GET", "/requests"): "memio keeps no request log: see its access log and GET /metrics",
    ("GET", "/configure/providers"): (
        "memio's providers are listed in its documentation and chosen in memio-server.yaml"
    ),
    ("POST", "/generate-instructions"): "memio does not generate extraction instructions",
}
_SECRET_KEY = re.compile(r"key|secret|passw|token|credential|auth|sha256", re.IGNORECASE)


class MemoryCreate(BaseModel):
    model_config = _REQUEST | ConfigDict(json_schema_extra=names_entity(filters=None).keywords)

    messages: Annotated[list[dict[str, Any]], Doc(MEM0_MESSAGES["anyOf"][0])] = Field(
        description="Messages ({role, content}) to store."
    )
    user_id: Text | None = None
    agent_id: Text | None = None
    app_id: Text | None = None
    run_id: Text | None = None
    metadata: MetadataIn | None = None
    infer: bool | None = Field(default=None, description="Extract facts (default true).")
    prompt: str | None = Field(default=None, description="Extraction instructions.")
    memory_type: Annotated[str, Doc(enum=["", "core"])] | None = None
    expiration_date: str | None = Field(
        default=None, description=EXPIRATION_DATE, json_schema_extra=MEM0_DATE_SCHEMA
    )


class MemoryUpdate(BaseModel):
    model_config = _REQUEST | ConfigDict(
        json_schema_extra=any_of_required(
            ("text", "data", "memory", "metadata", "expiration_date")
        ).keywords
    )

    text: Text | None = Field(default=None, description="New content of the memory.")
    data: Text | None = Field(default=None, description="Older mem0 servers' name for text.")
    memory: Text | None = Field(default=None, description="Older mem0 servers' name for text.")
    metadata: MetadataIn | None = Field(default=None, description="Keys to merge in.")
    expiration_date: str | None = Field(
        default=None,
        description=EXPIRATION_DATE + " An explicit null clears it.",
        json_schema_extra=MEM0_DATE_SCHEMA,
    )


class SearchRequest(BaseModel):
    model_config = _REQUEST | ConfigDict(json_schema_extra=names_entity().keywords)

    query: Text
    user_id: Text | None = None
    agent_id: Text | None = None
    app_id: Text | None = None
    run_id: Text | None = None
    filters: Mem0Filters | None = None
    top_k: Annotated[int, Doc(minimum=1, maximum=MAX_LIMIT)] | None = Field(
        default=None, description="At most this many results (20)."
    )
    threshold: Annotated[float, Doc(minimum=0, maximum=1)] | None = Field(
        default=None, description="Minimum score (0..1)."
    )
    explain: bool | None = Field(default=None, json_schema_extra=IGNORED)
    show_expired: bool | None = Field(default=None, description="Also expired memories.")


def _ids(body: Any) -> dict[str, str | None]:
    return {name: getattr(body, name, None) for name in FACT_SCOPE}


@router.post("/memories", summary="Create memories", responses=answers(answer.SelfhostedAdded))
async def add_memories(
    request: Request, response: Response, body: MemoryCreate, facts: FactsDep
) -> dict[str, Any]:
    """Store messages for a user, agent or run (at least one id is required). With ``infer``
    (the default) the configured extraction LLM picks the facts; without one, or with ``infer:
    false``, each non-system message is stored as it is (``X-Memio-Infer`` says which)."""
    expires_at = mem0_expiry(body.expiration_date)
    if body.memory_type not in (None, "", "core"):
        raise InvalidRequestError(
            f"memory_type {body.memory_type!r} is not supported (memio stores facts)",
            field="memory_type",
        )
    messages = parse_messages(body.messages)
    scope = {name: value for name, value in _ids(body).items() if value is not None}
    if not scope and not principal_of(request).bound:
        raise InvalidRequestError(
            "at least one identifier (user_id, agent_id, app_id, run_id) is required",
            field="user_id",
        )
    added, status = await store_messages(
        request,
        facts,
        messages,
        scope=merge_ids(Translation(), scope).scope,
        metadata=body.metadata,
        infer=True if body.infer is None else body.infer,
        prompt=body.prompt,
        expires_at=expires_at,
    )
    response.headers[INFER_HEADER] = status
    return {"results": [selfhosted_add_result(a.fact, a.event, a.role) for a in added]}


@router.get("/memories", summary="Get memories", responses=answers(answer.SelfhostedMemories))
async def list_memories(
    request: Request,
    facts: FactsDep,
    user_id: Text | None = None,
    run_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
    top_k: int | None = Query(None, ge=0, le=MAX_LIMIT, description="At most this many (100)."),
    show_expired: bool = Query(False, description="Also expired memories."),
) -> dict[str, Any]:
    """Memories of the given ids, oldest first. Without any id this lists every memory and
    needs an admin key."""
    ids = {"user_id": user_id, "agent_id": agent_id, "app_id": app_id, "run_id": run_id}
    translation = merge_ids(Translation(), ids)
    await admin_unless_named(request, translation)
    limit = DEFAULT_LIST_TOP_K if top_k is None else top_k
    if not limit:
        return {"results": []}
    page = await facts.get_all(
        **translation.store_args(), limit=limit, include_expired=show_expired
    )  # the oldest `limit`: one page of the store, whatever it holds
    return {"results": [selfhosted_memory(fact) for fact in page]}


@router.delete("/memories", summary="Delete all memories", responses=answers(answer.Message))
async def delete_memories(
    request: Request,
    facts: FactsDep,
    user_id: Text | None = None,
    run_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
) -> dict[str, Any]:
    """Delete the memories of the given ids; without any id, every memory (admin key)."""
    ids = {"user_id": user_id, "agent_id": agent_id, "app_id": app_id, "run_id": run_id}
    translation = merge_ids(Translation(), ids)
    await admin_unless_pinned(request, translation)
    await facts.delete_all(**translation.scope)
    return {"message": "All relevant memories deleted"}


@router.get(
    "/memories/{memory_id}", summary="Get a memory", responses=answers(answer.SelfhostedMemory)
)
async def get_one(memory_id: Text, facts: FactsDep) -> dict[str, Any]:
    return selfhosted_memory(await get_memory(facts, memory_id))


@router.put("/memories/{memory_id}", summary="Update a memory", responses=answers(answer.Message))
async def update_one(memory_id: Text, body: MemoryUpdate, facts: FactsDep) -> dict[str, Any]:
    """Replace the text, merge metadata keys and/or set the expiry (``expiration_date``; an
    explicit null clears it)."""
    expiry = update_expiry(body.expiration_date, "expiration_date" in body.model_fields_set)
    text = next((t for t in (body.text, body.data, body.memory) if t is not None), None)
    if text is None and body.metadata is None and expiry is KEEP:
        raise InvalidRequestError("give text, metadata and/or expiration_date", field="text")
    with memory_not_found(memory_id):
        await facts.update(
            fact_id=memory_id, content=text, metadata=body.metadata, expires_at=expiry
        )
    return {"message": "Memory updated successfully!"}


@router.delete(
    "/memories/{memory_id}", summary="Delete a memory", responses=answers(answer.Message)
)
async def delete_one(memory_id: Text, facts: FactsDep) -> dict[str, Any]:
    with memory_not_found(memory_id):
        await facts.delete(fact_id=memory_id)
    return {"message": "Memory deleted successfully"}


@router.get(
    "/memories/{memory_id}/history",
    summary="Get memory history",
    responses=answers(answer.SelfhostedHistory),
)
async def history(memory_id: Text, facts: FactsDep) -> list[dict[str, Any]]:
    """Every ADD, UPDATE and DELETE of the memory, oldest first."""
    with memory_not_found(memory_id):
        events = await facts.history(fact_id=memory_id)
    return [selfhosted_history_entry(event) for event in events]


@router.post("/search", summary="Search memories", responses=answers(answer.SelfhostedMemories))
async def search(request: Request, body: SearchRequest, facts: FactsDep) -> dict[str, Any]:
    """The ``top_k`` memories most relevant to ``query`` (best first, ``score`` in [0, 1]),
    among those of the given ids. ``filters`` is mem0's filter language, where, as on mem0's
    server, a key that is not a filter field is a metadata key: ``{"topic": "food"}``."""
    translation = merge_ids(translate(body.filters, flat_metadata=True), _ids(body))
    require_entity(request, translation, "search")
    found = await search_facts(
        facts,
        body.query,
        translation,
        limit=DEFAULT_SEARCH_TOP_K if body.top_k is None else body.top_k,
        threshold=body.threshold,
        include_expired=bool(body.show_expired),
    )
    return {"results": [selfhosted_memory(fact) for fact in found]}


@router.post("/reset", summary="Reset all memories (admin key)", responses=answers(answer.Message))
@destructive
async def reset(request: Request, facts: FactsDep) -> dict[str, Any]:
    """Delete every memory (the facts store only; memio's other stores are untouched)."""
    await require_admin(request)
    await facts.delete_all()
    return {"message": "All memories reset"}


@router.get(
    "/configure",
    summary="Current configuration, secrets redacted (admin key)",
    dependencies=[Depends(require_admin)],
)
async def get_configuration(request: Request) -> dict[str, Any]:
    """memio's configuration as loaded from its YAML file: providers, embedder, extraction LLM,
    limits and key names. Keys, passwords, tokens and credentials in URLs are replaced by
    ``***``."""
    return redacted_config(request.app.state.config)


@router.post("/configure", include_in_schema=False)
async def set_configuration() -> None:
    """405 (``Allow: GET``): the configuration is read here, never written; not in the OpenAPI
    document, which lists what memio accepts."""
    raise HTTPException(
        405,
        detail="memio is configured by its YAML file, not over HTTP (edit memio-server.yaml "
        "(or $MEMIO_CONFIG) and restart the server)",
        headers={"Allow": "GET"},
    )


@router.get(
    "/entities",
    summary="Users, agents and runs with memories",
    responses=answers(answer.SelfhostedEntities),
)
async def entities(facts: FactsDep) -> list[dict[str, Any]]:
    return [selfhosted_entity(entity) for entity in await facts.entities()]


@router.delete(
    "/entities/{entity_type}/{entity_id:path}",
    summary="Delete an entity's memories",
    responses=answers(answer.Message),
)
async def delete_entity(
    entity_type: EntityType, entity_id: Text, facts: FactsDep
) -> dict[str, Any]:
    await facts.delete_all(**{entity_field(entity_type): entity_id})
    return {"message": "Entity deleted successfully."}


class KeyCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(pattern=KEY_NAME_PATTERN, description="The key's name in memio.")


def _key_item(key: KeyInfo) -> dict[str, Any]:
    return {
        "id": key.name,
        "label": key.name,
        "key_prefix": key.key_prefix,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
    }


@router.get("/api-keys", summary="List API keys (admin key)", dependencies=[Depends(require_admin)])
async def list_api_keys(request: Request) -> list[dict[str, Any]]:
    """The keys created at run time (memio's /v1/keys), never the keys themselves."""
    return [_key_item(key) for key in await list_keys(request) if key.source == "api"]


@router.post(
    "/api-keys",
    status_code=201,
    summary="Create an API key (admin key)",
    dependencies=[Depends(require_admin)],
)
async def create_api_key(request: Request, body: KeyCreateRequest) -> dict[str, Any]:
    """An operator key named `label`; the answer holds the key, shown this once."""
    created = await create_key(request, name=body.label, scope=Scope())
    return {**_key_item(key_info(created.stored)), "key": created.key}


@router.delete(
    "/api-keys/{key_id}",
    summary="Revoke an API key (admin key)",
    dependencies=[Depends(require_admin)],
)
async def revoke_api_key(request: Request, key_id: str) -> dict[str, Any]:
    await revoke_key(request, key_id)
    return {"message": f"API key {key_id!r} revoked"}


def _unsupported_route(reason: str) -> Any:
    async def not_supported() -> None:
        raise NotSupportedError(f"not supported by memio: {reason}")

    return not_supported


for (_method, _path), _reason in UNSUPPORTED.items():
    router.add_api_route(
        _path,
        _unsupported_route(_reason),
        methods=[_method],
        include_in_schema=False,
        name=f"mem0_unsupported_{_method.lower()}_{_path.strip('/').replace('/', '_')}",
    )


# -- configuration view ---------------------------------------------------------------------


def redacted_config(config: Any) -> dict[str, Any]:
    """The server config as JSON without secrets: values under secret-looking keys are
    ``***``, as are passwords inside URLs and ``password=...`` connection strings; API keys
    are listed by name only."""
    data = config.model_dump(mode="json")
    auth = data.get("auth", {})
    data["auth"] = {
        "enabled": bool(getattr(config, "auth_enabled", False)),
        "public_docs": auth.get("public_docs", False),
        "jwt": auth.get("jwt"),
        "key_store": auth.get("key_store"),
        "api_keys": [
            {
                "name": key.get("name"),
                "admin": key.get("admin", False),
                "rate_limit": key.get("rate_limit"),
                **{name: key.get(name) for name in SCOPE_FIELDS if key.get(name)},
            }
            for key in auth.get("api_keys", [])
        ],
    }
    return _redact(data)


def _redact(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item, key) for item in value]
    if key and _SECRET_KEY.search(key) and value not in (None, "", False):
        return value if isinstance(value, bool | int | float) else REDACTED
    if isinstance(value, str):
        return redacted(value)
    return value
