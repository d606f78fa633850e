"""/v1/facts: short statements about a user or an agent (memio 0.3.1 routes plus additions)."""

from __future__ import annotations

from fastapi import Depends, Query, Request, Response, status

from memio.models import FACT_SCOPE, KEEP, Fact, FactEvent, FactInput
from memio.server.auth import require_admin
from memio.server.deps import (
    PAGED,
    RESTORED,
    FactsDep,
    admin_unless_scoped,
    parse_json_filters,
    restored,
    set_next_cursor,
    written,
)
from memio.server.expiry import requested_expiry
from memio.server.routing import make_router
from memio.server.rules import PortableFiltersText, Text
from memio.server.schemas import (
    DeletedCount,
    ExpiredPurge,
    FactBatch,
    FactCount,
    FactCountQuery,
    FactCreate,
    FactEntities,
    FactEntitiesQuery,
    FactRestore,
    FactSearch,
    FactUpdate,
    IdList,
    Restored,
)
from memio.validating.arguments import coerce_items

router = make_router(prefix="/v1/facts", tags=["facts"])

_NO_CONTENT = {"status_code": status.HTTP_204_NO_CONTENT, "response_class": Response}


_STORED = {200: {"description": "Already stored: the fact, with any new metadata merged in"}}


def _created_status(response: Response, stored: list[Fact]) -> None:
    """201 when the call created a fact, 200 when it only found (and maybe merged into) stored
    ones (`Fact.event`)."""
    created = any(fact.event == "ADD" for fact in stored)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    # what each item did (ADD, UPDATE or NONE), in order: 200 alone cannot tell UPDATE from NONE
    response.headers["X-Memio-Events"] = ",".join(str(fact.event) for fact in stored)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Fact,
    summary="Add Fact",
    responses=_STORED,
)
async def add_fact(body: FactCreate, facts: FactsDep, response: Response) -> Fact:
    """Store a fact and return it as stored (201). Content equal to a fact in exactly the same
    scope is that fact (200): new metadata keys are merged into it, otherwise nothing changes. An
    explicit `fact_id` that exists answers 409. `expires_at` or `ttl_seconds` make it expire;
    adding the content of an expired fact again revives it (200)."""
    fact = await facts.add(
        content=body.content,
        user_id=body.user_id,
        agent_id=body.agent_id,
        app_id=body.app_id,
        run_id=body.run_id,
        metadata=body.metadata,
        fact_id=body.fact_id,
        expires_at=requested_expiry(body),
    )
    _created_status(response, [fact])
    return fact


@router.get("", response_model=list[Fact], summary="Get All Facts", responses=PAGED)
async def get_all_facts(
    request: Request,
    response: Response,
    facts: FactsDep,
    user_id: Text | None = None,
    agent_id: Text | None = None,
    limit: int = Query(100, ge=1, le=1000),
    app_id: Text | None = None,
    run_id: Text | None = None,
    filters: PortableFiltersText | None = Query(None, description="Portable filters as JSON text."),
    cursor: str | None = Query(None, description="`X-Next-Cursor` of the previous page."),
    include_expired: bool = Query(False, description="Also list expired facts."),
) -> list[Fact]:
    """Facts in creation order. When more remain, `X-Next-Cursor` and `Link: rel="next"` say how
    to get the next page."""
    page = await facts.get_all(
        user_id=user_id,
        agent_id=agent_id,
        app_id=app_id,
        run_id=run_id,
        filters=parse_json_filters(filters),
        limit=limit,
        cursor=cursor,
        include_expired=include_expired,
    )
    set_next_cursor(request, response, page.next_cursor)
    return list(page)


@router.post("/search", response_model=list[Fact], summary="Search Facts")
async def search_facts(body: FactSearch, facts: FactsDep) -> list[Fact]:
    """Most relevant first; `score` is in [0, 1]."""
    return await facts.search(
        query=body.query,
        user_id=body.user_id,
        agent_id=body.agent_id,
        app_id=body.app_id,
        run_id=body.run_id,
        limit=body.limit,
        filters=body.filters,
        threshold=body.threshold,
        include_expired=body.include_expired,
        search_mode=body.search_mode,
    )


@router.post("/count", response_model=FactCount, summary="Count Facts")
async def count_facts(body: FactCountQuery, facts: FactsDep) -> FactCount:
    """How many facts the listing with these arguments holds over all its pages (a bound key
    counts within its scope)."""
    count = await facts.count(
        user_id=body.user_id,
        agent_id=body.agent_id,
        app_id=body.app_id,
        run_id=body.run_id,
        filters=body.filters,
        include_expired=body.include_expired,
    )
    return FactCount(count=count)


