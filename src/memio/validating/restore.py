"""The checked arguments of `restore` (memio import / migrate): items as another store held
them, ids and timestamps kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from memio.checked import fact_scope_of
from memio.errors import InvalidRequestError
from memio.models import (
    FACT_SCOPE,
    Document,
    Fact,
    FactEvent,
    FactEventType,
    Triple,
    utc_timestamp,
    utcnow,
    validate_metadata,
)
from memio.providers.shared import new_id
from memio.validating.arguments import coerce_items, optional_text, require_text
from memio.validating.graph_items import plan_triples

__all__ = ["MAX_RESTORE_BATCH", "restorable_documents", "restorable_facts", "restorable_triples"]


_M = TypeVar("_M", bound=BaseModel)
_R = TypeVar("_R", Fact, Document)

# At most this many items per `restore` call (as for batch adds).
MAX_RESTORE_BATCH = 1000


def restorable_facts(
    facts: Any, histories: Mapping[str, Sequence[FactEvent]] | None
) -> list[tuple[Fact, list[FactEvent]]]:
    """The checked arguments of `FactStore.restore`: each fact with both timestamps (a missing
    one is the other) and its events oldest first, each naming the fact; an empty history
    becomes the ADD that made the fact (a source that keeps none, e.g. the mem0 platform)."""
    out = []
    for i, given in enumerate(_restore_batch(Fact, facts, field="facts")):
        fact = _restored(given, f"facts[{i}]", FACT_SCOPE)
        history = (histories or {}).get(fact.id) or []
        events = [FactEvent.model_validate(event) for event in history]
        for event in events:
            if event.fact_id != fact.id:
                raise InvalidRequestError(
                    f"holds an event of fact {event.fact_id!r}", field=f"histories.{fact.id}"
                )
        if not events:
            events = [
                FactEvent(
                    id=new_id(),
                    fact_id=fact.id,
                    event=FactEventType.ADD,
                    new_content=fact.content,
                    new_metadata=dict(fact.metadata),
                    created_at=fact.created_at,
                    **fact_scope_of(fact),
                )
            ]
        events.sort(key=lambda event: utc_timestamp(event.created_at, field="created_at"))
        out.append((fact, events))
    return out


def restorable_documents(documents: Any) -> list[Document]:
    """The checked argument of `DocumentStore.restore`: both timestamps set (a missing one is
    the other, or now), no score."""
    batch = _restore_batch(Document, documents, field="documents")
    return [
        _restored(document, f"documents[{i}]", ("user_id",)) for i, document in enumerate(batch)
    ]


def _restored(item: _R, where: str, scope: Sequence[str]) -> _R:
    """A fact or document to restore, checked (errors name `where`), with both timestamps and
    no score."""
    require_text(item.id, field=f"{where}.id")
    require_text(item.content, field=f"{where}.content")
    for name in scope:
        optional_text(getattr(item, name), field=f"{where}.{name}")
    validate_metadata(item.metadata, field=f"{where}.metadata")
    created, updated = _restored_times(item.created_at, item.updated_at, where)
    return item.model_copy(update={"score": None, "created_at": created, "updated_at": updated})


def restorable_triples(triples: Any) -> list[Triple]:
    """The checked argument of `GraphStore.restore`: triples as `plan_triples` would store them
    (same id rule: an id that is not the triple's own is refused), their created_at kept."""
    out = []
    for i, triple in enumerate(_restore_batch(Triple, triples, field="triples")):
        [planned] = plan_triples([triple.model_copy(update={"id": None})], triple.user_id)
        if triple.id is not None and triple.id != planned.id:
            raise InvalidRequestError(
                f"is not the id of this triple in this scope ({planned.id!r})",
                field=f"triples[{i}].id",
            )
        created, _ = _restored_times(triple.created_at, None, f"triples[{i}]")
        out.append(planned.model_copy(update={"created_at": created}))
    return out


def _restore_batch(model: type[_M], items: Any, *, field: str) -> list[_M]:
    batch = coerce_items(model, items, field=field)
    if len(batch) > MAX_RESTORE_BATCH:
        raise InvalidRequestError(
            f"holds {len(batch)} items; at most {MAX_RESTORE_BATCH} per call", field=field
        )
    return [model.model_validate(item.model_dump()) for item in batch]


def _restored_times(
    created: datetime | None, updated: datetime | None, field: str
) -> tuple[datetime, datetime]:
    created = created or updated or utcnow()
    return (
        utc_timestamp(created, field=f"{field}.created_at"),
        utc_timestamp(updated or created, field=f"{field}.updated_at"),
    )
