"""memio's portable filter language.

One language for every `filters` argument, with the same results whichever provider stores the
data. A filter is a JSON object:

- ``{"field": value}``: equality (a list value compares as a whole list).
- ``{"field": {"op": value, ...}}`` with op one of eq, ne, in, nin, gt, gte, lt, lte, contains,
  icontains; several ops on one field are ANDed. Each op may also be spelled with a ``$``.
- Several keys in one object are ANDed.
- ``{"$and": [f, ...]}``, ``{"$or": [f, ...]}``, ``{"$not": f}``, nestable; also spelled ``and`` /
  ``AND`` and so on.

Fields are metadata keys, except the store's own top-level fields (for example ``user_id`` or
``created_at``); ``metadata.<key>`` always means the metadata key. Semantics:

- eq/ne/in/nin compare values as they are stored (1 == 1.0, True != 1); ne and nin also match
  items that lack the field.
- gt/gte/lt/lte compare numbers with numbers, strings with strings and timestamps with timestamps
  (ISO 8601 in the filter); other pairs never match.
- contains: substring of a string field, or element of a list field. icontains: the same, ignoring
  case, for strings. Neither applies to timestamp fields (an InvalidRequestError).

Parse once with `parse_filters` (it raises InvalidRequestError naming the offending key), then
evaluate with `matches`, or translate the tree for a backend's native query language.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from memio.errors import InvalidRequestError
from memio.models import utc_timestamp

__all__ = [
    "COMPARISON_OPS",
    "MAX_FILTER_DEPTH",
    "And",
    "Condition",
    "FilterNode",
    "Not",
    "Or",
    "matches",
    "parse_filters",
]

# Filters nest ($and, $or, $not) at most this deep: parsing and every provider's evaluation
# recurse once per level, and a deeper filter would exhaust Python's stack (a 500, not a 400).
MAX_FILTER_DEPTH = 32
TOO_DEEP = f"filters may nest at most {MAX_FILTER_DEPTH} levels deep"

COMPARISON_OPS = frozenset(
    {"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "icontains"}
)
_LOGICAL = frozenset({"and", "or", "not"})
_MISSING = object()
_ORDER_OPS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


@dataclass(frozen=True)
class Condition:
    """`path` is ("metadata", key) or (top_level_field,)."""

    path: tuple[str, ...]
    op: str
    value: Any


@dataclass(frozen=True)
class And:
    items: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[FilterNode, ...]


@dataclass(frozen=True)
class Not:
    item: FilterNode


FilterNode = Condition | And | Or | Not


def parse_filters(
    raw: Mapping[str, Any] | None,
    *,
    fields: frozenset[str] = frozenset(),
    datetime_fields: frozenset[str] = frozenset(),
    where: str = "filters",
) -> FilterNode | None:
    """Validate `raw` and return its tree, or None for no filter (None or ``{}``).

    `fields` are the store's top-level fields; `datetime_fields` (a subset) compare as timestamps.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidRequestError("a filter must be a JSON object", field=where)
    if not raw:
        return None
    return _Parser(fields, datetime_fields).node(raw, where)


