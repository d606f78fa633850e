"""What every mem0 dialect does the same way (the platform API, mem0's self-hosted server and
the local-first Memory System API): each dialect's router parses its own request shapes and answers
in its own, and calls these for the work between.

- Messages: mem0's ``messages`` parsed once (`parse_messages`) and stored as facts
  (`store_messages`): with ``infer`` the configured extraction LLM picks the facts; without one,
  only what the user said is kept; ``infer: false`` keeps every non-system message. The scopes
  added to are recorded (`entity_registry`, `memio.server.mem0_api.entities`).
- Scope: a read must name an entity (`require_entity`), and a request that may reach every user's
  memories needs the admin key (`admin_unless_named`, `admin_unless_pinned`); a bound credential
  is confined by its stores either way (memio.scoping).
- Reads: memories by id in mem0's words (`get_memory`, `memory_not_found`), one page of a listing
  with its total from the store's pages and count (`page_of`), every page (`collect`, for a bare
  list or a filtered delete), searches (`search_facts`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request

from memio.errors import InvalidRequestError, NotFoundError
from memio.models import Fact, FactInput, validate_metadata
from memio.pagination import MAX_LIMIT, check_limit
from memio.protocols import FactStore
from memio.ranking import SearchMode
from memio.server.auth import principal_of, require_admin_unless_bound
from memio.server.mem0_api.entities import EntityRegistry
from memio.server.mem0_api.extraction import ExtractionLLM
from memio.server.mem0_api.filters import Translation
from memio.server.mem0_api.shapes import ENTITY_FIELDS, ENTITY_TYPES
from memio.server.rules import EntityType, Text

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TOP_K",
    "INFER_HEADER",
    "Added",
    "admin_unless_named",
    "admin_unless_pinned",
    "collect",
    "entity_field",
    "entity_registry",
    "get_memory",
    "memory_not_found",
    "page_of",
    "parse_messages",
    "require_entity",
    "search_facts",
    "store_messages",
]

INFER_HEADER = "X-Memio-Infer"
DEFAULT_PAGE_SIZE = 100
DEFAULT_TOP_K = 10
_ENTITY_HINT = 'e.g. {"user_id": "alice"}'


@dataclass
class Added:
    fact: Fact
    event: str  # ADD, UPDATE (already stored, metadata merged) or NONE (stored unchanged)
    role: str | None


def parse_messages(raw: Any, *, where: str = "messages") -> list[dict[str, str]]:
    """mem0's ``messages``: a list of ``{role, content}``, one such dict, or a string (one user
    message). Only text content is supported."""
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    elif isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequestError("must be a non-empty list of {role, content}", field=where)
    out = []
    for index, item in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidRequestError("must be an object {role, content}", field=here)
        role = item.get("role", "user")
        content = item.get("content")
        if not isinstance(role, str) or not role:
            raise InvalidRequestError("must be a non-empty string", field=f"{here}.role")
        if not isinstance(content, str):
            raise InvalidRequestError(
                "must be a string (memio stores text messages only)", field=f"{here}.content"
            )
        out.append({"role": role, "content": content})
    return out


def infer_status(request: Request, infer: bool) -> tuple[str, ExtractionLLM | None]:
    if not infer:
        return "off", None
    llm = request.app.state.extraction_llm
    return ("extracted", llm) if llm is not None else ("unavailable", None)


async def store_messages(
    request: Request,
    facts: FactStore,
    messages: Sequence[Mapping[str, str]],
    *,
    scope: Mapping[str, str],
    metadata: Mapping[str, Any] | None,
    infer: bool,
    prompt: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[list[Added], str]:
    """Store what an add asks for; returns the added memories and the infer status."""
    clean = validate_metadata(metadata, field="metadata")
    status, llm = infer_status(request, infer)
    if llm is not None:
        items = [(text, None) for text in await llm.extract(messages, prompt=prompt)]
    else:
        # Without an LLM to pick facts, `infer` keeps what the user said (an assistant's reply
        # is not a memory of the user); `infer: false` stores every non-system message.
        items = [
            (m["content"], m["role"])
            for m in messages
            if (m["role"] == "user" if infer else m["role"] != "system") and m["content"].strip()
        ]
    if not items:
        return [], status
    # Recorded first: a record that cannot be written refuses the add before anything is stored.
    bound = principal_of(request).scope.fields()
    await entity_registry(request).record([{**scope, **bound}])
    stored = await facts.add_many(
        facts=[
            FactInput(content=text, metadata=clean, expires_at=expires_at, **scope)
            for text, _ in items
        ]
    )
    added = [
        Added(fact, fact.event or "ADD", role)
        for fact, (_, role) in zip(stored, items, strict=True)
    ]
    return added, status


def entity_registry(request: Request) -> EntityRegistry:
    return request.app.state.entity_registry


def require_entity(request: Request, translation: Translation, what: str) -> None:
    """mem0 reads must name an entity; a bound credential's scope names it implicitly."""
    if not translation.names_entity and not principal_of(request).bound:
        raise InvalidRequestError(
            f"{what} must name at least one of {', '.join(ENTITY_FIELDS)} ({_ENTITY_HINT})",
            field="filters",
        )


