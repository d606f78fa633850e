"""Helpers every provider shares, so adapters agree on ids, validation and error mapping."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from memio.errors import ConflictError, InvalidRequestError, MemioError, ProviderError
from memio.filters import FilterNode, parse_filters
from memio.models import (
    DocumentInput,
    MetadataValue,
    Triple,
    check_unicode,
    cosine_score,
    validate_metadata,
)
from memio.pagination import check_limit
from memio.protocols import Embedder

__all__ = [
    "DOCUMENT_FIELDS",
    "FACT_FIELDS",
    "FACT_SCOPE",
    "TIMESTAMP_FIELDS",
    "TRIPLE_FIELDS",
    "WORD_PATTERN",
    "OpenOnce",
    "ProviderContext",
    "check_threshold",
    "coerce_items",
    "content_key",
    "document_batch",
    "fact_scope",
    "fact_search_args",
    "graph_match_score",
    "graph_nodes",
    "id_list",
    "new_id",
    "optional_text",
    "parse_config",
    "plan_triples",
    "provider_errors",
    "require_text",
    "triple_id",
    "triple_text",
    "update_args",
    "word_match_score",
    "word_terms",
]

# Top-level fields that portable filters address directly (everything else is metadata).
FACT_SCOPE = ("user_id", "agent_id", "app_id", "run_id")
TIMESTAMP_FIELDS = frozenset({"created_at", "updated_at"})
FACT_FIELDS = frozenset({"id", "content", *FACT_SCOPE, *TIMESTAMP_FIELDS})
DOCUMENT_FIELDS = frozenset({"id", "content", "user_id", *TIMESTAMP_FIELDS})
TRIPLE_FIELDS = frozenset({"id", "subject", "predicate", "object", "user_id", "created_at"})

_SPACE = re.compile(r"\s+")
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class ProviderContext:
    """What the app gives every provider it builds: where embedded data lives, how to embed."""

    data_dir: Path
    embedder: Embedder
    options: Mapping[str, Any] = field(default_factory=dict)


def new_id() -> str:
    return str(uuid.uuid4())


def require_text(value: Any, *, field: str) -> str:
    """Non-empty text, or an InvalidRequestError naming the field."""
    if not isinstance(value, str):
        raise InvalidRequestError("must be a string", field=field)
    if not value.strip():
        raise InvalidRequestError("must not be empty", field=field)
    check_unicode(value, field=field)
    return value


def content_key(content: str) -> str:
    """Dedup key of a fact's content: trimmed, whitespace folded, case kept."""
    return hashlib.sha256(_SPACE.sub(" ", content.strip()).encode()).hexdigest()


def triple_id(subject: str, predicate: str, obj: str, user_id: str | None) -> str:
    """The stable id of a triple: the same triple in the same scope always has the same id."""
    text = "\x1f".join((user_id or "", subject, predicate, obj))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@contextmanager
def provider_errors(
    provider: str, operation: str, *, backend_errors: tuple[type[BaseException], ...] = (Exception,)
) -> Iterator[None]:
    """Wrap a backend call: memio errors pass through, backend errors become ProviderError."""
    try:
        yield
    except MemioError:
        raise
    except backend_errors as exc:
        raise ProviderError(
            f"{type(exc).__name__}: {exc}", provider=provider, operation=operation, cause=exc
        ) from exc


class OpenOnce:
    """Runs an async opener exactly once, even when the first calls race; retries after a failure.

    Providers open their backend lazily through this so `Memio(...)` construction never blocks and
    a store that could not reach its backend recovers on a later call.
    """

    def __init__(self, opener: Callable[[], Awaitable[None]]) -> None:
        self._opener = opener
        self._lock = asyncio.Lock()
        self.done = False

    async def __call__(self) -> None:
        if self.done:
            return
        async with self._lock:
            if not self.done:
                await self._opener()
                self.done = True

    def reset(self) -> None:
        self.done = False


def parse_config(model: type[_M], config: Mapping[str, Any]) -> _M:
    """Validate a provider's config; the error names the first bad key (``config.<key>``)."""
    try:
        return model.model_validate(dict(config))
    except ValidationError as exc:
        errors = exc.errors()
        paths = ["config." + ".".join(str(part) for part in err["loc"]) for err in errors]
        rest = zip(paths[1:], errors[1:], strict=True)
        more = "".join(f"; {path}: {err['msg']}" for path, err in rest)
        raise InvalidRequestError(errors[0]["msg"] + more, field=paths[0]) from None


