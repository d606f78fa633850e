"""mem0's v2 filter language, translated into memio's portable filters.

mem0 (platform ``filters``, v2/v3 search and get_all, its open-source ``Memory``) takes:

- a root of one condition, several sibling keys (ANDed), or ``AND`` / ``OR`` (lists of filters)
  and ``NOT`` (a filter, or a list of filters that are ANDed), nestable; the logical keys may be
  written in any case and with a ``$``;
- a condition ``{"field": value}`` or ``{"field": {"op": value, ...}}``, op one of eq, ne, in,
  nin, gt, gte, lt, lte, contains, icontains; the value ``"*"`` matches any non-null value.

Fields:

- ``user_id``, ``agent_id``, ``app_id``, ``run_id``: eq, ne, in, nin and ``"*"``;
- ``created_at``, ``updated_at``: gt, gte, lt, lte, eq with ISO 8601 dates or timestamps. A bare
  date means the whole day: ``lte "2024-07-31"`` includes all of the 31st (it becomes ``lt`` the
  next midnight, UTC), ``gt "2024-07-31"`` starts the next day, ``eq`` is that day;
- ``metadata``: ``{"metadata": {"key": value | {"op": value}}}``; ``"*"`` matches string, number
  and boolean values (not lists);
- ``categories`` (memio keeps them in the ``categories`` metadata key): in (any of), contains,
  icontains, eq (has that category), ne (has not);
- ``memory_ids``: a list of ids (or ``{"in": [...]}``).

Anything else is an InvalidRequestError naming the offending key (the server answers 400 with the
path in ``detail``, e.g. ``filters.AND[1].keywords``), except with ``flat_metadata=True`` (mem0's
self-hosted server, whose ``filters`` are ``{"key": "value"}`` over the memory's metadata): there
any other key is a metadata key, ``{"topic": "food"}`` meaning ``{"metadata": {"topic": "food"}}``,
operators included.

Entity ids pinned by equality at the top level (the root, or a root ``AND``) are lifted out as the
store's scope arguments, so providers can scope natively; everything else stays in the portable
filter. `Translation.names_entity` says whether the filter names an entity, as the platform
requires for search and get_all; `Translation.pins_entity`, whether it keeps to one entity, as an
operator's delete must (else it needs an admin key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from memio.errors import InvalidRequestError
from memio.filters import MAX_FILTER_DEPTH
from memio.models import utc_timestamp
from memio.server.mem0_api.shapes import CATEGORIES_KEY, ENTITY_FIELDS

__all__ = ["Translation", "merge_ids", "translate"]

_LOGICAL = {"and", "or", "not"}
# Translated, a filter gains a level or two (the root's $and, $not over a list): within memio's.
MAX_DEPTH = MAX_FILTER_DEPTH - 4
_ENTITY_OPS = frozenset({"eq", "ne", "in", "nin"})
_TIME_OPS = frozenset({"eq", "gt", "gte", "lt", "lte"})
_VALUE_OPS = frozenset({"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "icontains"})
_CATEGORY_OPS = frozenset({"eq", "ne", "in", "contains", "icontains"})
_TIME_FIELDS = ("created_at", "updated_at")
_SUPPORTED = (*ENTITY_FIELDS, *_TIME_FIELDS, "metadata", "categories", "memory_ids")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LOWEST = -1.7976931348623157e308
_LAST_INSTANT = datetime.max.replace(tzinfo=timezone.utc).isoformat()
WILDCARD = "*"


@dataclass(frozen=True)
class Translation:
    """A mem0 filter as memio store arguments: `scope` (entity ids pinned at the top level) and
    `filters` (memio's portable filter language, or None)."""

    scope: dict[str, str] = field(default_factory=dict)
    filters: dict[str, Any] | None = None
    entities: frozenset[str] = frozenset()  # entity fields the filter names (outside NOT / ne)

    @property
    def names_entity(self) -> bool:
        return bool(self.scope) or bool(self.entities)

    @property
    def pins_entity(self) -> bool:
        """Whether the filter keeps to one entity: an id pinned by equality at the top level.
        ``"*"``, ``in``, ``ne`` or an ``OR`` of ids name entities without pinning one, so a
        delete with such a filter may reach every user."""
        return bool(self.scope)

    def store_args(self) -> dict[str, Any]:
        """Keyword arguments for `FactStore.get_all` / `search`."""
        return {**self.scope, "filters": self.filters}


def translate(raw: Any, *, where: str = "filters", flat_metadata: bool = False) -> Translation:
    """Translate a mem0 filter (None or ``{}``: no filter). With `flat_metadata`, a key that is
    not a filter field or a logical operator names a metadata key."""
    if raw is None:
        return Translation()
    if not isinstance(raw, Mapping):
        raise InvalidRequestError("must be a JSON object", field=where)
    if not raw:
        return Translation()
    translator = _Translator(flat_metadata=flat_metadata)
    scope: dict[str, str] = {}
    rest: list[dict[str, Any]] = []
    for key, value, here in _root_conjuncts(raw, where):
        if (
            key in ENTITY_FIELDS
            and isinstance(value, str)
            and value != WILDCARD
            and key not in scope
        ):
            _entity_value(value, here)
            scope[key] = value
            continue
        rest.append(translator.entry(key, value, here, negated=False))
    return Translation(scope=scope, filters=_all_of(rest), entities=frozenset(translator.entities))


def merge_ids(translation: Translation, ids: Mapping[str, str | None]) -> Translation:
    """Add entity ids given outside the filter (top-level ``user_id`` of older clients): they
    become scope, or an extra condition when the filter already pins another value."""
    scope = dict(translation.scope)
    extra: list[dict[str, Any]] = []
    for name, value in ids.items():
        if value is None:
            continue
        _entity_value(value, name)
        if name not in scope:
            scope[name] = value
        elif scope[name] != value:
            extra.append({name: value})
    filters = translation.filters
    if extra:
        filters = _all_of([*([filters] if filters else []), *extra])
    return Translation(scope=scope, filters=filters, entities=translation.entities)


def _root_conjuncts(raw: Mapping[str, Any], where: str) -> list[tuple[str, Any, str]]:
    """The (key, value, path) conditions ANDed at the root, root-level ANDs flattened."""
    out: list[tuple[str, Any, str]] = []
    for key, value in raw.items():
        here = f"{where}.{key}"
        if _logical(key) == "and" and isinstance(value, list) and value:
            for index, item in enumerate(value):
                if not isinstance(item, Mapping) or not item:
                    raise InvalidRequestError(
                        "must be a non-empty JSON object", field=f"{here}[{index}]"
                    )
                out.extend(_root_conjuncts(item, f"{here}[{index}]"))
        else:
            out.append((key, value, here))
    return out


def _logical(key: Any) -> str | None:
    if not isinstance(key, str):
        return None
    name = (key[1:] if key.startswith("$") else key).lower()
    return name if name in _LOGICAL else None


def _all_of(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _any_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _entity_value(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError("entity ids must be non-empty strings", field=where)
    return value


class _Translator:
    def __init__(self, *, flat_metadata: bool = False) -> None:
        self.entities: set[str] = set()
        self.depth = 0
        self.flat_metadata = flat_metadata

    def node(self, raw: Any, where: str, *, negated: bool) -> dict[str, Any]:
        if not isinstance(raw, Mapping) or not raw:
            raise InvalidRequestError("must be a non-empty JSON object", field=where)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidRequestError(f"may nest at most {MAX_DEPTH} levels deep", field=where)
        try:
            parts = [
                self.entry(key, value, f"{where}.{key}", negated=negated)
                for key, value in raw.items()
            ]
        finally:
            self.depth -= 1
        result = _all_of(parts)
        assert result is not None
        return result

    def entry(self, key: Any, value: Any, where: str, *, negated: bool) -> dict[str, Any]:
        logical = _logical(key)
        if logical == "not":
            if isinstance(value, list):
                return {"$not": self.items(value, where, negated=not negated, combine=_all_of)}
            return {"$not": self.node(value, where, negated=not negated)}
        if logical is not None:
            if not isinstance(value, list) or not value:
                raise InvalidRequestError(f"{key} takes a non-empty list of filters", field=where)
            combine = _all_of if logical == "and" else _any_of
            return self.items(value, where, negated=negated, combine=combine)
        if key in ENTITY_FIELDS:
            return self.entity(key, value, where, negated=negated)
        if key in _TIME_FIELDS:
            return self.timestamp(key, value, where)
        if key == "metadata":
            return self.metadata(value, where)
        if key == "categories":
            return self.categories(value, where)
        if key == "memory_ids":
            return self.memory_ids(value, where)
        if self.flat_metadata and isinstance(key, str) and key:
            result = _all_of(self.metadata_condition(key, value, where))
            assert result is not None
            return result
        raise InvalidRequestError(
            f"unsupported filter field {key!r} (supported: {', '.join(_SUPPORTED)}; "
            'metadata keys go inside {"metadata": {...}})',
            field=where,
        )

    def items(self, value: list[Any], where: str, *, negated: bool, combine: Any) -> dict[str, Any]:
        if not value:
            raise InvalidRequestError("takes a non-empty list of filters", field=where)
        return combine(
            [self.node(item, f"{where}[{i}]", negated=negated) for i, item in enumerate(value)]
        )

    @staticmethod
    def ops(
        value: Mapping[str, Any], allowed: frozenset[str], what: str, where: str
    ) -> list[tuple[str, Any, str]]:
        if not value:
            raise InvalidRequestError("an operator object must not be empty", field=where)
        out = []
        for op_key, operand in value.items():
            op = op_key[1:] if isinstance(op_key, str) and op_key.startswith("$") else op_key
            if op not in allowed:
                raise InvalidRequestError(
                    f"unsupported operator {op_key!r} for {what} "
                    f"(supported: {', '.join(sorted(allowed))})",
                    field=f"{where}.{op_key}",
                )
            out.append((op, operand, f"{where}.{op_key}"))
        return out

    # -- fields ---------------------------------------------------------------------------

    def entity(self, name: str, value: Any, where: str, *, negated: bool) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            value = {"eq": value}
        parts = []
        for op, operand, here in self.ops(value, _ENTITY_OPS, name, where):
            if op in ("in", "nin"):
                if not isinstance(operand, list) or not operand:
                    raise InvalidRequestError(f"{op} takes a non-empty list of ids", field=here)
                ids = [_entity_value(item, f"{here}[{i}]") for i, item in enumerate(operand)]
                parts.append({name: {op: ids}})
            elif operand == WILDCARD:
                exists = {name: {"gte": ""}}  # every id is a string, and every string is >= ""
                parts.append(exists if op == "eq" else {"$not": exists})
            else:
                parts.append({name: {op: _entity_value(operand, here)}})
            if not negated and op in ("eq", "in"):
                self.entities.add(name)
        result = _all_of(parts)
        assert result is not None
        return result

    def timestamp(self, name: str, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            value = {"eq": value}
        parts = []
        for op, operand, here in self.ops(value, _TIME_OPS, name, where):
            start, is_day = _instant(operand, here)
            if not is_day:
                parts.append({name: {op: start.isoformat()}})
                continue
            # the day ends at the next midnight, or at the calendar's last instant
            if start.date() == date.max:
                until, after = {"lte": _LAST_INSTANT}, {"gt": _LAST_INSTANT}
            else:
                next_day = (start + timedelta(days=1)).isoformat()
                until, after = {"lt": next_day}, {"gte": next_day}
            if op == "eq":
                parts.append({name: {"gte": start.isoformat(), **until}})
            elif op == "lte":
                parts.append({name: until})
            elif op == "gt":
                parts.append({name: after})
            else:  # gte, lt: from / until midnight at the start of the day
                parts.append({name: {op: start.isoformat()}})
        result = _all_of(parts)
        assert result is not None
        return result

    def metadata(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, Mapping) or not value:
            raise InvalidRequestError(
                'takes an object of metadata keys, e.g. {"metadata": {"topic": "food"}}',
                field=where,
            )
        parts = []
        for key, wanted in value.items():
            if not isinstance(key, str) or not key:
                raise InvalidRequestError("metadata keys must be non-empty strings", field=where)
            parts.extend(self.metadata_condition(key, wanted, f"{where}.{key}"))
        result = _all_of(parts)
        assert result is not None
        return result

    def metadata_condition(self, key: str, wanted: Any, here: str) -> list[dict[str, Any]]:
        """The conditions on metadata `key`: a value (equality), ``"*"`` or an operator object."""
        path = f"metadata.{key}"
        if wanted == WILDCARD:
            return [_metadata_exists(path)]
        if wanted is None:
            raise InvalidRequestError("null is not a filter value", field=here)
        if not isinstance(wanted, Mapping):
            return [{path: wanted}]
        parts: list[dict[str, Any]] = []
        ops = self.ops(wanted, _VALUE_OPS, "metadata", here)
        for op, operand, op_where in ops:
            if operand == WILDCARD:
                if op not in ("eq", "ne"):
                    raise InvalidRequestError('"*" only works with eq and ne', field=op_where)
                exists = _metadata_exists(path)
                parts.append(exists if op == "eq" else {"$not": exists})
        simple = {op: operand for op, operand, _ in ops if operand != WILDCARD}
        if simple:
            parts.append({path: simple})
        return parts

    def categories(self, value: Any, where: str) -> dict[str, Any]:
        path = f"metadata.{CATEGORIES_KEY}"
        if isinstance(value, list):
            value = {"in": value}
        elif not isinstance(value, Mapping):
            value = {"contains": value}
        parts = []
        for op, operand, here in self.ops(value, _CATEGORY_OPS, "categories", where):
            if op == "in":
                if not isinstance(operand, list) or not operand:
                    raise InvalidRequestError("in takes a non-empty list of categories", field=here)
                names = [_category(item, f"{here}[{i}]") for i, item in enumerate(operand)]
                parts.append(_any_of([{path: {"contains": name}} for name in names]))
            elif op == "icontains":
                parts.append({path: {"icontains": _category(operand, here)}})
            elif op == "ne":
                parts.append({"$not": {path: {"contains": _category(operand, here)}}})
            else:  # eq, contains: has that category
                parts.append({path: {"contains": _category(operand, here)}})
        result = _all_of(parts)
        assert result is not None
        return result

    @staticmethod
    def memory_ids(value: Any, where: str) -> dict[str, Any]:
        if isinstance(value, Mapping):
            if set(value) - {"in", "$in"}:
                raise InvalidRequestError(
                    'memory_ids takes a list of ids (or {"in": [...]})', field=where
                )
            value = next(iter(value.values()))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise InvalidRequestError("memory_ids takes a non-empty list of ids", field=where)
        ids = [_entity_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return {"id": {"in": ids}}


def _category(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequestError("categories are non-empty strings", field=where)
    return value


def _metadata_exists(path: str) -> dict[str, Any]:
    """Any string, number or boolean value at `path` (memio's filters have no "exists": strings
    are all >= "", finite numbers all >= the lowest float, booleans are true or false)."""
    return {
        "$or": [
            {path: {"gte": ""}},
            {path: {"gte": _LOWEST}},
            {path: {"in": [True, False]}},
        ]
    }


def _instant(value: Any, where: str) -> tuple[datetime, bool]:
    """The timestamp a filter value names, and whether it was a bare date (a whole day)."""
    if isinstance(value, str) and _DATE_ONLY.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise InvalidRequestError(f"{value!r} is not a valid date", field=where) from None
        return datetime(day.year, day.month, day.day, tzinfo=timezone.utc), True
    if not isinstance(value, str):
        raise InvalidRequestError("expected an ISO 8601 date or timestamp", field=where)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(
            f"{value!r} is not an ISO 8601 date or timestamp", field=where
        ) from None
    return utc_timestamp(parsed, field=where), False
