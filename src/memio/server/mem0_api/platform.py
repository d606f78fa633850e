"""The mem0 platform dialect: what `mem0ai`'s MemoryClient, AsyncMemoryClient and the npm client
call, served from memio's facts store.

Paths keep mem0's trailing slashes. The current SDKs (Python 2.x, npm 3.x) use ``/v1/ping/``,
``/v3/memories/add/``, ``/v3/memories/`` (get_all), ``/v3/memories/search/``,
``/v1/memories/{id}/`` (get, update, delete), ``/v1/memories/`` (delete_all),
``/v1/memories/{id}/history/``, ``/v1/entities/``, ``/v2/entities/{type}/{name}/`` and
``/v1/batch/``; mem0ai 1.x clients use ``POST /v1/memories/`` (add), ``POST /v2/memories/``
(get_all), ``/v2/memories/search/`` and ``/v1/memories/search/``, which answer bare lists where
those clients expect them.

Decisions (see docs/mem0-compat.md):

- ``infer`` (default true, as on the platform) extracts facts with ``extraction.llm`` when one is
  configured; without one the messages are stored as given. Every add answer says which happened
  in the ``X-Memio-Infer`` header and the ``memio_infer`` field: ``extracted``, ``off`` (infer
  false) or ``unavailable`` (infer requested, no LLM configured).
- ``async_mode`` is accepted and ignored: memio always processes the add before answering, and
  answers the synchronous shape (``{"results": [...]}``).
- An add whose content is already stored in exactly the same scope returns the stored memory with
  ``event: "UPDATE"`` when its metadata was merged in, else ``event: "NONE"`` (memio's facts
  store never keeps duplicates).
- ``/v1/ping/`` answers ``org_id: "memio"`` and ``project_id: "memio-<key name>"``
  (``memio-default`` with auth off), stable across restarts, and ``user_email: null`` (so the
  SDKs' telemetry is not given an identity).
- ``/v1/entities/`` is counted by the facts store (every user, agent, app and run id with
  memories). Deleting an entity never given memories is 404 (`memio.server.mem0_api.entities`).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from memio.errors import InvalidRequestError, NotFoundError
from memio.models import KEEP, Fact, validate_metadata
from memio.pagination import MAX_LIMIT, check_limit
from memio.protocols import FactStore
from memio.ranking import SearchMode
from memio.server.auth import principal_of
from memio.server.deps import TOO_DEEP, FactsDep
from memio.server.expiry import (
    EXPIRATION_DATE,
    MEM0_DATE_SCHEMA,
    mem0_expiry,
    mem0_time,
    update_expiry,
)
from memio.server.links import link_to
from memio.server.mem0_api import responses as answer
from memio.server.mem0_api.core import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_TOP_K,
    INFER_HEADER,
    Added,
    admin_unless_pinned,
    collect,
    entity_field,
    entity_registry,
    get_memory,
    memory_not_found,
    page_of,
    parse_messages,
    require_entity,
    search_facts,
    store_messages,
)
from memio.server.mem0_api.filters import WILDCARD, Translation, merge_ids, translate
from memio.server.mem0_api.responses import answers
from memio.server.mem0_api.shapes import (
    ENTITY_FIELDS,
    platform_add_result,
    platform_entity,
    platform_history_entry,
    platform_memory,
    project_fields,
)
from memio.server.routing import make_router
from memio.server.rules import (
    ENTITY_FILTER,
    METADATA,
    NOT_SUPPORTED,
    TEXT,
    Doc,
    EntityFilterText,
    EntityType,
    Mem0Filters,
    Mem0Messages,
    Mem0MetadataFilter,
    Mem0MetadataFilterText,
    MetadataIn,
    Text,
    any_of_required,
    names_entity,
    one_of_query,
)
from memio.server.strict import IGNORED

__all__ = ["ORG_ID", "router"]

router = make_router(unknown_input="report", tags=["mem0 platform"])

ORG_ID = "memio"
_REQUEST = ConfigDict(extra="allow")


# -- request bodies ---------------------------------------------------------------------------


class EntityIds(BaseModel):
    model_config = _REQUEST

    user_id: Text | None = None
    agent_id: Text | None = None
    app_id: Text | None = None
    run_id: Text | None = None

    def ids(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in ENTITY_FIELDS}


# An add names its entity once: by top-level ids or by ids in `filters` (not both, which could
# contradict each other), and filters hold nothing but ids.
_ADD_FILTERS = {
    **ENTITY_FILTER,
    "properties": {name: {**TEXT, "not": {"const": WILDCARD}} for name in ENTITY_FIELDS},
}
_ADD_RULES = {
    "allOf": [
        names_entity().keywords,
        {
            "anyOf": [
                {"properties": {"filters": {"type": "null"}}},
                {"properties": {name: {"type": "null"} for name in ENTITY_FIELDS}},
            ]
        },
    ]
}
_NOT_SUPPORTED = WithJsonSchema(NOT_SUPPORTED)


class AddBody(EntityIds):
    model_config = _REQUEST | ConfigDict(json_schema_extra=_ADD_RULES)

    messages: Mem0Messages = Field(
        description="Messages ({role, content}); a string is one user message."
    )
    metadata: MetadataIn | None = None
    infer: bool = Field(default=True, description="Extract facts with the configured LLM.")
    filters: Annotated[dict[str, Any], Doc(_ADD_FILTERS)] | None = Field(
        default=None, description="Entity ids, as filters."
    )
    async_mode: bool | None = Field(
        default=None, description="Ignored: memio answers when done.", json_schema_extra=IGNORED
    )
    output_format: str | None = None
    prompt: str | None = Field(default=None, description="Extraction instructions (infer only).")
    custom_instructions: str | None = Field(
        default=None, description="The platform's name for extraction instructions (as prompt)."
    )
    expiration_date: str | None = Field(
        default=None, description=EXPIRATION_DATE, json_schema_extra=MEM0_DATE_SCHEMA
    )
    timestamp: Annotated[int | float | str | None, _NOT_SUPPORTED] = None


class ListBody(EntityIds):
    model_config = _REQUEST | ConfigDict(json_schema_extra=names_entity().keywords)

    filters: Mem0Filters | None = None
    metadata: Mem0MetadataFilter | None = None
    categories: list[Text] | None = None
    page: Annotated[int, Doc(minimum=1)] | None = None
    page_size: Annotated[int, Doc(minimum=1, maximum=MAX_LIMIT)] | None = None
    show_expired: bool | None = Field(default=None, description="Also expired memories.")
    start_date: str | None = Field(
        default=None,
        description="Only memories created from then on (a day, UTC, or a timestamp).",
        json_schema_extra=MEM0_DATE_SCHEMA,
    )
    end_date: str | None = Field(
        default=None,
        description="Only memories created until then (a day, UTC, inclusive, or a timestamp).",
        json_schema_extra=MEM0_DATE_SCHEMA,
    )


class SearchBody(ListBody):
    query: Text
    page: int | None = Field(
        default=None, description="Ignored by search.", json_schema_extra=IGNORED
    )
    page_size: int | None = Field(
        default=None, description="Ignored by search.", json_schema_extra=IGNORED
    )
    top_k: Annotated[int, Doc(minimum=1, maximum=MAX_LIMIT)] | None = Field(
        default=None, description="At most this many results (default 10)."
    )
    limit: Annotated[int, Doc(minimum=1, maximum=MAX_LIMIT)] | None = Field(
        default=None, description="Same as top_k."
    )
    threshold: Annotated[float, Doc(minimum=0, maximum=1)] | None = Field(
        default=None, description="Minimum score (0..1)."
    )
    rerank: bool | None = Field(
        default=None,
        description="true: rank by keyword and meaning fused (memio's hybrid search, no LLM).",
    )
    keyword_search: bool | None = Field(
        default=None, description="true: keyword matches join the ranking (hybrid search)."
    )
    fields: list[str] | None = Field(default=None, description="Only these fields per result.")
    output_format: str | None = None


class UpdateBody(BaseModel):
    model_config = _REQUEST | ConfigDict(
        json_schema_extra=any_of_required(("text", "metadata", "expiration_date")).keywords
    )

    text: Text | None = None
    metadata: MetadataIn | None = None
    timestamp: Annotated[int | float | str | None, _NOT_SUPPORTED] = None
    expiration_date: str | None = Field(
        default=None,
        description=EXPIRATION_DATE + " An explicit null clears it.",
        json_schema_extra=MEM0_DATE_SCHEMA,
    )


_MEMORY_IDS = Annotated[list[Text], Doc(minItems=1, maxItems=MAX_LIMIT)]
_UPDATE_ITEM = {
    "type": "object",
    "properties": {
        "memory_id": TEXT,
        "text": TEXT,
        "metadata": METADATA,
    },
    "required": ["memory_id"],
    "anyOf": [{"required": ["text"]}, {"required": ["metadata"]}],
}


class BatchBody(BaseModel):
    """Memories to delete: ``memories`` (each with ``memory_id``) or ``memory_ids``."""

    # A delete refuses a top-level field it does not know (memio.server.strict), so the document
    # says so: additionalProperties false.
    model_config = _REQUEST | ConfigDict(
        json_schema_extra={
            **any_of_required(("memories", "memory_ids")).keywords,
            "additionalProperties": False,
        }
    )

    memories: (
        Annotated[
            list[dict[str, Any]],
            Doc(
                minItems=1,
                maxItems=MAX_LIMIT,
                items={
                    "type": "object",
                    "properties": {"memory_id": TEXT},
                    "required": ["memory_id"],
                },
            ),
        ]
        | None
    ) = None
    memory_ids: _MEMORY_IDS | None = None


class BatchUpdateBody(BatchBody):
    """Memories to update: each with ``memory_id`` and ``text`` and/or ``metadata``."""

    model_config = _REQUEST | ConfigDict(json_schema_extra=any_of_required(("memories",)).keywords)

    memories: (
        Annotated[list[dict[str, Any]], Doc(minItems=1, maxItems=MAX_LIMIT, items=_UPDATE_ITEM)]
        | None
    ) = None
    memory_ids: Annotated[list[str] | None, WithJsonSchema({"type": "null"})] = Field(
        default=None, description="Not for updates: give memories with their changes."
    )


class FeedbackBody(BaseModel):
    model_config = _REQUEST

    memory_id: Text
    feedback: Literal["POSITIVE", "NEGATIVE", "VERY_NEGATIVE"] | None = None
    feedback_reason: str | None = None


def reject_unsupported(**values: Any) -> None:
    """Options memio cannot honour: refusing them beats silently ignoring what was asked."""
    reasons = {"timestamp": "memio sets created_at and updated_at itself"}
    for name, value in values.items():
        if value is not None:
            raise InvalidRequestError(f"not supported: {reasons[name]}", field=name)


def list_filter(body: ListBody) -> Translation:
    """The body's filters plus the older top-level fields (entity ids, ``metadata``,
    ``categories``), as one translation."""
    parts: list[dict[str, Any]] = []
    if body.filters:
        parts.append(body.filters)
    if body.metadata:
        parts.append({"metadata": body.metadata})
    if body.categories:
        parts.append({"categories": {"in": body.categories}})
    if body.start_date is not None:
        start, _ = mem0_time(body.start_date, field="start_date", day_end=False)
        parts.append({"created_at": {"gte": start.isoformat()}})
    if body.end_date is not None:
        end, day = mem0_time(body.end_date, field="end_date", day_end=True)
        parts.append({"created_at": {"lt" if day else "lte": end.isoformat()}})
    raw = parts[0] if len(parts) == 1 else {"AND": parts} if parts else None
    return merge_ids(translate(raw), body.ids())


def search_mode(*flags: bool | None) -> SearchMode:
    """mem0 searches by meaning unless asked for more (`keyword_search`, `rerank`): memio's
    answer to either is its hybrid ranking, so scores and thresholds stay mem0's by default."""
    return "hybrid" if any(flags) else "semantic"