@router.post("/entities", response_model=FactEntities, summary="Entities of the Facts")
async def fact_entities(body: FactEntitiesQuery, facts: FactsDep) -> FactEntities:
    """Every user, agent, app and run id the facts in scope carry, each with its facts counted
    and their first creation and last change, oldest first (a bound key sees its scope's)."""
    found = await facts.entities(
        user_id=body.user_id,
        agent_id=body.agent_id,
        app_id=body.app_id,
        run_id=body.run_id,
        include_expired=body.include_expired,
    )
    return FactEntities(entities=found)


@router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=list[Fact],
    summary="Add Facts (batch)",
    responses={200: {"description": "Every fact was already stored (metadata merged)"}},
)
async def add_facts_batch(body: FactBatch, facts: FactsDep, response: Response) -> list[Fact]:
    """Add up to 1000 facts in one call, each as `POST /v1/facts` would; 201 when at least one
    was created, else 200. An explicit id that exists (or repeats) fails the whole batch with 409
    before anything is written."""
    items = coerce_items(
        FactInput,
        [
            {
                **item.model_dump(exclude_none=True, exclude={"ttl_seconds"}),
                "expires_at": requested_expiry(item, where=f"facts[{i}]."),
            }
            for i, item in enumerate(body.facts)
        ],
        field="facts",
    )
    stored = await facts.add_many(facts=items)
    _created_status(response, stored)
    return stored


@router.post(
    "/restore",
    status_code=status.HTTP_201_CREATED,
    response_model=Restored,
    summary="Restore Fact",
    responses=RESTORED,
    # not in /openapi.json: what a restore accepts (a history consistent with its fact, a
    # triple's own id) is no schema, and a generated client has no use for it
    include_in_schema=False,
)
async def restore_fact(body: FactRestore, facts: FactsDep, response: Response) -> Restored:
    """Write an exported fact with its id, scope, times and history as given (`memio import`
    through a server; operator credential). An id that exists is left untouched (200)."""
    return restored(response, await facts.restore(facts=body.facts, histories=body.histories))


@router.post(
    "/purge",
    response_model=DeletedCount,
    summary="Purge Expired Facts",
    dependencies=[Depends(require_admin)],
)
async def purge_expired_facts(body: ExpiredPurge, facts: FactsDep) -> DeletedCount:
    """Delete every fact that expired at or before `before`, each with a DELETE `reason:
    "expired"` in its history: what the server's sweep does (admin key)."""
    return DeletedCount(deleted=await facts.purge_expired(before=body.before))


@router.delete("/batch", response_model=DeletedCount, summary="Delete Facts (batch)")
async def delete_facts_batch(body: IdList, facts: FactsDep) -> DeletedCount:
    """Delete up to 1000 facts by id; ids that do not exist are skipped."""
    return DeletedCount(deleted=await facts.delete_many(fact_ids=body.ids))


@router.delete(
    "",
    **_NO_CONTENT,
    summary="Delete All Facts",
    dependencies=[Depends(admin_unless_scoped(*FACT_SCOPE))],
)
async def delete_all_facts(
    request: Request,
    facts: FactsDep,
    user_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
    run_id: Text | None = None,
) -> Response:
    """Delete every fact in the scope. Without any scope parameter this wipes the store and needs
    the admin key."""
    deleted = await facts.delete_all(
        user_id=user_id, agent_id=agent_id, app_id=app_id, run_id=run_id
    )
    return written(request, DeletedCount(deleted=deleted))


@router.get("/{fact_id}", response_model=Fact, summary="Get Fact")
async def get_fact(
    fact_id: Text,
    facts: FactsDep,
    include_expired: bool = Query(False, description="Also find the fact once it expired."),
) -> Fact:
    """An expired fact answers 404 unless `include_expired`."""
    return await facts.get(fact_id=fact_id, include_expired=include_expired)


@router.get("/{fact_id}/history", response_model=list[FactEvent], summary="Get Fact History")
async def get_fact_history(fact_id: Text, facts: FactsDep) -> list[FactEvent]:
    """Every ADD/UPDATE/DELETE of the fact, oldest first; kept after the fact is deleted."""
    return await facts.history(fact_id=fact_id)


@router.put("/{fact_id}", response_model=Fact, summary="Update Fact")
async def update_fact(fact_id: Text, body: FactUpdate, facts: FactsDep) -> Fact:
    """Replace the content, merge metadata keys and/or set the expiry (`expires_at`, an explicit
    null clears it, or `ttl_seconds`); returns the stored fact. A missing id answers 404."""
    given = body.model_fields_set
    expires_at = requested_expiry(body) if given & {"expires_at", "ttl_seconds"} else KEEP
    return await facts.update(
        fact_id=fact_id, content=body.content, metadata=body.metadata, expires_at=expires_at
    )


@router.delete("/{fact_id}", **_NO_CONTENT, summary="Delete Fact")
async def delete_fact(fact_id: Text, facts: FactsDep) -> None:
    await facts.delete(fact_id=fact_id)
