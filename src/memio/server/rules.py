"""What memio accepts, spelled in JSON Schema so the OpenAPI document says it.

memio checks its input in one place (the stores' shared validation, `memio.models`,
`memio.pagination`, the filter parsers) and answers 400 naming the field. These annotations do not
check anything: they only add JSON Schema keywords to the generated document, built from the same
constants the checks use, so generated clients, fuzzers and the server agree and cannot drift.
A rule JSON Schema cannot express (a whole metadata object's bytes, a cursor this server issued,
an expiry in the future) is described, and the schema stays a subset of what the server takes.

    content: Text                      # non-empty, not only whitespace, no NUL
    metadata: MetadataIn | None = None # the MAX_METADATA_* caps
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from memio.filters import MAX_FILTER_DEPTH
from memio.models import (
    MAX_METADATA_BYTES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_LIST_ITEMS,
    MAX_METADATA_LIST_LENGTH,
    MAX_METADATA_STRING_LENGTH,
)
from memio.server.mem0_api.shapes import ENTITY_FIELDS, ENTITY_TYPES

__all__ = [
    "ENTITY_FILTER",
    "JSON_QUERY",
    "MEM0_MESSAGES",
    "METADATA",
    "NOT_SUPPORTED",
    "NO_NUL",
    "ONE_OF_QUERY",
    "PORTABLE_FILTERS",
    "TEXT",
    "TEXT_PATTERN",
    "Doc",
    "EntityFilterText",
    "EntityType",
    "FreeText",
    "Mem0Filters",
    "Mem0Messages",
    "Mem0MetadataFilter",
    "Mem0MetadataFilterText",
    "MetadataIn",
    "PortableFilters",
    "PortableFiltersText",
    "Text",
    "any_of_required",
    "json_text",
    "names_entity",
    "one_of_query",
]

# `check_text`: no NUL anywhere (U+0000).
NO_NUL = "^[^\\u0000]*$"
# `require_text`: no NUL, and something left after Python's str.strip(). The class lists every
# character str.isspace() calls whitespace, so the pattern is never looser than the check.
_SPACE = (
    "\\u0000\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
TEXT_PATTERN = f"^[^\\u0000]*[^{_SPACE}][^\\u0000]*$"
TEXT: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": TEXT_PATTERN}
_FREE_TEXT: dict[str, Any] = {"type": "string", "pattern": NO_NUL}


class Doc:
    """Annotated metadata that adds JSON Schema keywords to a field's schema and checks nothing
    (`Annotated[str, Doc(minLength=1)]`). On an ``X | None`` field it applies to the X branch."""

    __slots__ = ("keywords",)

    def __init__(self, keywords: dict[str, Any] | None = None, **more: Any) -> None:
        self.keywords = {**(keywords or {}), **more}

    def __repr__(self) -> str:
        return f"Doc({self.keywords!r})"

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


Text = Annotated[str, Doc(TEXT)]
"""Text a store takes: ids, content, queries, roles (`validating.arguments.require_text`)."""

FreeText = Annotated[str, Doc(_FREE_TEXT)]
"""Text that may be empty but not hold NUL (`models.check_text`): message content, names."""

_SCALAR = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_METADATA_STRING_LENGTH, "pattern": NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
    ]
}
METADATA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Flat: string keys; strings, numbers, booleans or lists of those. At most "
        f"{MAX_METADATA_KEYS} keys of at most {MAX_METADATA_KEY_LENGTH} characters, strings of "
        f"at most {MAX_METADATA_STRING_LENGTH} characters, lists of at most "
        f"{MAX_METADATA_LIST_LENGTH} items and {MAX_METADATA_LIST_ITEMS} list items in all, "
        f"{MAX_METADATA_BYTES} bytes as compact JSON; no NUL characters."
    ),
    "maxProperties": MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_LENGTH, "pattern": NO_NUL},
    "additionalProperties": {
        "anyOf": [
            *_SCALAR["anyOf"],
            {"type": "array", "maxItems": MAX_METADATA_LIST_LENGTH, "items": _SCALAR},
        ]
    },
}
MetadataIn = Annotated[dict[str, Any], Doc(METADATA)]
"""Metadata to store (`models.validate_metadata` with its MAX_METADATA_* caps)."""

# memio's portable filters (`memio.filters`), documented as their simplest form: metadata keys
# compared for equality. The full language (operators, $and/$or/$not, top-level fields) is in
# docs/filters.md; the schema is the part every client can rely on without reading it.
_NOT_RESERVED_KEY = (
    "^(?![$])(?!([aA][nN][dD]|[oO][rR]|[nN][oO][tT]|metadata|created_at|updated_at)$)"
    "(?!metadata[.])[^\\u0000]+$"
)
PORTABLE_FILTERS: dict[str, Any] = {
    "type": "object",
    "description": "memio's portable filters (docs/filters.md; at most "
    f"{MAX_FILTER_DEPTH} levels deep), e.g. "
    '{"topic": "games"} or {"score": {"gte": 3}}.',
    "propertyNames": {"pattern": _NOT_RESERVED_KEY},
    "additionalProperties": {
        "anyOf": [{"type": "string", "pattern": NO_NUL}, {"type": "number"}, {"type": "boolean"}]
    },
}
PortableFilters = Annotated[dict[str, Any], Doc(PORTABLE_FILTERS)]

# mem0's filter language (`server.mem0_api.filters`), documented as its simplest form: entity ids.
ENTITY_FILTER: dict[str, Any] = {
    "type": "object",
    "description": "mem0's filter language (docs/mem0-compat.md), e.g. "
    '{"user_id": "alice"} or {"AND": [{"user_id": "alice"}, {"metadata": {"topic": "games"}}]}.',
    "properties": {name: TEXT for name in ENTITY_FIELDS},
    "additionalProperties": False,
}


def any_of_required(names: Sequence[str], *, extra: Sequence[dict[str, Any]] = ()) -> Doc:
    """A model-level rule: at least one of `names` is given (not null)."""
    given = {"not": {"type": "null"}}
    branches = [{"required": [name], "properties": {name: given}} for name in names]
    return Doc(anyOf=[*branches, *extra])


JSON_QUERY = "x-memio-json"
"""Marks a query parameter that carries JSON text: `openapi.py` declares it in the document as
``content: application/json`` with the schema of that JSON."""


def json_text(schema: dict[str, Any]) -> Doc:
    return Doc({JSON_QUERY: schema})


PortableFiltersText = Annotated[str, json_text(PORTABLE_FILTERS)]
EntityFilterText = Annotated[str, json_text(ENTITY_FILTER)]

ONE_OF_QUERY = "x-memio-one-of"
"""Marks query parameters of which at least one must be given: `openapi.py` declares them in the
document as one exploded form object (still ``?user_id=...&agent_id=...`` on the wire) with
``minProperties: 1``, the only way OpenAPI can say so."""


def one_of_query(*names: str, group: str = "entity") -> dict[str, Any]:
    """`openapi_extra` of a route whose query parameters `names` are required one at least."""
    return {ONE_OF_QUERY: {"name": group, "parameters": list(names)}}


# -- the mem0 dialects --------------------------------------------------------------------------

ENTITY_TYPE = Doc(enum=list(ENTITY_TYPES))
"""`mem0.platform.entity_field`: a path's entity type (else 400)."""
EntityType = Annotated[str, ENTITY_TYPE]