def _key_name(request: Request) -> str:
    principal = principal_of(request)
    return "default" if principal.kind == "anonymous" else principal.name


def _project_id(request: Request) -> str:
    return f"memio-{_key_name(request)}"


def _page_numbers(request: Request, body: ListBody | None = None) -> tuple[int, int, bool]:
    """(page, page_size, asked): from the query string, else the body; page 1 of 100 by
    default."""
    values = {}
    for name in ("page", "page_size"):
        raw = request.query_params.get(name)
        if raw is None and body is not None:
            raw = getattr(body, name)
        if raw is not None:
            try:
                values[name] = int(raw)
            except ValueError:
                raise InvalidRequestError("must be an integer", field=name) from None
    page = values.get("page", 1)
    if page < 1:
        raise InvalidRequestError("must be 1 or more", field="page")
    size = check_limit(values.get("page_size", DEFAULT_PAGE_SIZE), field="page_size")
    return page, size, bool(values)


def _paginated(
    request: Request, results: Sequence[Any], total: int, page: int, size: int
) -> dict[str, Any]:
    """mem0's page answer: `results` is page `page` of `size` out of `total` items."""
    more = page * size < total
    return {
        "count": total,
        "next": link_to(request, page=page + 1, page_size=size) if more else None,
        "previous": link_to(request, page=page - 1, page_size=size) if page > 1 else None,
        "results": list(results),
    }


