"""The local-first "Mem0 Memory System" REST API, over memio's facts store.

Its paths have no trailing slash, which is how they share ``/v1/memories`` with the mem0
platform API (whose SDKs always send one): ``/v1/memories/x`` is this dialect, ``/v1/memories/x/``
the platform's. Both are routes of their own, so neither is ever redirected (307) to the other.

- ``POST /v1/memories``: store messages (``{messages, user_id, metadata}``, as mem0's add);
- ``GET /v1/memories/search?query=&user_id=&limit=``: the most relevant memories, with ``score``;
- ``GET|PUT|DELETE /v1/memories/{id}``: one memory;
- ``GET /v1/memories/user/{user_id}?page=&page_size=``: a user's memories, oldest first;
- ``GET /v1/health`` (no credential), ``/v1/status`` (operator credential), ``/v1/metrics`` (admin
  key): what ``/health``, ``/status`` and ``/metrics`` say, as JSON in the envelope.

Every answer is its envelope: ``{"success": true, "data", "message", "timestamp"}``; memories are
objects with ``content``. Every error, including those refused before routing (401, 413, 429),
is ``{"success": false, "error": {"code", "message", "details"}, "timestamp"}`` with its codes;
a request that does not match the schema is its ``INVALID_REQUEST`` (400), not a 422, and an
unknown or expired key its ``UNAUTHORIZED`` (401), not memio's 403. Rate-limited
credentials get the ``X-RateLimit-*`` headers (memio's defaults for a bound key are the document's:
100 a minute, bursts of 20 in 10 seconds).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from memio.errors import InvalidRequestError
from memio.models import Fact
from memio.pagination import MAX_LIMIT
from memio.server.auth import principal_of, require_admin, require_operator
from memio.server.deps import FactsDep, parse_json_filters
from memio.server.errors import ErrorInfo, ErrorStyle
from memio.server.mem0_api import core
from memio.server.mem0_api import responses as answer
from memio.server.mem0_api.filters import Translation, merge_ids, translate
from memio.server.mem0_api.responses import answers
from memio.server.mem0_api.shapes import ENTITY_FIELDS, local_memory
from memio.server.routers import ops
from memio.server.routing import make_router
from memio.server.rules import (
    EntityFilterText,
    Mem0Messages,
    MetadataIn,
    Text,
    any_of_required,
    names_entity,
    one_of_query,
)

__all__ = ["LocalFirstError", "LocalFirstErrors", "router"]

DEFAULT_SEARCH_LIMIT = core.DEFAULT_TOP_K
_REQUEST = ConfigDict(extra="allow")
# memio's error codes where the document names its own (others: memio's, upper-cased)
_CODES = {
    "not_found": "MEMORY_NOT_FOUND",
    "rate_limited": "RATE_LIMIT_EXCEEDED",
    "validation_error": "INVALID_REQUEST",
}


def timestamp() -> str:
    """Now, as the document writes it: ``2025-07-30T20:15:00Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def envelope(data: Any, message: str) -> dict[str, Any]:
    return {"success": True, "data": data, "message": message, "timestamp": timestamp()}


# -- errors -------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="INVALID_REQUEST, UNAUTHORIZED, FORBIDDEN, MEMORY_NOT_FOUND, ...")
    message: str
    details: dict[str, Any] = Field(
        description="request_id; the field at fault, validation issues or the failing provider "
        "when known"
    )


class LocalFirstError(BaseModel):
    """An error of the local-first API."""

    success: Literal[False] = False
    error: ErrorDetail
    timestamp: str


class LocalFirstErrors(ErrorStyle):
    """The document's error envelope and codes; a schema mismatch (422 elsewhere) is its
    INVALID_REQUEST, 400."""

    models = (LocalFirstError,)

    def render(self, error: ErrorInfo) -> tuple[int, dict[str, Any]]:
        status = 400 if error.status == 422 else error.status
        code = _CODES.get(error.code, error.code.upper())
        if error.bad_credential:  # the document: UNAUTHORIZED is "invalid or missing API key"
            status, code = 401, "UNAUTHORIZED"
        details = {
            "request_id": error.request_id,
            "field": error.field,
            "errors": error.errors,
            "provider": error.provider,
            "operation": error.operation,
        }
        body = {
            "success": False,
            "error": {
                "code": code,
                "message": error.detail,
                "details": {name: value for name, value in details.items() if value is not None},
            },
            "timestamp": timestamp(),
        }
        return status, body

    def documented(self, status: int) -> tuple[int, str]:
        return (400 if status == 422 else status), LocalFirstError.__name__


