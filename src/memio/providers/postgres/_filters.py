"""memio's portable filters (`memio.filters`) as a SQL condition over a row's columns and JSONB.

The condition has exactly `filters.matches`'s semantics, so a filtered listing or search is one
query and returns what the reference provider returns:

- metadata keys are ``metadata -> key`` (a missing key is SQL NULL); top-level fields are columns
  (text, or timestamptz for `created_at` / `updated_at`); a NULL column is a missing field;
- eq / in compare JSONB values (numbers numerically, so 1 = 1.0; true is not 1; a string never
  equals a number; lists equal element by element, in order); ne / nin are their negation, so
  they match missing fields;
- gt/gte/lt/lte hold only between numbers (``jsonb_typeof = 'number'``, then JSONB's numeric
  order) or between strings (``COLLATE "C"``: code point order, as Python compares);
- contains is ``strpos`` on a string, JSONB containment of one element on a list; icontains
  lower-cases both sides (PostgreSQL's lower(), which for a few letters such as ß differs from
  Python's casefold());
- every condition is a definite true/false (``COALESCE(..., false)``), so NOT of a condition on a
  missing field is true, as in Python.

User values only ever travel as parameters; keys too (``metadata -> %s``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from memio.filters import And, Condition, FilterNode, Not, Or

__all__ = ["Columns", "where_sql"]

_FALSE = "false"


class Columns:
    """How a store's top-level filter fields map to SQL: text columns and timestamp columns
    (qualified names, e.g. ``t.user_id``), and the JSONB metadata column."""

    def __init__(self, *, text: Mapping[str, str], timestamps: Mapping[str, str], metadata: str):
        self.text = dict(text)
        self.timestamps = dict(timestamps)
        self.metadata = metadata


def where_sql(node: FilterNode | None, columns: Columns) -> tuple[str, list[Any]]:
    """SQL for `node` (``true`` for no filter) and its parameters, in placeholder order."""
    if node is None:
        return "true", []
    params: list[Any] = []
    return _node(node, columns, params), params


def _node(node: FilterNode, columns: Columns, params: list[Any]) -> str:
    if isinstance(node, Condition):
        return f"COALESCE({_condition(node, columns, params)}, false)"
    if isinstance(node, And):
        return "(" + " AND ".join(_node(item, columns, params) for item in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_node(item, columns, params) for item in node.items) + ")"
    assert isinstance(node, Not)
    return f"(NOT {_node(node.item, columns, params)})"


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(list(value) if isinstance(value, tuple) else value, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _condition(cond: Condition, columns: Columns, params: list[Any]) -> str:
    op, wanted = cond.op, cond.value
    if op in _NEGATED:  # ne / nin: not (present and eq / in)
        positive = _condition(Condition(cond.path, _NEGATED[op], wanted), columns, params)
        return f"NOT COALESCE({positive}, false)"
    if cond.path[0] == "metadata":
        return _metadata(cond.path[1], op, wanted, columns.metadata, params)
    name = cond.path[0]
    if name in columns.timestamps:
        return _timestamp(columns.timestamps[name], op, wanted, params)
    return _text(columns.text[name], op, wanted, params)


def _metadata(key: str, op: str, wanted: Any, column: str, params: list[Any]) -> str:
    value = f"({column} -> %s)"
    if op == "eq":
        params.extend([key, _jsonb(wanted)])
        return f"{value} = %s"
    if op == "in":
        params.append(key)
        params.extend(_jsonb(item) for item in wanted)
        return f"{value} IN ({', '.join(['%s'] * len(wanted))})"
    if op in _ORDER:
        if _is_number(wanted):
            params.extend([key, key, _jsonb(wanted)])
            return f"(jsonb_typeof({value}) = 'number' AND {value} {_ORDER[op]} %s)"
        if isinstance(wanted, str):
            params.extend([key, key, wanted])
            return (
                f"(jsonb_typeof({value}) = 'string'"
                f" AND ({value} #>> '{{}}') COLLATE \"C\" {_ORDER[op]} %s)"
            )
        return _FALSE
    if op == "contains":
        if isinstance(wanted, str):
            params.extend([key, key, wanted, key, _jsonb([wanted])])
            return (
                f"CASE jsonb_typeof({value}) WHEN 'string' THEN strpos({value} #>> '{{}}', %s) > 0"
                f" WHEN 'array' THEN {value} @> %s ELSE false END"
            )
        params.extend([key, key, _jsonb([wanted])])
        return f"(jsonb_typeof({value}) = 'array' AND {value} @> %s)"
    assert op == "icontains"
    params.extend([key, key, wanted, key, wanted])
    return (
        f"CASE jsonb_typeof({value})"
        f" WHEN 'string' THEN strpos(lower({value} #>> '{{}}'), lower(%s)) > 0"
        f" WHEN 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({value}) AS e(item)"
        "  WHERE jsonb_typeof(e.item) = 'string' AND lower(e.item #>> '{}') = lower(%s))"
        " ELSE false END"
    )


def _text(column: str, op: str, wanted: Any, params: list[Any]) -> str:
    if op == "in":
        strings = [item for item in wanted if isinstance(item, str)]
        if not strings:
            return _FALSE
        params.append(strings)
        return f"{column} = ANY(%s::text[])"
    if not isinstance(wanted, str):  # a text field equals, orders and holds only strings
        return _FALSE
    params.append(wanted)
    if op == "eq":
        return f"{column} = %s"
    if op in _ORDER:
        return f'{column} COLLATE "C" {_ORDER[op]} %s'
    if op == "contains":
        return f"strpos({column}, %s) > 0"
    assert op == "icontains"
    return f"strpos(lower({column}), lower(%s)) > 0"


def _timestamp(column: str, op: str, wanted: Any, params: list[Any]) -> str:
    # The parser made every operand a timezone-aware datetime (contains is refused there).
    if op == "in":
        params.append(list(wanted))
        return f"{column} = ANY(%s::timestamptz[])"
    assert isinstance(wanted, datetime)
    params.append(wanted)
    return f"{column} {'=' if op == 'eq' else _ORDER[op]} %s"


_ORDER = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NEGATED = {"ne": "eq", "nin": "in"}