async def _memory_page(
    request: Request, facts: FactStore, translation: Translation, page: int, size: int, **kw: Any
) -> dict[str, Any]:
    found, total = await page_of(facts, translation, page=page, size=size, **kw)
    return _paginated(request, [platform_memory(fact) for fact in found], total, page, size)


def _add_answer(response: Response, added: list[Added], status: str) -> dict[str, Any]:
    response.headers[INFER_HEADER] = status
    return {
        "results": [platform_add_result(item.fact, item.event) for item in added],
        "memio_infer": status,
    }


def _query_filters(raw: str | None, field: str = "filters") -> dict[str, Any] | None:
    """``filters`` (or ``metadata``) in a query string: JSON, or the Python dict repr the Python
    SDK sends."""
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except RecursionError:
        raise InvalidRequestError(TOO_DEEP, field=field) from None
    except ValueError:
        try:
            value = ast.literal_eval(raw)
        # Deep nesting makes Python's parser give up with MemoryError or RecursionError.
        except (MemoryError, RecursionError):
            raise InvalidRequestError(TOO_DEEP, field=field) from None
        except (ValueError, SyntaxError):
            raise InvalidRequestError("is not a JSON object", field=field) from None
    if not isinstance(value, dict):
        raise InvalidRequestError("must be a JSON object", field=field)
    return value