router = make_router(
    unknown_input="report", error_style=LocalFirstErrors(), tags=["mem0 local-first"]
)


# -- request bodies -----------------------------------------------------------------------------


class AddRequest(BaseModel):
    model_config = _REQUEST | ConfigDict(json_schema_extra=names_entity(filters=None).keywords)

    messages: Mem0Messages = Field(
        description="Messages ({role, content}); a string is one user message."
    )
    user_id: Text | None = None
    agent_id: Text | None = None
    app_id: Text | None = None
    run_id: Text | None = None
    metadata: MetadataIn | None = None
    infer: bool = Field(default=True, description="Extract facts with the configured LLM.")
    prompt: str | None = Field(default=None, description="Extraction instructions (infer only).")


# An update changes something (content, text or metadata) and names the text once.
_GIVEN = {"not": {"type": "null"}}
_UPDATE_RULES = {
    "allOf": [
        any_of_required(("content", "text", "metadata")).keywords,
        {
            "not": {
                "required": ["content", "text"],
                "properties": {"content": _GIVEN, "text": _GIVEN},
            }
        },
    ]
}


class UpdateRequest(BaseModel):
    model_config = _REQUEST | ConfigDict(json_schema_extra=_UPDATE_RULES)

    content: Text | None = Field(default=None, description="New text of the memory.")
    text: Text | None = Field(default=None, description="mem0's name for content.")
    metadata: MetadataIn | None = Field(default=None, description="Keys to merge in.")


# -- routes -------------------------------------------------------------------------------------


def _plural(count: int) -> str:
    return f"{count} memor{'y' if count == 1 else 'ies'}"


@router.post("/v1/memories", summary="Add memories", responses=answers(answer.LocalAddAnswer))
async def add(
    request: Request, response: Response, body: AddRequest, facts: FactsDep
) -> dict[str, Any]:
    """Store messages for a user (agent, app or run; at least one id unless the key is bound to
    one). With ``infer`` (the default) the configured extraction LLM picks the facts; without
    one, or with ``infer: false``, each non-system message is stored as it is (``memio_infer``
    and ``X-Memio-Infer`` say which)."""
    messages = core.parse_messages(body.messages)
    ids = {name: getattr(body, name) for name in ENTITY_FIELDS}
    scope = merge_ids(Translation(), ids).scope
    if not scope and not principal_of(request).bound:
        raise InvalidRequestError(
            f"add needs at least one of {', '.join(ENTITY_FIELDS)}", field="user_id"
        )
    added, status = await core.store_messages(
        request,
        facts,
        messages,
        scope=scope,
        metadata=body.metadata,
        infer=body.infer,
        prompt=body.prompt,
    )
    response.headers[core.INFER_HEADER] = status
    memories = [{**local_memory(item.fact), "event": item.event} for item in added]
    return envelope({"memories": memories, "memio_infer": status}, f"{_plural(len(added))} stored")


@router.get(
    "/v1/memories/search",
    summary="Search memories",
    openapi_extra=one_of_query(*ENTITY_FIELDS),
    responses=answers(answer.LocalSearchAnswer),
)
async def search(
    request: Request,
    facts: FactsDep,
    query: Annotated[Text, Query(description="What to look for.")],
    user_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
    run_id: Text | None = None,
    limit: int = Query(DEFAULT_SEARCH_LIMIT, ge=1, le=MAX_LIMIT),
    threshold: float | None = Query(None, ge=0, le=1, description="Minimum score (0..1)."),
    filters: EntityFilterText | None = Query(None, description="mem0 filters as JSON text."),
) -> dict[str, Any]:
    """The ``limit`` memories most relevant to ``query`` (best first, ``score`` in [0, 1]) of the
    entity named (a bound key names its own)."""
    ids = {"user_id": user_id, "agent_id": agent_id, "app_id": app_id, "run_id": run_id}
    translation = merge_ids(translate(parse_json_filters(filters)), ids)
    core.require_entity(request, translation, "search")
    found = await core.search_facts(facts, query, translation, limit=limit, threshold=threshold)
    memories = [local_memory(fact) for fact in found]
    data = {"query": query, "memories": memories, "count": len(memories)}
    return envelope(data, f"{_plural(len(memories))} found")


