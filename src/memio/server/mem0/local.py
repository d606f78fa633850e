"""GET aliases in the style of local-first mem0 REST servers, over the platform handlers.

- ``GET /v1/memories/search?query=&user_id=&limit=`` (also with a trailing slash): the platform
  search, answering ``{"results": [...]}`` with ``score``;
- ``GET /v1/memories/user/{user_id}?page=&page_size=``: the platform get_all of that user,
  answering ``{count, next, previous, results}``.

They are registered before the platform router, so ``/v1/memories/search/`` is never read as the
id of a memory.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from memio.pagination import MAX_LIMIT
from memio.server.deps import FactsDep, parse_json_filters
from memio.server.mem0 import platform
from memio.server.mem0.responses import Page, Searched, answers
from memio.server.routing import make_router
from memio.server.rules import EntityFilterText, Text, one_of_query

__all__ = ["router"]

router = make_router(tags=["mem0 local-first aliases"])


@router.get(
    "/v1/memories/search",
    summary="Search memories (GET)",
    openapi_extra=one_of_query("user_id", "agent_id", "app_id", "run_id"),
    responses=answers(Searched),
)
@router.get("/v1/memories/search/", include_in_schema=False)
async def search(
    request: Request,
    facts: FactsDep,
    query: Annotated[Text, Query(description="What to look for.")],
    user_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
    run_id: Text | None = None,
    limit: int = Query(platform.DEFAULT_TOP_K, ge=1, le=MAX_LIMIT),
    threshold: float | None = Query(None, ge=0, le=1),
    filters: EntityFilterText | None = Query(None, description="mem0 filters as JSON text."),
) -> dict[str, Any]:
    """The most relevant memories of an entity (name at least one id), best first."""
    body = platform.SearchBody(
        query=query,
        user_id=user_id,
        agent_id=agent_id,
        app_id=app_id,
        run_id=run_id,
        filters=parse_json_filters(filters),
        top_k=limit,
        threshold=threshold,
    )
    return await platform.search_v3(request, body, facts)


@router.get(
    "/v1/memories/user/{user_id}", summary="Memories of a user (GET)", responses=answers(Page)
)
async def user_memories(
    request: Request,
    user_id: Text,
    facts: FactsDep,
    page: int | None = Query(None, ge=1),
    page_size: int | None = Query(None, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """The user's memories, oldest first, a page at a time."""
    return await platform.get_all_v3(request, platform.ListBody(user_id=user_id), facts)
