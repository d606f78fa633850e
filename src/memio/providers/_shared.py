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

from memio.errors import InvalidRequestError, MemioError, ProviderError
from memio.protocols import Embedder

__all__ = [
    "DOCUMENT_FIELDS",
    "FACT_FIELDS",
    "FACT_SCOPE",
    "TIMESTAMP_FIELDS",
    "TRIPLE_FIELDS",
    "OpenOnce",
    "ProviderContext",
    "coerce_items",
    "content_key",
    "new_id",
    "parse_config",
    "provider_errors",
    "require_text",
    "triple_id",
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
    """Validate a batch of models or dicts; errors name the item, e.g. ``documents[3].content``."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise InvalidRequestError("must be a list", field=field)
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