# -- routes -------------------------------------------------------------------------------


@router.get("/v1/ping/", summary="Ping (mem0 SDK start-up check)", responses=answers(answer.Ping))
async def ping(request: Request) -> dict[str, Any]:
    """What the SDKs read when they start: ``status``, ``org_id`` and ``project_id``."""
    return {
        "status": "ok",
        "message": "memio speaks the mem0 platform API",
        "org_id": ORG_ID,
        "project_id": _project_id(request),
        "user_email": None,
    }


async def _add(request: Request, response: Response, body: AddBody, facts: FactStore) -> Any:
    reject_unsupported(timestamp=body.timestamp)
    expires_at = mem0_expiry(body.expiration_date)
    messages = parse_messages(body.messages)
    given = translate(body.filters)
    if given.filters is not None:
        raise InvalidRequestError(
            'add takes only entity ids in filters (e.g. {"user_id": "alice"})',
            field="filters",
        )
    scope = merge_ids(given, body.ids())
    if scope.filters is not None:
        raise InvalidRequestError(
            "the entity ids in filters contradict the top-level ones", field="filters"
        )
    if not scope.scope and not principal_of(request).bound:
        raise InvalidRequestError(
            f"add needs at least one of {', '.join(ENTITY_FIELDS)}", field="user_id"
        )
    added, status = await store_messages(
        request,
        facts,
        messages,
        scope=scope.scope,
        metadata=body.metadata,
        infer=body.infer,
        prompt=body.prompt if body.prompt is not None else body.custom_instructions,
        expires_at=expires_at,
    )
    return _add_answer(response, added, status)


@router.post("/v3/memories/add/", summary="Add memories", responses=answers(answer.PlatformAdded))
async def add_v3(request: Request, response: Response, body: AddBody, facts: FactsDep) -> Any:
    """Store messages as memories (``infer: false``: one memory per non-system message; ``infer:
    true``: the facts the extraction LLM finds, or the messages when none is configured)."""
    return await _add(request, response, body, facts)


