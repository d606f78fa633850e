"""memio records as mem0's JSON: memory objects, add results, history entries, entities.

mem0 callers index into these dicts by name (the SDKs return ``response.json()`` unchanged), so the
field names are mem0's: ``memory`` is the text, ``hash`` its MD5 (as mem0 computes it), timestamps
are ISO 8601 strings. memio has no categoriser: ``categories`` is the list stored under the
``categories`` metadata key (empty when there is none), which is also what category filters test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from memio.models import FACT_SCOPE, Fact, FactEntity, FactEvent, FactEventType
from memio.server.expiry import expiration_date

__all__ = [
    "ENTITY_FIELDS",
    "ENTITY_TYPES",
    "categories_of",
    "entity_type",
    "iso",
    "local_memory",
    "memory_hash",
    "platform_add_result",
    "platform_entity",
    "platform_history_entry",
    "platform_memory",
    "project_fields",
    "selfhosted_add_result",
    "selfhosted_entity",
    "selfhosted_history_entry",
    "selfhosted_memory",
]

ENTITY_FIELDS = FACT_SCOPE
# entity type in paths and listings -> the scope field it names
ENTITY_TYPES = {"user": "user_id", "agent": "agent_id", "app": "app_id", "run": "run_id"}
_TYPE_OF_FIELD = {field: type_ for type_, field in ENTITY_TYPES.items()}
CATEGORIES_KEY = "categories"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def memory_hash(content: str) -> str:
    """mem0's ``hash`` of a memory: the hex MD5 of its text (a fingerprint, not a security
    measure)."""
    return hashlib.md5(content.encode(), usedforsecurity=False).hexdigest()


def categories_of(metadata: Mapping[str, Any] | None) -> list[str]:
    value = (metadata or {}).get(CATEGORIES_KEY)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


# -- memories -----------------------------------------------------------------------------------


def platform_memory(fact: Fact) -> dict[str, Any]:
    """The platform's memory object (``GET /v1/memories/{id}/``, listings, search with
    ``score``)."""
    body: dict[str, Any] = {
        "id": fact.id,
        "memory": fact.content,
        "user_id": fact.user_id,
        "agent_id": fact.agent_id,
        "app_id": fact.app_id,
        "run_id": fact.run_id,
        "hash": memory_hash(fact.content),
        "metadata": dict(fact.metadata),
        "categories": categories_of(fact.metadata),
        "created_at": iso(fact.created_at),
        "updated_at": iso(fact.updated_at),
        "expiration_date": expiration_date(fact.expires_at),
    }
    if fact.score is not None:
        body["score"] = fact.score
    return body


def selfhosted_memory(fact: Fact) -> dict[str, Any]:
    """The memory item of mem0's open-source `Memory` (what its self-hosted server returns):
    scope ids only when set, as mem0 does."""
    body: dict[str, Any] = {
        "id": fact.id,
        "memory": fact.content,
        "hash": memory_hash(fact.content),
        "metadata": dict(fact.metadata),
        "created_at": iso(fact.created_at),
        "updated_at": iso(fact.updated_at),
    }
    if fact.expires_at is not None:
        body["expiration_date"] = expiration_date(fact.expires_at)
    for name in ENTITY_FIELDS:
        value = getattr(fact, name)
        if value is not None:
            body[name] = value
    if fact.score is not None:
        body["score"] = fact.score
    return body


def local_memory(fact: Fact) -> dict[str, Any]:
    """The memory object of the local-first API: ``content`` is the text. memio returns no
    ``embedding`` (vectors stay in the store) and keeps no per-memory ``relationships``."""
    body: dict[str, Any] = {
        "id": fact.id,
        "content": fact.content,
        **{name: getattr(fact, name) for name in ENTITY_FIELDS},
        "metadata": dict(fact.metadata),
        "created_at": iso(fact.created_at),
        "updated_at": iso(fact.updated_at),
    }
    if fact.score is not None:
        body["score"] = fact.score
    return body


def project_fields(memory: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """Only the named fields (the platform's ``fields`` option); ``id`` is always kept."""
    if not fields:
        return dict(memory)
    wanted = {"id", *fields}
    return {key: value for key, value in memory.items() if key in wanted}


# -- add results --------------------------------------------------------------------------------


def platform_add_result(fact: Fact, event: str) -> dict[str, Any]:
    """One item of an add answer: both spellings callers read (``memory`` and
    ``data.memory``)."""
    return {
        "id": fact.id,
        "event": event,
        "memory": fact.content,
        "data": {"memory": fact.content},
        "user_id": fact.user_id,
        "agent_id": fact.agent_id,
        "app_id": fact.app_id,
        "run_id": fact.run_id,
        "metadata": dict(fact.metadata),
        "created_at": iso(fact.created_at),
    }


def selfhosted_add_result(fact: Fact, event: str, role: str | None) -> dict[str, Any]:
    return {
        "id": fact.id,
        "memory": fact.content,
        "event": event,
        "actor_id": None,
        "role": role,
    }


# -- history ------------------------------------------------------------------------------------


def _history_memory_values(event: FactEvent) -> tuple[str | None, str | None]:
    if event.event is FactEventType.DELETE:
        return event.old_content, None
    return event.old_content, event.new_content


def _event_scope(event: FactEvent, fact: Fact | None) -> dict[str, str | None]:
    """Whose the memory is: the event says (also once the fact is deleted); a provider that
    cannot know leaves it empty, and then the live fact, if any, says."""
    source: Any = event
    if fact is not None and all(getattr(event, name) is None for name in ENTITY_FIELDS):
        source = fact
    return {name: getattr(source, name) for name in ENTITY_FIELDS}


def platform_history_entry(event: FactEvent, fact: Fact | None) -> dict[str, Any]:
    """One entry of ``GET /v1/memories/{id}/history/``, with the scope ids of the memory
    (`_event_scope`); ``old_metadata``/``new_metadata`` carry memio's record of the metadata
    change (read back by memio's own mem0 provider in platform mode)."""
    old, new = _history_memory_values(event)
    metadata = event.new_metadata if event.new_metadata is not None else event.old_metadata
    at = iso(event.created_at)
    return {
        "id": event.id,
        "memory_id": event.fact_id,
        "input": [],
        "old_memory": old,
        "new_memory": new,
        "event": event.event.value,
        **_event_scope(event, fact),
        "metadata": dict(metadata) if metadata is not None else None,
        "old_metadata": _copy(event.old_metadata),
        "new_metadata": _copy(event.new_metadata),
        "categories": categories_of(metadata),
        "created_at": at,
        "updated_at": at,
    }


def _copy(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(metadata) if metadata is not None else None


def selfhosted_history_entry(event: FactEvent) -> dict[str, Any]:
    """One row of mem0's history table, as its server returns it, plus the scope ids memio
    records with each event (set ones only, as mem0 does for memories)."""
    old, new = _history_memory_values(event)
    at = iso(event.created_at)
    body: dict[str, Any] = {
        "id": event.id,
        "memory_id": event.fact_id,
        "old_memory": old,
        "new_memory": new,
        "event": event.event.value,
        "created_at": at,
        "updated_at": at,
        "is_deleted": event.event is FactEventType.DELETE,
        "actor_id": None,
        "role": None,
    }
    for name, value in _event_scope(event, None).items():
        if value is not None:
            body[name] = value
    return body


# -- entities -----------------------------------------------------------------------------------


def entity_type(entity: FactEntity) -> str:
    """The mem0 entity type (user, agent, app, run) of a scope id."""
    return _TYPE_OF_FIELD[entity.field]


def platform_entity(entity: FactEntity, *, owner: str, organization: str) -> dict[str, Any]:
    return {
        "id": entity.value,
        "name": entity.value,
        "type": entity_type(entity),
        "total_memories": entity.facts,
        "created_at": iso(entity.created_at),
        "updated_at": iso(entity.updated_at),
        "owner": owner,
        "organization": organization,
        "metadata": {},
    }


def selfhosted_entity(entity: FactEntity) -> dict[str, Any]:
    return {
        "id": entity.value,
        "type": entity_type(entity),
        "total_memories": entity.facts,
        "created_at": iso(entity.created_at),
        "updated_at": iso(entity.updated_at),
    }
