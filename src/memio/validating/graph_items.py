"""Triples as a graph add stores them: each with its owner and stable id."""

from __future__ import annotations

from typing import Any

from memio.errors import InvalidRequestError
from memio.models import Triple, validate_metadata
from memio.providers.shared import triple_id
from memio.validating.arguments import coerce_items, optional_text, require_text

__all__ = ["plan_triples"]


def plan_triples(triples: Any, user_id: str | None) -> list[Triple]:
    """Validate a graph add: each triple with its owner (the call's user_id, or the triple's own
    when the call has none; both set and different is an error) and its stable id."""
    optional_text(user_id, field="user_id")
    planned = []
    for i, item in enumerate(coerce_items(Triple, triples, field="triples")):
        where = f"triples[{i}]"
        subject = require_text(item.subject, field=f"{where}.subject")
        predicate = require_text(item.predicate, field=f"{where}.predicate")
        obj = require_text(item.object, field=f"{where}.object")
        owner = optional_text(item.user_id, field=f"{where}.user_id")
        if user_id is not None and owner is not None and owner != user_id:
            raise InvalidRequestError("differs from the call's user_id", field=f"{where}.user_id")
        owner = user_id if user_id is not None else owner
        planned.append(
            Triple(
                id=triple_id(subject, predicate, obj, owner),
                subject=subject,
                predicate=predicate,
                object=obj,
                user_id=owner,
                metadata=validate_metadata(item.metadata, field=f"{where}.metadata"),
            )
        )
    return planned
