"""Translate memio's portable filter tree into a Chroma `where`, only where that is provably safe.

The translation is always a *relaxation*: every record the memio filter matches also matches the
Chroma `where`. Stores then run `memio.filters.matches` on what Chroma returns, so results are
exactly the reference semantics whatever Chroma does at the edges. `Pushdown.exact` is True when
the `where` matches exactly the same records (then a top-k vector query needs no re-check).

What Chroma answers identically (checked against chromadb 1.5.9, and 1.0.15 where noted):
- `$eq`/`$in` on strings and booleans: typed comparisons (True != 1, "1" != 1); a scalar never
  equals a list.
- `$ne`/`$nin` on strings and booleans: as above, and they match records without the key, as
  memio's ne/nin do. Only pushed down when `negations` says the Chroma in use behaves so
  (checked on 1.0.15 and 1.5.9, the ends of the supported range); otherwise left to Python.
- everything on memio's own integer fields (timestamps as microseconds), which are always present.
- optional timestamps (a fact's expiry), kept only where set, beside a flag that is True there:
  comparisons match only records that have one (as memio's do); negated ones, which must also
  match records without one, use `$ne`/`$nin` and `flag $ne True` under the `negations` rule.

What is relaxed (exact=False):
- numbers: Chroma does not return every stored float exactly, so eq/in/gt/gte/lt/lte on a number
  become a slightly widened range, and records whose value could not be stored natively (e.g. an
  integer beyond 64 bits) are let through via their `absent_key` flag. ne/nin on numbers are
  not pushed down.
- contains/icontains, string ordering, list equality, `id` and `content`: not pushed down at all.
- `$not` is pushed to the leaves (eq<->ne, in<->nin; order flips only on timestamps); a negated
  condition without a safe complement is dropped from an AND and defeats an OR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from memio.filters import And, Condition, FilterNode, Not
from memio.providers.chroma._codec import (
    I64_MAX,
    I64_MIN,
    RESERVED,
    absent_key,
    native_key,
    to_micros,
)

Where = dict[str, Any]

_NEGATE = {"eq": "ne", "ne": "eq", "in": "nin", "nin": "in"}
_NEGATE_ORDER = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
_RELATIVE_SLACK = 1e-9  # Chroma's float round trip is off by ~1e-16 relative; this is generous


@dataclass(frozen=True)
class Fields:
    """Where a store's top-level fields live in Chroma metadata."""

    text: Mapping[str, str]  # field -> key of an optional string (user_id, ...)
    timestamps: Mapping[str, str]  # field -> key of an always-present int (microseconds)
    # field -> (key of an int (microseconds) present only where set, key of its True flag)
    optional_timestamps: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Pushdown:
    where: Where | None
    exact: bool


NOTHING = Pushdown(None, False)
EVERYTHING = Pushdown(None, True)


def all_of(*parts: Where | None) -> Where | None:
    """AND of the given clauses (None ones skipped), in the shape Chroma accepts."""
    flat: list[Where] = []
    for part in parts:
        if not part:
            continue
        if set(part) == {"$and"}:
            flat.extend(part["$and"])
        else:
            flat.append(part)
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else {"$and": flat}


def any_of(*parts: Where) -> Where:
    flat: list[Where] = []
    for part in parts:
        if set(part) == {"$or"}:
            flat.extend(part["$or"])
        else:
            flat.append(part)
    return flat[0] if len(flat) == 1 else {"$or": flat}


def translate(node: FilterNode | None, fields: Fields, *, negations: bool = True) -> Pushdown:
    """The relaxed `where` of a filter tree. `negations`: Chroma's `$ne`/`$nin` match records
    that lack the key (true of the Chroma versions checked; else they are not pushed down)."""
    if node is None:
        return EVERYTHING
    where, exact = _node(_Translator(fields, negations), node, negate=False)
    return Pushdown(where, exact and where is not None)


@dataclass(frozen=True)
class _Translator:
    fields: Fields
    negations: bool


def _node(t: _Translator, node: FilterNode, *, negate: bool) -> tuple[Where | None, bool]:
    if isinstance(node, Condition):
        return _leaf(t, node, negate=negate)
    if isinstance(node, Not):
        return _node(t, node.item, negate=not negate)
    parts = [_node(t, item, negate=negate) for item in node.items]
    conjunction = isinstance(node, And) != negate  # De Morgan: NOT(OR) is an AND, and back
    if conjunction:
        kept = [where for where, _ in parts if where is not None]
        exact = all(where is not None and ok for where, ok in parts)
        return all_of(*kept), exact
    if any(where is None for where, _ in parts):
        return None, False
    return any_of(*[where for where, _ in parts if where is not None]), all(ok for _, ok in parts)