@router.post(
    "/v1/memories/", summary="Add memories (mem0ai 1.x)", responses=answers(answer.PlatformAddedV1)
)
async def add_v1(request: Request, response: Response, body: AddBody, facts: FactsDep) -> Any:
    """As ``/v3/memories/add/``; ``output_format: "v1.0"`` answers a bare list."""
    answer = await _add(request, response, body, facts)
    return answer["results"] if body.output_format == "v1.0" else answer


# Read by _page_numbers (query first, then body); declared so the input check knows them, kept
# out of the schema as before (their rules live in _page_numbers: 400 naming the field).
_PAGE = Query(None, include_in_schema=False)
_PAGE_SIZE = Query(None, include_in_schema=False)


@router.post("/v3/memories/", summary="Get all memories", responses=answers(answer.Page))
async def get_all_v3(
    request: Request,
    body: ListBody,
    facts: FactsDep,
    page: str | None = _PAGE,
    page_size: str | None = _PAGE_SIZE,
) -> dict[str, Any]:
    """Memories matching ``filters`` (which must name an entity id), oldest first, a page at a
    time: ``{count, next, previous, results}``."""
    translation = list_filter(body)
    require_entity(request, translation, "get_all")
    page, size, _ = _page_numbers(request, body)
    expired = bool(body.show_expired)
    return await _memory_page(request, facts, translation, page, size, include_expired=expired)


@router.post(
    "/v2/memories/", summary="Get all memories (mem0ai 1.x)", responses=answers(answer.MemoryList)
)
async def get_all_v2(
    request: Request,
    body: ListBody,
    facts: FactsDep,
    page: str | None = _PAGE,
    page_size: str | None = _PAGE_SIZE,
) -> Any:
    """A bare list, or ``{count, next, previous, results}`` when ``page``/``page_size`` are
    given."""
    translation = list_filter(body)
    require_entity(request, translation, "get_all")
    page, size, paged = _page_numbers(request, body)
    expired = bool(body.show_expired)
    if paged:
        return await _memory_page(request, facts, translation, page, size, include_expired=expired)
    return [
        platform_memory(fact) for fact in await collect(facts, translation, include_expired=expired)
    ]


@router.get(
    "/v1/memories/",
    summary="Get all memories (entity ids as query parameters)",
    openapi_extra=one_of_query(*ENTITY_FIELDS),
    responses=answers(answer.MemoryList),
)
async def get_all_v1(
    request: Request,
    facts: FactsDep,
    user_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
    run_id: Text | None = None,
    page: int | None = Query(None, ge=1),
    page_size: int | None = Query(None, ge=1, le=MAX_LIMIT),
) -> Any:
    """A bare list, or ``{count, next, previous, results}`` when ``page``/``page_size`` are
    given."""
    body = ListBody(user_id=user_id, agent_id=agent_id, app_id=app_id, run_id=run_id)
    translation = list_filter(body)
    require_entity(request, translation, "get_all")
    number, size, paged = _page_numbers(request)
    if paged:
        return await _memory_page(request, facts, translation, number, size)
    return [platform_memory(fact) for fact in await collect(facts, translation)]


async def _search(request: Request, body: SearchBody, facts: FactStore) -> list[dict[str, Any]]:
    translation = list_filter(body)
    require_entity(request, translation, "search")
    limit = body.top_k if body.top_k is not None else body.limit
    found = await search_facts(
        facts,
        body.query,
        translation,
        limit=DEFAULT_TOP_K if limit is None else limit,
        threshold=body.threshold,
        mode=search_mode(body.keyword_search, body.rerank),
        include_expired=bool(body.show_expired),
    )
    return [project_fields(platform_memory(fact), body.fields) for fact in found]


@router.post("/v3/memories/search/", summary="Search memories", responses=answers(answer.Searched))
async def search_v3(request: Request, body: SearchBody, facts: FactsDep) -> dict[str, Any]:
    """The ``top_k`` most relevant memories matching ``filters`` (which must name an entity id),
    best first, each with ``score`` in [0, 1]."""
    return {"results": await _search(request, body, facts)}