async def admin_unless_named(request: Request, translation: Translation) -> None:
    """A read naming no entity lists every user's memories: admin key (or a bound key, which its
    stores confine)."""
    if not translation.names_entity:
        await require_admin_unless_bound(request)


async def admin_unless_pinned(request: Request, translation: Translation) -> None:
    """A delete that does not pin one entity (an id by equality: ``"*"``, ``in`` or ``OR`` do
    not) may delete across users: admin key (or a bound key, which its stores confine)."""
    if not translation.pins_entity:
        await require_admin_unless_bound(request)


async def collect(
    facts: FactStore, translation: Translation, *, include_expired: bool = False
) -> list[Fact]:
    """Every fact the translation selects, oldest first (all pages)."""
    items: list[Fact] = []
    cursor = None
    while True:
        page = await facts.get_all(
            **translation.store_args(),
            limit=MAX_LIMIT,
            cursor=cursor,
            include_expired=include_expired,
        )
        items.extend(page)
        cursor = page.next_cursor
        if not cursor:
            return items


async def page_of(
    facts: FactStore,
    translation: Translation,
    *,
    page: int,
    size: int,
    include_expired: bool = False,
) -> tuple[list[Fact], int]:
    """Page `page` (from 1) of `size` facts the translation selects, oldest first, and how many
    there are in all: the store's count and its pages up to that one, never the whole store."""
    args = translation.store_args()
    total = await facts.count(**args, include_expired=include_expired)
    skip = (page - 1) * size
    if skip >= total:
        return [], total
    cursor = None
    while skip:  # the pages before, in the store's largest pages: a call costs per page
        passed = await facts.get_all(
            **args, limit=min(skip, MAX_LIMIT), cursor=cursor, include_expired=include_expired
        )
        cursor, skip = passed.next_cursor, skip - len(passed)
        if cursor is None:  # facts went away meanwhile
            return [], total
    found = await facts.get_all(**args, limit=size, cursor=cursor, include_expired=include_expired)
    return list(found), total


async def search_facts(
    facts: FactStore,
    query: str,
    translation: Translation,
    *,
    limit: int,
    threshold: float | None,
    mode: SearchMode = "semantic",
    include_expired: bool = False,
) -> list[Fact]:
    return await facts.search(
        query=query,
        **translation.store_args(),
        limit=check_limit(limit, field="top_k"),
        threshold=threshold,
        search_mode=mode,
        include_expired=include_expired,
    )


@contextmanager
def memory_not_found(memory_id: Text) -> Iterator[None]:
    """A missing fact is reported in mem0's words: ``memory '<id>' not found``."""
    try:
        yield
    except NotFoundError:
        raise NotFoundError("memory", memory_id) from None


async def get_memory(facts: FactStore, memory_id: Text) -> Fact:
    """A memory by id, expired or not (as mem0's get finds it)."""
    with memory_not_found(memory_id):
        return await facts.get(fact_id=memory_id, include_expired=True)


def entity_field(entity_type: EntityType) -> str:
    field = ENTITY_TYPES.get(entity_type)
    if field is None:
        raise InvalidRequestError(
            f"unknown entity type {entity_type!r} (known: {', '.join(ENTITY_TYPES)})",
            field="entity_type",
        )
    return field