class _Parser:
    def __init__(self, fields: frozenset[str], datetime_fields: frozenset[str]) -> None:
        self.fields = fields
        self.datetime_fields = datetime_fields
        self.depth = 0

    def node(self, raw: Any, where: str) -> FilterNode:
        if not isinstance(raw, Mapping) or not raw:
            raise InvalidRequestError("a filter must be a non-empty JSON object", field=where)
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise InvalidRequestError(TOO_DEEP, field=where)
        try:
            parts = [self.entry(key, value, where) for key, value in raw.items()]
        finally:
            self.depth -= 1
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def entry(self, key: Any, value: Any, where: str) -> FilterNode:
        if not isinstance(key, str) or not key:
            raise InvalidRequestError("filter keys must be non-empty strings", field=where)
        logical = (key[1:] if key.startswith("$") else key).lower()
        logical = logical if logical in _LOGICAL else None
        here = f"{where}.{key}"
        if logical == "not":
            return Not(self.node(value, here))
        if logical is not None:
            if not isinstance(value, list) or not value:
                raise InvalidRequestError(f"{key} takes a non-empty list of filters", field=here)
            items = tuple(self.node(item, f"{here}[{i}]") for i, item in enumerate(value))
            return And(items) if logical == "and" else Or(items)
        return self.field(key, value, here)

    def field(self, name: str, value: Any, where: str) -> FilterNode:
        path = self.path(name, where)
        if not isinstance(value, Mapping):
            return Condition(path, "eq", self.value(path, "eq", value, where))
        if not value:
            raise InvalidRequestError("an operator object must not be empty", field=where)
        conditions = []
        for op_key, operand in value.items():
            op = op_key[1:] if isinstance(op_key, str) and op_key.startswith("$") else op_key
            if op not in COMPARISON_OPS:
                raise InvalidRequestError(
                    f"unknown operator {op_key!r} (known: {', '.join(sorted(COMPARISON_OPS))})",
                    field=f"{where}.{op_key}",
                )
            operand = self.value(path, op, operand, f"{where}.{op_key}")
            conditions.append(Condition(path, op, operand))
        return conditions[0] if len(conditions) == 1 else And(tuple(conditions))

    def path(self, name: str, where: str) -> tuple[str, ...]:
        if name.startswith("metadata."):
            key = name[len("metadata.") :]
            if not key:
                raise InvalidRequestError("metadata. needs a key after the dot", field=where)
            return ("metadata", key)
        if name in self.fields:
            return (name,)
        return ("metadata", name)

    def value(self, path: tuple[str, ...], op: str, operand: Any, where: str) -> Any:
        is_datetime = len(path) == 1 and path[0] in self.datetime_fields
        if is_datetime and op in ("contains", "icontains"):
            raise InvalidRequestError(f"{op} does not apply to a timestamp", field=where)
        if op in ("in", "nin"):
            if not isinstance(operand, list) or not operand:
                raise InvalidRequestError(f"{op} takes a non-empty list", field=where)
            return self.items(operand, is_datetime, where)
        if op in ("eq", "ne") and isinstance(operand, list) and not is_datetime:
            return self.items(operand, False, where)
        if op == "icontains" and not isinstance(operand, str):
            raise InvalidRequestError("icontains takes a string", field=where)
        if op in ("gt", "gte", "lt", "lte") and isinstance(operand, bool):
            raise InvalidRequestError(f"{op} takes a number, string or timestamp", field=where)
        return self.scalar(operand, is_datetime, where)

    def items(self, operand: list[Any], is_datetime: bool, where: str) -> tuple[Any, ...]:
        return tuple(
            self.scalar(item, is_datetime, f"{where}[{i}]") for i, item in enumerate(operand)
        )

    @staticmethod
    def scalar(value: Any, is_datetime: bool, where: str) -> Any:
        if is_datetime:
            return _parse_datetime(value, where)
        if isinstance(value, bool | str | int | float):
            return value
        raise InvalidRequestError("filter values must be strings, numbers or booleans", field=where)


def _parse_datetime(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError(
                f"{value!r} is not an ISO 8601 date or timestamp", field=where
            ) from None
    else:
        raise InvalidRequestError("expected an ISO 8601 date or timestamp", field=where)
    return utc_timestamp(parsed, field=where)


def matches(node: FilterNode | None, record: Mapping[str, Any]) -> bool:
    """Whether `record` (top-level fields plus a "metadata" mapping) satisfies the filter."""
    if node is None:
        return True
    if isinstance(node, Condition):
        return _condition(node, _lookup(record, node.path))
    if isinstance(node, And):
        return all(matches(item, record) for item in node.items)
    if isinstance(node, Or):
        return any(matches(item, record) for item in node.items)
    return not matches(node.item, record)


def _lookup(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = record
    for part in path:
        if not isinstance(current, Mapping) or part not in current or current[part] is None:
            return _MISSING
        current = current[part]
    return current


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, list | tuple) or isinstance(wanted, tuple):
        return (
            isinstance(stored, list | tuple)
            and isinstance(wanted, tuple)
            and len(stored) == len(wanted)
            and all(_same(a, b) for a, b in zip(stored, wanted, strict=True))
        )
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if _both_numbers(stored, wanted):
        return stored == wanted
    return type(stored) is type(wanted) and stored == wanted


def _both_numbers(a: Any, b: Any) -> bool:
    return all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))


def _ordered(stored: Any, wanted: Any) -> bool:
    if _both_numbers(stored, wanted):
        return True
    return isinstance(stored, str | datetime) and type(stored) is type(wanted)


def _condition(cond: Condition, stored: Any) -> bool:
    op, wanted = cond.op, cond.value
    if op == "ne":
        return stored is _MISSING or not _same(stored, wanted)
    if op == "nin":
        return stored is _MISSING or not any(_same(stored, item) for item in wanted)
    if stored is _MISSING:
        return False
    if op == "eq":
        return _same(stored, wanted)
    if op == "in":
        return any(_same(stored, item) for item in wanted)
    if op in ("gt", "gte", "lt", "lte"):
        if not _ordered(stored, wanted):
            return False
        return _ORDER_OPS[op](stored, wanted)
    if op == "contains":
        if isinstance(stored, str):
            return isinstance(wanted, str) and wanted in stored
        return isinstance(stored, list) and any(_same(item, wanted) for item in stored)
    # icontains
    needle = wanted.casefold()
    if isinstance(stored, str):
        return needle in stored.casefold()
    return isinstance(stored, list) and any(
        isinstance(item, str) and item.casefold() == needle for item in stored
    )