@router.post(
    "/v2/memories/search/",
    summary="Search memories (mem0ai 1.x)",
    responses=answers(answer.SearchedList),
)
async def search_v2(request: Request, body: SearchBody, facts: FactsDep) -> list[dict[str, Any]]:
    """As ``/v3/memories/search/``, answering a bare list."""
    return await _search(request, body, facts)


@router.post(
    "/v1/memories/search/", summary="Search memories (v1)", responses=answers(answer.SearchedV1)
)
async def search_v1(request: Request, body: SearchBody, facts: FactsDep) -> Any:
    """Top-level entity ids and ``metadata``; a bare list unless ``output_format`` is v1.1."""
    results = await _search(request, body, facts)
    return {"results": results} if body.output_format == "v1.1" else results


@router.get(
    "/v1/memories/search/",
    summary="Search memories (query parameters)",
    openapi_extra=one_of_query(*ENTITY_FIELDS),
    responses=answers(answer.Searched),
)
async def search_get(
    request: Request,
    facts: FactsDep,
    query: Annotated[Text, Query(description="What to look for.")],
    user_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
    run_id: Text | None = None,
    limit: int = Query(DEFAULT_TOP_K, ge=1, le=MAX_LIMIT),
    threshold: float | None = Query(None, ge=0, le=1),
    filters: EntityFilterText | None = Query(None, description="mem0 filters as JSON text."),
) -> dict[str, Any]:
    """As ``/v3/memories/search/``, with the entity ids and ``limit`` in the query string
    (``GET /v1/memories/search``, without the slash, is the local-first API's search)."""
    body = SearchBody(
        query=query,
        user_id=user_id,
        agent_id=agent_id,
        app_id=app_id,
        run_id=run_id,
        filters=_query_filters(filters),
        top_k=limit,
        threshold=threshold,
    )
    return {"results": await _search(request, body, facts)}


def _ignored_query(why: str) -> Any:
    return Query(None, description=f"Ignored: {why}.", json_schema_extra=IGNORED)


_ORG = "memio has one organisation"
_PROJECT = "a key is its project"


@router.delete(
    "/v1/memories/", summary="Delete memories of an entity", responses=answers(answer.Message)
)
async def delete_all(
    request: Request,
    facts: FactsDep,
    user_id: Text | None = None,
    agent_id: Text | None = None,
    app_id: Text | None = None,
    run_id: Text | None = None,
    filters: EntityFilterText | None = Query(None, description="mem0 filters as JSON text."),
    metadata: Mem0MetadataFilterText | None = Query(
        None, description='Only memories with these metadata values, as JSON: {"topic": "games"}.'
    ),
    org_id: str | None = _ignored_query(_ORG),
    org_name: str | None = _ignored_query(_ORG),
    project_id: str | None = _ignored_query(_PROJECT),
    project_name: str | None = _ignored_query(_PROJECT),
) -> dict[str, Any]:
    """Delete the memories of the given entity ids that match ``filters`` and ``metadata``. A
    request that does not pin one entity (an id by equality: ``"*"``, ``in`` or ``OR`` do not)
    may delete across users and needs an admin key. Unknown parameters answer 400."""
    ids = {"user_id": user_id, "agent_id": agent_id, "app_id": app_id, "run_id": run_id}
    given, wanted = _query_filters(filters), _query_filters(metadata, "metadata")
    parts = [part for part in (given, {"metadata": wanted} if wanted else None) if part]
    raw = parts[0] if len(parts) == 1 else {"AND": parts} if parts else None
    translation = merge_ids(translate(raw), ids)
    await admin_unless_pinned(request, translation)
    if translation.filters is None:
        await facts.delete_all(**translation.scope)
    else:
        doomed = await collect(facts, translation)
        if doomed:
            await facts.delete_many(fact_ids=[fact.id for fact in doomed])
    return {"message": "Memories deleted successfully!"}


@router.get(
    "/v1/memories/{memory_id}/", summary="Get a memory", responses=answers(answer.PlatformMemory)
)
async def get_one(memory_id: Text, facts: FactsDep) -> dict[str, Any]:
    return platform_memory(await get_memory(facts, memory_id))


