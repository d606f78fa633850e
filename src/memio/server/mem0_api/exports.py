"""The mem0 platform's memory exports (``/v1/exports/``): `MemoryClient.create_memory_export`
and `get_memory_export`, served from memio's facts store.

- ``POST /v1/exports/`` (``schema`` plus entity filters: ``user_id``, ``agent_id``, ``app_id``,
  ``run_id``; others, such as ``session_id``, are named in ``X-Memio-Ignored``) exports the
  memories in scope at once and answers
  ``201 {"message", "id"}``; at least one entity id is needed unless the credential is bound to
  a user (400 otherwise, as on the platform).
- ``POST /v1/exports/get/`` (``memory_export_id`` or entity filters) and ``GET /v1/exports/``
  (entity filters as query parameters) answer that export, or the caller's latest one with
  exactly those filters; none is 404.
- An export holds every memory in scope as a line of memio's dump format (`memio.dump`: id,
  content, scope, metadata, timestamps and history), under ``memories``. The ``schema`` is kept
  and returned, not applied: the platform fills it with an LLM, memio exports the memories as
  they are stored.
- Exports live in the server's memory (the latest `MAX_EXPORTS`), visible only to the credential
  that made them; a restart forgets them.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from memio.dump import FORMAT, VERSION, DumpItem, encode_item
from memio.errors import NotFoundError
from memio.models import utcnow
from memio.server.auth import principal_of
from memio.server.deps import FactsDep
from memio.server.mem0_api.core import collect, require_entity
from memio.server.mem0_api.filters import merge_ids, translate
from memio.server.mem0_api.platform import EntityIds
from memio.server.mem0_api.shapes import ENTITY_FIELDS
from memio.server.routing import make_router
from memio.server.rules import Text, any_of_required

__all__ = ["MAX_EXPORTS", "router"]

router = make_router(unknown_input="report", tags=["mem0 platform"])

MAX_EXPORTS = 100
CREATED = "Memory export request received. The export will be ready in a few seconds."
_REQUEST = ConfigDict(extra="allow")


class CreateExport(EntityIds):
    model_config = _REQUEST | ConfigDict(json_schema_extra=any_of_required(ENTITY_FIELDS).keywords)

    schema_: dict[str, Any] | str = Field(
        alias="schema",
        description="The structure the export should follow (kept as given, not applied).",
    )


class GetExport(EntityIds):
    memory_export_id: Text | None = None


class Created(BaseModel):
    message: str
    id: str


class Export(BaseModel):
    """A finished export: the memories in scope as lines of memio's dump format."""

    id: str
    status: str
    created_at: str
    filters: dict[str, str]
    schema_: Any = Field(alias="schema")
    format: str
    version: int
    count: int
    memories: list[dict[str, Any]]


def _registry(request: Request) -> OrderedDict[str, dict[str, Any]]:
    state = request.app.state
    if not hasattr(state, "mem0_exports"):
        state.mem0_exports = OrderedDict()
    return state.mem0_exports


@router.post(
    "/v1/exports/",
    status_code=201,
    summary="Create a memory export",
    responses={201: {"model": Created, "description": "The export's id"}},
)
async def create_export(request: Request, body: CreateExport, facts: FactsDep) -> dict[str, Any]:
    """Export every memory the filters select, with its history, now."""
    ids = body.ids()
    translation = merge_ids(translate(None), ids)
    require_entity(request, translation, "an export")
    memories = []
    for fact in await collect(facts, translation):
        item = DumpItem("fact", model=fact, history=await facts.history(fact_id=fact.id))
        memories.append(json.loads(encode_item(item)))
    export = {
        "id": str(uuid.uuid4()),
        "status": "completed",
        "created_at": utcnow().isoformat(),
        "filters": {name: value for name, value in ids.items() if value is not None},
        "schema": body.schema_,
        "format": FORMAT,
        "version": VERSION,
        "count": len(memories),
        "memories": memories,
        "_owner": principal_of(request).name,
    }
    registry = _registry(request)
    registry[export["id"]] = export
    while len(registry) > MAX_EXPORTS:
        registry.popitem(last=False)
    return {"message": CREATED, "id": export["id"]}


def _find(request: Request, export_id: str | None, filters: EntityIds) -> dict[str, Any]:
    owner = principal_of(request).name
    mine = [e for e in _registry(request).values() if e["_owner"] == owner]
    if export_id is not None:
        found = next((e for e in mine if e["id"] == export_id), None)
    else:
        wanted = {name: value for name, value in filters.ids().items() if value is not None}
        found = next((e for e in reversed(mine) if e["filters"] == wanted), None)
    if found is None:
        raise NotFoundError("memory export", export_id or "for these filters")
    return {key: value for key, value in found.items() if key != "_owner"}


@router.post(
    "/v1/exports/get/",
    summary="Get a memory export",
    responses={200: {"model": Export, "description": Export.__doc__}},
)
async def get_export(request: Request, body: GetExport) -> dict[str, Any]:
    """The export `memory_export_id`, else the caller's latest export with these filters."""
    return _find(request, body.memory_export_id, body)


@router.get(
    "/v1/exports/",
    summary="Get the latest memory export",
    responses={200: {"model": Export, "description": Export.__doc__}},
)
async def latest_export(
    request: Request,
    user_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
    run_id: Text | None = None,
) -> dict[str, Any]:
    """The caller's latest export with exactly these filters."""
    filters = EntityIds(user_id=user_id, agent_id=agent_id, app_id=app_id, run_id=run_id)
    return _find(request, None, filters)
