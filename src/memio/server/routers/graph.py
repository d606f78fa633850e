"""/v1/graph: knowledge-graph triples with stable ids (memio 0.3.1 routes plus additions)."""

from __future__ import annotations

from fastapi import Depends, Query, Request, Response, status

from memio.models import GraphResult
from memio.server.deps import (
    PAGED,
    RESTORED,
    GraphDep,
    admin_unless_scoped,
    restored,
    set_next_cursor,
    written,
)
from memio.server.routing import make_router
from memio.server.rules import Text
from memio.server.schemas import DeletedCount, GraphAdd, GraphSearch, Restored, TripleRestore

router = make_router(prefix="/v1/graph", tags=["graph"])

_NO_CONTENT = {"status_code": status.HTTP_204_NO_CONTENT, "response_class": Response}
_SHARED = Query(
    False, description="With user_id: also triples stored without a user (shared knowledge)."
)


@router.post("/triples", **_NO_CONTENT, summary="Add Triples")
async def add_triples(body: GraphAdd, graph: GraphDep, request: Request) -> Response:
    """Store triples. Re-adding a triple in the same scope keeps its id and merges its metadata.
    Triple ids appear in the listings and work with `DELETE /v1/graph/triples/{triple_id}`. With
    `Prefer: return=representation`: 200 and the stored triples."""
    stored = await graph.add(
        triples=[triple.model_dump(exclude_none=True) for triple in body.triples],
        user_id=body.user_id,
    )
    return written(request, stored)


@router.post(
    "/restore",
    status_code=status.HTTP_201_CREATED,
    response_model=Restored,
    summary="Restore Triple",
    responses=RESTORED,
    # not in /openapi.json: what a restore accepts (a history consistent with its fact, a
    # triple's own id) is no schema, and a generated client has no use for it
    include_in_schema=False,
)
async def restore_triple(body: TripleRestore, graph: GraphDep, response: Response) -> Restored:
    """Write an exported triple with its id, owner and time as given (`memio import` through a
    server; operator credential). An id that exists is left untouched (200)."""
    return restored(response, await graph.restore(triples=body.triples))


@router.get("/triples", response_model=GraphResult, summary="Get All Triples", responses=PAGED)
async def get_all_triples(
    request: Request,
    response: Response,
    graph: GraphDep,
    user_id: Text | None = None,
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
    include_shared: bool = _SHARED,
) -> GraphResult:
    """Triples in creation order; `next_cursor` (also `X-Next-Cursor` and `Link: rel="next"`) is
    set when more remain."""
    result = await graph.get_all(
        user_id=user_id, limit=limit, cursor=cursor, include_shared=include_shared
    )
    set_next_cursor(request, response, result.next_cursor)
    return result


@router.get("/entities/{entity}", response_model=GraphResult, summary="Get Entity")
async def get_entity(
    entity: Text,
    graph: GraphDep,
    user_id: Text | None = None,
    depth: int = Query(1, ge=1, le=10, description="Hops to expand from the entity."),
    include_shared: bool = _SHARED,
) -> GraphResult:
    """Triples with the entity as subject or object (expanded `depth` hops) and the entities they
    reach; with `include_shared` the walk crosses the user's and the shared triples alike. An
    entity with no triples in scope answers empty `triples` and `nodes` (as memio 0.3.1 did)."""
    return await graph.get(
        entity=entity, user_id=user_id, depth=depth, include_shared=include_shared
    )


@router.post("/search", response_model=GraphResult, summary="Search Graph")
async def search_graph(body: GraphSearch, graph: GraphDep) -> GraphResult:
    """Triples matching the query by words or meaning, best first; `scores` align with `triples`."""
    return await graph.search(
        query=body.query,
        user_id=body.user_id,
        limit=body.limit,
        include_shared=body.include_shared,
    )


@router.delete("/entities/{entity}", **_NO_CONTENT, summary="Delete Entity")
async def delete_entity(
    entity: Text, graph: GraphDep, request: Request, user_id: Text | None = None
) -> Response:
    """Delete every triple touching the entity, within `user_id`'s scope when given."""
    return written(
        request, DeletedCount(deleted=await graph.delete(entity=entity, user_id=user_id))
    )


@router.delete("/triples/{triple_id}", **_NO_CONTENT, summary="Delete Triple")
async def delete_triple(
    triple_id: Text, graph: GraphDep, request: Request, user_id: Text | None = None
) -> Response:
    """Delete one triple, within `user_id`'s scope when given."""
    deleted = await graph.delete(triple_id=triple_id, user_id=user_id)
    return written(request, DeletedCount(deleted=deleted))


@router.delete(
    "",
    **_NO_CONTENT,
    summary="Delete All Graph",
    dependencies=[Depends(admin_unless_scoped("user_id"))],
)
async def delete_all_graph(
    graph: GraphDep, request: Request, user_id: Text | None = None
) -> Response:
    """Delete every triple of `user_id`. Without `user_id` this wipes the store and needs the
    admin key."""
    return written(request, DeletedCount(deleted=await graph.delete_all(user_id=user_id)))