@router.put(
    "/v1/memories/{memory_id}/", summary="Update a memory", responses=answers(answer.UpdatedMemory)
)
async def update_one(memory_id: Text, body: UpdateBody, facts: FactsDep) -> dict[str, Any]:
    """Replace the text, merge metadata keys and/or set the expiry (``expiration_date``; an
    explicit null clears it); answers the updated memory."""
    reject_unsupported(timestamp=body.timestamp)
    expiry = update_expiry(body.expiration_date, "expiration_date" in body.model_fields_set)
    if body.text is None and body.metadata is None and expiry is KEEP:
        raise InvalidRequestError("give text, metadata and/or expiration_date", field="text")
    with memory_not_found(memory_id):
        before = await facts.get(fact_id=memory_id, include_expired=True)
        fact = await facts.update(
            fact_id=memory_id, content=body.text, metadata=body.metadata, expires_at=expiry
        )
    return {
        **platform_memory(fact),
        "text": fact.content,
        "event": "UPDATE",
        "previous_memory": before.content,
    }


@router.delete(
    "/v1/memories/{memory_id}/", summary="Delete a memory", responses=answers(answer.Message)
)
async def delete_one(
    memory_id: Text,
    facts: FactsDep,
    delete_linked: bool = Query(
        False, description="Ignored: memio has no linked memories.", json_schema_extra=IGNORED
    ),
) -> dict[str, Any]:
    with memory_not_found(memory_id):
        await facts.delete(fact_id=memory_id)
    return {"message": "Memory deleted successfully!"}


@router.get(
    "/v1/memories/{memory_id}/history/",
    summary="History of a memory",
    responses=answers(answer.PlatformHistory),
)
async def history(memory_id: Text, facts: FactsDep) -> list[dict[str, Any]]:
    """Every ADD, UPDATE and DELETE of the memory, oldest first (kept after deletion)."""
    with memory_not_found(memory_id):
        events = await facts.history(fact_id=memory_id)
    try:
        fact: Fact | None = await facts.get(fact_id=memory_id)
    except NotFoundError:
        fact = None
    return [platform_history_entry(event, fact) for event in events]


@router.get(
    "/v1/entities/",
    summary="Users, agents, apps and runs with memories",
    responses=answers(answer.EntityPage),
)
async def entities(
    request: Request,
    facts: FactsDep,
    page: str | None = _PAGE,
    page_size: str | None = _PAGE_SIZE,
) -> dict[str, Any]:
    """``{count, next, previous, results}``; each result names the entity (``type``, ``name``)
    and counts its memories. Without ``page``/``page_size`` every entity is in ``results``: the
    SDKs' ``delete_users()`` and ``reset()`` read this one answer and delete what it lists."""
    page, size, paged = _page_numbers(request)
    owner = _key_name(request)
    found = await facts.entities()
    items = [platform_entity(entity, owner=owner, organization=ORG_ID) for entity in found]
    if not paged:
        return _paginated(request, items, len(items), 1, max(len(items), 1))
    start = (page - 1) * size
    return _paginated(request, items[start : start + size], len(items), page, size)


@router.get(
    "/v1/entities/{entity_type}/{entity_id:path}/",
    summary="One entity",
    responses=answers(answer.PlatformEntity),
)
async def entity(
    request: Request, entity_type: EntityType, entity_id: Text, facts: FactsDep
) -> dict[str, Any]:
    field = entity_field(entity_type)
    for entity in await facts.entities(**{field: entity_id}):
        if entity.field == field and entity.value == entity_id:
            return platform_entity(entity, owner=_key_name(request), organization=ORG_ID)
    raise NotFoundError(entity_type, entity_id)


async def _delete_entity(
    request: Request, entity_type: EntityType, entity_id: Text, facts: FactStore
) -> dict[str, Any]:
    """Delete the entity's memories and forget it; 404 when it has none and was never given any
    (`memio.server.mem0_api.entities`). The ids its memories carried beside it stay known, so
    that ``reset()`` can delete them next."""
    field = entity_field(entity_type)
    scope = principal_of(request).scope
    registry = entity_registry(request)
    carried = await facts.entities(**{field: entity_id}, include_expired=True)
    deleted = await facts.delete_all(**{field: entity_id})
    known = await registry.forget(field, entity_id, within=scope)
    await registry.record(
        {**scope.fields(), other.field: other.value}
        for other in carried
        if (other.field, other.value) != (field, entity_id)
    )
    if not deleted and not known:
        raise NotFoundError(entity_type, entity_id)
    return {"message": "Entity deleted successfully."}