@router.get(
    "/v1/memories/user/{user_id}",
    summary="Memories of a user",
    responses=answers(answer.LocalUserAnswer),
)
async def user_memories(
    request: Request,
    user_id: Text,
    facts: FactsDep,
    page: int = Query(1, ge=1),
    page_size: int = Query(core.DEFAULT_PAGE_SIZE, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """The user's memories, oldest first, a page at a time (``total`` counts them all)."""
    translation = merge_ids(Translation(), {"user_id": user_id})
    found, total = await core.page_of(facts, translation, page=page, size=page_size)
    memories = [local_memory(fact) for fact in found]
    data = {
        "user_id": user_id,
        "memories": memories,
        "total": total,
        "page": page,
        "page_size": page_size,
    }
    return envelope(data, f"{_plural(len(memories))} of {total} for {user_id!r}")


@router.get(
    "/v1/memories/{memory_id}", summary="Get a memory", responses=answers(answer.LocalMemoryAnswer)
)
async def get_one(memory_id: Text, facts: FactsDep) -> dict[str, Any]:
    fact = await core.get_memory(facts, memory_id)
    return envelope(local_memory(fact), "Memory retrieved")


@router.put(
    "/v1/memories/{memory_id}",
    summary="Update a memory",
    responses=answers(answer.LocalMemoryAnswer),
)
async def update_one(memory_id: Text, body: UpdateRequest, facts: FactsDep) -> dict[str, Any]:
    """Replace the text (``content``, or mem0's ``text``) and/or merge metadata keys; answers the
    memory as stored."""
    if body.content is not None and body.text is not None:
        raise InvalidRequestError("give content or text, not both", field="text")
    content = body.content if body.content is not None else body.text
    if content is None and body.metadata is None:
        raise InvalidRequestError("give content and/or metadata", field="content")
    with core.memory_not_found(memory_id):
        fact: Fact = await facts.update(fact_id=memory_id, content=content, metadata=body.metadata)
    return envelope(local_memory(fact), "Memory updated")


@router.delete(
    "/v1/memories/{memory_id}",
    summary="Delete a memory",
    responses=answers(answer.LocalDeleteAnswer),
)
async def delete_one(memory_id: Text, facts: FactsDep) -> dict[str, Any]:
    with core.memory_not_found(memory_id):
        await facts.delete(fact_id=memory_id)
    return envelope({"id": memory_id, "deleted": True}, "Memory deleted")


@router.get(
    "/v1/health",
    summary="Liveness (no credential), in the envelope",
    responses=answers(answer.LocalHealthAnswer),
)
async def health(request: Request) -> dict[str, Any]:
    """What ``GET /health`` says: the process answers; which stores are configured."""
    return envelope(ops.health_report(request).model_dump(), "memio is running")


@router.get(
    "/v1/status",
    summary="Providers, versions and counts (operator credential), in the envelope",
    dependencies=[Depends(require_operator)],
    responses=answers(answer.LocalStatusAnswer),
)
async def status(request: Request) -> dict[str, Any]:
    """What ``GET /status`` says: versions, auth, each store's provider and item count."""
    return envelope((await ops.status_report(request)).model_dump(), "status of every store")


@router.get(
    "/v1/metrics",
    summary="Request and provider metrics (admin key), as JSON in the envelope",
    dependencies=[Depends(require_admin)],
    responses=answers(answer.LocalMetricsAnswer),
)
async def metrics(request: Request) -> dict[str, Any]:
    """The counters of ``GET /metrics`` (Prometheus text there): requests by route and status,
    answer times, provider errors."""
    return envelope(request.app.state.metrics.summary(), "metrics since the server started")
