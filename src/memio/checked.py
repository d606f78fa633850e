"""What a provider receives: the checked values of one store call.

`memio.validating` turns a caller's arguments into these (or into plain keyword values a
provider can trust) once, for every provider; a provider never checks its arguments again. A
value here is already valid: scope ids are None or non-empty text, limits are in range, filters
are parsed, thresholds are numbers in [0, 1], items are models that passed their checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memio.filters import And, Condition, FilterNode, Not
from memio.models import FACT_SCOPE, utcnow
from memio.ranking import SearchMode

__all__ = [
    "DocumentQuery",
    "DocumentSearch",
    "FactQuery",
    "FactScope",
    "FactSearch",
    "HistorySearch",
    "fact_scope_of",
    "listing_scope",
    "unexpired",
]

# The four scope ids of a fact (FACT_SCOPE order), each None or non-empty text.
FactScope = Mapping[str, str | None]


def fact_scope_of(item: Any) -> dict[str, str | None]:
    """The scope ids of a fact, fact input or event."""
    return {name: getattr(item, name) for name in FACT_SCOPE}


def unexpired(tree: FilterNode | None, *, include_expired: bool) -> FilterNode | None:
    """`tree` (a parsed facts filter) and, unless `include_expired`, "not expired yet" (``NOT
    expires_at <= now``: a fact without expiry lacks the field, so the negation keeps it, on
    every provider's translation of the tree)."""
    if include_expired:
        return tree
    live = Not(Condition(("expires_at",), "lte", utcnow()))
    return live if tree is None else And((tree, live))


def listing_scope(name: str, user_id: str | None, shared: bool, **more: Any) -> dict[str, Any]:
    """A user-scoped listing's cursor scope. `include_shared` is part of it only when it changes
    the listing, so cursors issued before it existed stay valid."""
    scope = {"list": name, "user_id": user_id, **more}
    if shared:
        scope["include_shared"] = True
    return scope


@dataclass(frozen=True, slots=True)
class FactQuery:
    """Which facts a listing, count or search reads."""

    scope: FactScope
    filters: Mapping[str, Any] | None  # as the caller wrote them (a cursor is bound to them)
    where: FilterNode | None  # `filters`, parsed
    include_expired: bool = False

    def tree(self) -> FilterNode | None:
        """`where`, and "not expired by now" unless `include_expired`."""
        return unexpired(self.where, include_expired=self.include_expired)

    def listing(self) -> dict[str, Any]:
        """What a cursor of this listing is bound to."""
        return {"list": "facts", **self.scope, "filters": self.filters or None}


@dataclass(frozen=True, slots=True)
class FactSearch:
    """A facts search: the text, the facts it reads, how many and how ranked."""

    text: str
    query: FactQuery
    limit: int
    threshold: float | None
    mode: SearchMode


@dataclass(frozen=True, slots=True)
class DocumentQuery:
    """Which documents a listing or search reads: `user_id`'s (every document without one),
    and with `shared` (only ever set with a user_id) also those nobody owns."""

    user_id: str | None
    shared: bool
    filters: Mapping[str, Any] | None  # as the caller wrote them (a cursor is bound to them)
    where: FilterNode | None  # `filters`, parsed

    def listing(self) -> dict[str, Any]:
        """What a cursor of this listing is bound to."""
        return listing_scope("documents", self.user_id, self.shared, filters=self.filters)


@dataclass(frozen=True, slots=True)
class DocumentSearch:
    text: str
    query: DocumentQuery
    limit: int
    mode: SearchMode


@dataclass(frozen=True, slots=True)
class HistorySearch:
    """Messages of one session, or without `session_id` of every session of `user_id` (of
    every session when both are None)."""

    text: str
    session_id: str | None
    user_id: str | None
    limit: int
    mode: SearchMode