MEM0_MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "minLength": 1, "pattern": NO_NUL, "default": "user"},
        "content": {"type": "string", "pattern": NO_NUL},
    },
    "required": ["content"],
}
MEM0_MESSAGES: dict[str, Any] = {
    "anyOf": [
        {"type": "array", "minItems": 1, "items": MEM0_MESSAGE},
        MEM0_MESSAGE,
        {"type": "string", "pattern": NO_NUL},
    ],
    "description": "Messages ({role, content}); one message; or a string (one user message).",
}
"""`mem0.platform.parse_messages`: text messages only."""
Mem0Messages = Annotated[list[dict[str, Any]] | dict[str, Any] | str, Doc(MEM0_MESSAGES)]

METADATA_FILTER: dict[str, Any] = {
    "type": "object",
    "description": 'Metadata values to match, e.g. {"topic": "games"}.',
    "propertyNames": {"minLength": 1, "pattern": NO_NUL},
    "additionalProperties": PORTABLE_FILTERS["additionalProperties"],
}
Mem0MetadataFilter = Annotated[dict[str, Any], Doc(METADATA_FILTER)]
Mem0MetadataFilterText = Annotated[str, json_text(METADATA_FILTER)]
Mem0Filters = Annotated[dict[str, Any], Doc(ENTITY_FILTER)]

NOT_SUPPORTED: dict[str, Any] = {
    "type": "null",
    "description": "Not supported: any value answers 400 (memio does not expire memories and "
    "sets created_at and updated_at itself).",
}


def names_entity(*, filters: str | None = "filters") -> Doc:
    """A mem0 read or write must name an entity id: top-level, or (`filters`) in the filters."""
    extra = []
    if filters:
        named = {"type": "object", "minProperties": 1}
        extra.append({"required": [filters], "properties": {filters: named}})
    return any_of_required(ENTITY_FIELDS, extra=extra)