def coerce_items(
    model: type[_M], items: Sequence[_M | Mapping[str, Any]], *, field: str
) -> list[_M]:
    """Validate a non-empty batch of models or dicts; errors name the item: documents[3].content."""
    _require_list(items, field=field)
    if not items:
        raise InvalidRequestError("must not be empty", field=field)
    out: list[_M] = []
    for index, item in enumerate(items):
        if isinstance(item, model):
            out.append(item)
            continue
        try:
            out.append(model.model_validate(item))
        except InvalidRequestError as exc:
            raise InvalidRequestError(exc.reason, field=f"{field}[{index}].{exc.field}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(part) for part in err["loc"])
            raise InvalidRequestError(
                err["msg"], field=f"{field}[{index}]" + (f".{where}" if where else "")
            ) from None
    return out


# --- Shared semantics for validation and scoring (added with the reference memory provider) ---

# A word: a run of letters and digits (underscores split words). Every text search uses this.
WORD_PATTERN = re.compile(r"[^\W_]+")


def optional_text(value: Any, *, field: str) -> str | None:
    """A scope id (user_id, agent_id, ...): None or a non-empty string, else InvalidRequestError."""
    return None if value is None else require_text(value, field=field)


def check_threshold(threshold: Any, *, field: str = "threshold") -> float | None:
    """A search threshold: None, or a number from 0 to 1 (scores live in [0, 1])."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidRequestError("must be a number from 0 to 1", field=field)
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN
        raise InvalidRequestError("must be a number from 0 to 1", field=field)
    return float(threshold)


def word_terms(text: str) -> list[str]:
    """The distinct words of `text`, casefolded, in first-seen order.

    A word is a run of letters and digits; punctuation and underscores separate words, so
    "works_at" is ["works", "at"] and "Hiking!" is ["hiking"].
    """
    return list(dict.fromkeys(WORD_PATTERN.findall(text.casefold())))


def word_match_score(query_terms: Sequence[str], text: str) -> float:
    """Share of the query's words that occur as words of `text`: matched / len(query_terms).

    In [0, 1]; 0.0 when the query has no words. This is the history search score.
    """
    if not query_terms:
        return 0.0
    words = set(word_terms(text))
    return sum(term in words for term in query_terms) / len(query_terms)


def triple_text(subject: str, predicate: str, obj: str) -> str:
    """The text a triple is embedded and word-matched as: "subject predicate object"."""
    return f"{subject} {predicate} {obj}"


def graph_match_score(query_terms: Sequence[str], text: str, similarity: float) -> float:
    """A graph search score in [0, 1] from word match and meaning, combined as a fuzzy OR:

        w = word_match_score(query_terms, text)      # share of query words in the triple text
        s = models.cosine_score(similarity)          # cosine of the embeddings, clipped at 0
        score = 1 - (1 - w) * (1 - s)

    `text` is `triple_text(subject, predicate, object)` and `similarity` the cosine between the
    query's and that text's embeddings. The score is s when no word matches, 1 when every query
    word occurs, and grows with either signal; graph search keeps triples whose score is > 0.
    """
    w = word_match_score(query_terms, text)
    s = cosine_score(similarity)
    return min(1.0, max(0.0, 1.0 - (1.0 - w) * (1.0 - s)))


def fact_scope(
    user_id: Any, agent_id: Any, app_id: Any, run_id: Any, *, where: str = ""
) -> dict[str, str | None]:
    """The four fact scope ids, each None or non-empty text (errors name ``<where><name>``)."""
    values = (user_id, agent_id, app_id, run_id)
    return {
        name: optional_text(value, field=f"{where}{name}")
        for name, value in zip(FACT_SCOPE, values, strict=True)
    }


def fact_search_args(
    *,
    query: Any,
    user_id: Any,
    agent_id: Any,
    app_id: Any,
    run_id: Any,
    limit: Any,
    filters: Any,
    threshold: Any,
) -> tuple[dict[str, str | None], FilterNode | None, float | None]:
    """Validate `FactStore.search` arguments once for every provider: (scope, filter, threshold)."""
    require_text(query, field="query")
    check_limit(limit)
    checked_threshold = check_threshold(threshold)
    scope = fact_scope(user_id, agent_id, app_id, run_id)
    tree = parse_filters(filters, fields=FACT_FIELDS, datetime_fields=TIMESTAMP_FIELDS)
    return scope, tree, checked_threshold


def _require_list(value: Any, *, field: str) -> Sequence[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidRequestError("must be a list", field=field)
    return value


def id_list(value: Any, *, field: str) -> list[str]:
    """A list of ids (may be empty), each non-empty text; errors name the item (``ids[2]``)."""
    return [
        require_text(item, field=f"{field}[{i}]")
        for i, item in enumerate(_require_list(value, field=field))
    ]


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
                metadata=dict(item.metadata),
            )
        )
    return planned


def document_batch(documents: Any) -> list[DocumentInput]:
    """Validate a documents batch: text content, optional ids and scope, no id given twice."""
    items = coerce_items(DocumentInput, documents, field="documents")
    seen: set[str] = set()
    for i, item in enumerate(items):
        require_text(item.content, field=f"documents[{i}].content")
        optional_text(item.user_id, field=f"documents[{i}].user_id")
        if optional_text(item.doc_id, field=f"documents[{i}].doc_id") is None:
            continue
        if item.doc_id in seen:
            raise ConflictError(
                f"document {item.doc_id!r} appears twice in the batch",
                field=f"documents[{i}].doc_id",
            )
        seen.add(item.doc_id)
    return items


def update_args(
    item_id: Any, content: Any, metadata: Any, *, id_field: str
) -> dict[str, MetadataValue]:
    """Validate an update of a fact or document; returns the clean metadata to merge."""
    require_text(item_id, field=id_field)
    if content is None and metadata is None:
        raise InvalidRequestError("give content, metadata or both")
    if content is not None:
        require_text(content, field="content")
    return validate_metadata(metadata)


def graph_nodes(triples: Sequence[Triple], *, first: str | None = None) -> list[str]:
    """Every entity of `triples`, each once, in order of appearance (subject before object)."""
    seen: dict[str, None] = {} if first is None else {first: None}
    for t in triples:
        seen.setdefault(t.subject)
        seen.setdefault(t.object)
    return list(seen)