@router.delete(
    "/v2/entities/{entity_type}/{entity_id:path}/",
    summary="Delete an entity's memories",
    responses=answers(answer.Message),
)
async def delete_entity_v2(
    request: Request, entity_type: EntityType, entity_id: Text, facts: FactsDep
) -> dict[str, Any]:
    """Deletes every memory of the user (agent, app, run) and forgets it; 404 for one never
    given memories."""
    return await _delete_entity(request, entity_type, entity_id, facts)


@router.delete(
    "/v1/entities/{entity_type}/{entity_id:path}/",
    summary="Delete an entity (v1)",
    responses=answers(answer.Message),
)
async def delete_entity_v1(
    request: Request, entity_type: EntityType, entity_id: Text, facts: FactsDep
) -> dict[str, Any]:
    return await _delete_entity(request, entity_type, entity_id, facts)


def _batch_items(body: BatchBody) -> list[dict[str, Any]]:
    items = body.memories
    if items is None and body.memory_ids is not None:
        items = [{"memory_id": memory_id} for memory_id in body.memory_ids]
    if not items:
        raise InvalidRequestError("give a non-empty list of memories", field="memories")
    if len(items) > MAX_LIMIT:
        raise InvalidRequestError(
            f"at most {MAX_LIMIT} memories per batch, got {len(items)}", field="memories"
        )
    for index, item in enumerate(items):
        memory_id = item.get("memory_id")
        if not isinstance(memory_id, str) or not memory_id:
            raise InvalidRequestError(
                "must be a non-empty string", field=f"memories[{index}].memory_id"
            )
    return items


@router.put("/v1/batch/", summary="Update up to 1000 memories", responses=answers(answer.Message))
async def batch_update(body: BatchUpdateBody, facts: FactsDep) -> dict[str, Any]:
    """Each item: ``memory_id`` and ``text`` and/or ``metadata``. Every id is checked before
    anything is written: one unknown id answers 404 and changes nothing."""
    items = _batch_items(body)
    changes = []
    for index, item in enumerate(items):
        text, metadata = item.get("text"), item.get("metadata")
        if text is None and metadata is None:
            raise InvalidRequestError("give text and/or metadata", field=f"memories[{index}]")
        if text is not None and not isinstance(text, str):
            raise InvalidRequestError("must be a string", field=f"memories[{index}].text")
        if metadata is not None:
            metadata = validate_metadata(metadata, field=f"memories[{index}].metadata")
        changes.append((item["memory_id"], text, metadata))
    for memory_id, _, _ in changes:
        await get_memory(facts, memory_id)
    for memory_id, text, metadata in changes:
        if text is None and not metadata:  # `metadata: {}` alone changes nothing: no write
            continue
        with memory_not_found(memory_id):
            await facts.update(fact_id=memory_id, content=text, metadata=metadata)
    return {"message": f"Successfully updated {len(changes)} memories"}


@router.delete(
    "/v1/batch/", summary="Delete up to 1000 memories", responses=answers(answer.Message)
)
async def batch_delete(body: BatchBody, facts: FactsDep) -> dict[str, Any]:
    """Ids that do not exist are skipped; the message counts the memories deleted."""
    items = _batch_items(body)
    deleted = await facts.delete_many(fact_ids=[item["memory_id"] for item in items])
    return {"message": f"Successfully deleted {deleted} memories"}


@router.post(
    "/v1/feedback/",
    summary="Feedback on a memory (checked, not stored)",
    responses=answers(answer.Feedback),
)
async def feedback(body: FeedbackBody, facts: FactsDep) -> dict[str, Any]:
    """memio does not learn from feedback: the memory is checked to exist and the feedback is
    acknowledged, not stored, and the answer says so."""
    await get_memory(facts, body.memory_id)
    return {
        "id": body.memory_id,
        "feedback": body.feedback,
        "feedback_reason": body.feedback_reason,
        "stored": False,
        "message": "memio does not store feedback; nothing was changed",
    }