def _leaf(t: _Translator, cond: Condition, *, negate: bool) -> tuple[Where | None, bool]:
    fields = t.fields
    op = cond.op
    if len(cond.path) == 2:
        key = cond.path[1]
        if not native_key(key) or key.startswith(RESERVED):
            return None, False  # stored elsewhere (or, for reserved keys, never user metadata)
        kind = "metadata"
    elif cond.path[0] in fields.timestamps:
        key, kind = fields.timestamps[cond.path[0]], "timestamp"
    elif cond.path[0] in fields.optional_timestamps:
        key, flag = fields.optional_timestamps[cond.path[0]]
        return _optional_timestamp(t, key, flag, cond, negate=negate)
    elif cond.path[0] in fields.text:
        key, kind = fields.text[cond.path[0]], "text"
    else:  # id, content
        return None, False

    if kind == "timestamp":
        if negate:
            op = _NEGATE.get(op) or _NEGATE_ORDER.get(op)
        if op is None or op in ("contains", "icontains"):
            return None, False
        return _timestamp(key, op, cond.value), True

    if negate:
        op = _NEGATE.get(op)
        if op is None:
            return None, False
    values = cond.value if op in ("in", "nin") else (cond.value,)
    if isinstance(cond.value, tuple) and op in ("eq", "ne"):  # whole-list comparison
        return None, False
    if op in ("contains", "icontains"):
        return None, False
    if any(_exact_kind(value) is None for value in values):
        return None, False  # a value Chroma cannot hold natively: leave it to Python
    numbers = [value for value in values if _exact_kind(value) == "number"]
    others = [value for value in values if _exact_kind(value) != "number"]
    absent = {absent_key(key): True} if kind == "metadata" else None

    if op in ("gt", "gte", "lt", "lte"):
        if not numbers:
            return None, False  # Chroma orders numbers only
        bound = _widen(numbers[0], op)
        if bound is None:
            return None, False
        clause = {key: {f"${op}": bound}}
        return (any_of(clause, absent) if absent else clause), False
    if op in ("ne", "nin"):
        if numbers or not t.negations:
            return None, False
        groups = _by_type(others)
        clauses = [{key: {"$nin": group}} for group in groups]
        return all_of(*clauses), True
    # eq / in
    clauses = [{key: {"$in": group}} for group in _by_type(others)]
    for number in numbers:
        low, high = _widen(number, "gte"), _widen(number, "lte")
        if low is None or high is None:
            return None, False
        clauses.append({"$and": [{key: {"$gte": low}}, {key: {"$lte": high}}]})
    if numbers and absent:
        clauses.append(absent)
    return any_of(*clauses), not numbers


def _exact_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number" if I64_MIN <= value <= I64_MAX else None
    if isinstance(value, float):
        return "number" if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return "str"
    return None


def _by_type(values: list[Any]) -> list[list[Any]]:
    """Chroma's $in/$nin take one value type per list."""
    groups: dict[type, list[Any]] = {}
    for value in values:
        bucket = groups.setdefault(type(value), [])
        if value not in bucket:
            bucket.append(value)
    return list(groups.values())


def _widen(number: int | float, op: str) -> float | None:
    slack = abs(float(number)) * _RELATIVE_SLACK + 1e-300
    bound = float(number) - slack if op in ("gt", "gte") else float(number) + slack
    return bound if math.isfinite(bound) else None


def _optional_timestamp(
    t: _Translator, key: str, flag: str, cond: Condition, *, negate: bool
) -> tuple[Where | None, bool]:
    op = cond.op
    if negate:
        op = _NEGATE.get(op) or _NEGATE_ORDER.get(op)
    if op is None or op in ("contains", "icontains"):
        return None, False
    clause = _timestamp(key, op, cond.value)
    if op in ("ne", "nin") or (negate and op in _NEGATE_ORDER):  # must match records without it
        if not t.negations:
            return None, False
        if op in _NEGATE_ORDER:
            clause = any_of({flag: {"$ne": True}}, clause)
    return clause, True


def _timestamp(key: str, op: str, value: Any) -> Where:
    if op in ("in", "nin"):
        return {key: {f"${op}": sorted({to_micros(item) for item in value})}}
    assert isinstance(value, datetime)
    return {key: {f"${op}": to_micros(value)}}
