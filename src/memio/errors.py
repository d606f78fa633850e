"""memio's error types.

Every failure a caller can act on has its own class, so the server can map it to a status code and
a client can catch it without parsing messages. Providers translate backend errors into these by
exception type or status code, never by matching message text.
"""

from __future__ import annotations

from memio.redaction import redacted

__all__ = [
    "REEMBED_HINT",
    "ConflictError",
    "EmbedderMismatchError",
    "ForbiddenError",
    "InvalidRequestError",
    "MemioError",
    "NotFoundError",
    "NotSupportedError",
    "ProviderError",
]


class MemioError(Exception):
    """Base class of every error memio raises on purpose."""

    code = "memio_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(MemioError):
    """The addressed item (fact, document, session, triple, entity) does not exist."""

    code = "not_found"

    def __init__(self, kind: str, item_id: str) -> None:
        super().__init__(f"{kind} {item_id!r} not found")
        self.kind = kind
        self.item_id = item_id


class ConflictError(MemioError):
    """A write would overwrite something it must not, such as an add with an id that exists."""

    code = "conflict"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class InvalidRequestError(MemioError):
    """The caller sent something invalid; `field` names where (e.g. ``filters.$and[1].age``)."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class ForbiddenError(MemioError):
    """The caller may not do this: its credential acts for another scope, or the operation needs
    an operator. `field` names the argument that asked for too much (e.g. ``user_id``)."""

    code = "forbidden"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class NotSupportedError(MemioError):
    """The configured provider cannot do this; `hint` says what would."""

    code = "not_supported"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{message} ({hint})" if hint else message)
        self.hint = hint


class ProviderError(MemioError):
    """The backend failed. Names the provider and the operation so operators know where to look.
    The message is redacted (`memio.redaction`): backends quote their URLs and DSNs, passwords
    included, and this message reaches error bodies, /ready, /status and logs."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        operation: str,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(redacted(f"{provider}.{operation} failed: {message}"))
        self.provider = provider
        self.operation = operation
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause


REEMBED_HINT = "stop the servers using the store and run `memio reembed --config FILE`"


class EmbedderMismatchError(ProviderError):
    """A store's vectors were computed by another embedding model, or have another dimension,
    than the configured embedder's: searching them with this embedder would rank nonsense, so
    the store refuses to open (and the server to start) until the two agree again."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        stored_model: str,
        stored_dimensions: int,
        model: str,
        dimensions: int,
    ) -> None:
        super().__init__(message, provider=provider, operation="open")
        self.stored_model = stored_model
        self.stored_dimensions = stored_dimensions
        self.model = model
        self.dimensions = dimensions
