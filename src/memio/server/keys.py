"""Keys created at run time: what POST/GET/DELETE /v1/keys and mem0's /api-keys both do.

A created key is shown once, in the creation answer; memio keeps only its SHA-256 digest (in the
key store, see `keystore`). Names are unique across the config's keys and the created ones. The
routes are admin-only; every creation and revocation is in the audit log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from memio.config import (
    KEY_NAME_PATTERN,
    RATE_LIMIT_PATTERN,
    check_rate_limits,
    hash_key,
)
from memio.errors import ConflictError, InvalidRequestError, NotFoundError, NotSupportedError
from memio.models import utcnow
from memio.scoping import Scope
from memio.server.audit import audit_event
from memio.server.keystore import KeyStore, StoredKey
from memio.server.rules import Doc

__all__ = [
    "KEY_PREFIX",
    "CreatedKey",
    "KeyCreate",
    "KeyCreated",
    "KeyInfo",
    "create_key",
    "list_keys",
    "revoke_key",
]

KEY_PREFIX = "mk_"
_SHOWN_PREFIX = 10  # characters of a key that listings show, to recognise it


_RateLimits = Annotated[
    list[str], Doc(minItems=1, items={"type": "string", "pattern": RATE_LIMIT_PATTERN})
]


class KeyCreate(BaseModel):
    """A key to create: a name, optionally bound to a scope (a key without one is an operator
    key, never an admin), optionally limited and expiring."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=KEY_NAME_PATTERN, description="Unique; how logs name the caller.")
    user_id: str | None = Field(default=None, min_length=1)
    agent_id: str | None = Field(default=None, min_length=1)
    app_id: str | None = Field(default=None, min_length=1)
    rate_limit: _RateLimits | Literal[False] | None = Field(
        default=None,
        description="e.g. ['100/minute', '20/10 seconds']; false: unlimited; absent: the default "
        "for its kind (bound or operator).",
    )
    expires_at: AwareDatetime | None = Field(default=None, description="With a time zone.")

    _check_limits = field_validator("rate_limit")(check_rate_limits)

    @property
    def scope(self) -> Scope:
        return Scope(user_id=self.user_id, agent_id=self.agent_id, app_id=self.app_id)


class KeyInfo(BaseModel):
    """A key as listings show it: never the key itself."""

    name: str
    source: Literal["config", "api"]
    admin: bool = False
    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    rate_limit: list[str] | Literal[False] | None = None
    key_prefix: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


class KeyCreated(KeyInfo):
    key: str = Field(description="The key. Shown this once: memio keeps only its digest.")


@dataclass(frozen=True)
class CreatedKey:
    stored: StoredKey
    key: str


def _key_store(request: Request) -> KeyStore:
    store: KeyStore | None = request.app.state.key_store
    if store is None:
        raise NotSupportedError(
            "authentication is off, so keys would not be checked",
            hint="configure auth.api_keys (or MEMIO_API_KEY) first",
        )
    return store


def _static_names(request: Request) -> set[str]:
    return {key.name for key in request.app.state.config.auth.api_keys}


async def create_key(
    request: Request,
    *,
    name: str,
    scope: Scope,
    rate_limit: list[str] | Literal[False] | None = None,
    expires_at: datetime | None = None,
) -> CreatedKey:
    store = _key_store(request)
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        raise InvalidRequestError("must be in the future", field="expires_at")
    if name in _static_names(request):
        raise ConflictError(f"a key named {name!r} is configured in the config file", field="name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    stored = StoredKey(
        name=name,
        prefix=key[:_SHOWN_PREFIX],
        scope=scope,
        rate_limit=rate_limit,
        created_at=now,
        expires_at=expires_at,
    )
    try:
        await store.create(stored, sha256=hash_key(key))
    except ConflictError as exc:
        audit_event(request, store="keys", operation="create", ids=[name], outcome=exc.code)
        raise
    audit_event(request, store="keys", operation="create", ids=[name], outcome="ok")
    return CreatedKey(stored=stored, key=key)


def key_info(stored: StoredKey) -> KeyInfo:
    return KeyInfo(
        name=stored.name,
        source="api",
        rate_limit=stored.rate_limit,
        key_prefix=stored.prefix,
        created_at=stored.created_at,
        expires_at=stored.expires_at,
        last_used_at=stored.last_used_at,
        **stored.scope.fields(),
    )


async def list_keys(request: Request) -> list[KeyInfo]:
    """The config's keys (name, scope, admin), then the created ones, oldest first."""
    configured = [
        KeyInfo(
            name=key.name,
            source="config",
            admin=key.admin,
            rate_limit=key.rate_limit,
            **key.scope.fields(),
        )
        for key in request.app.state.config.auth.api_keys
    ]
    return configured + [key_info(stored) for stored in await _key_store(request).list()]


async def revoke_key(request: Request, name: str) -> None:
    """Revoke a created key; the next request with it is refused, on every replica."""
    store = _key_store(request)
    if name in _static_names(request):
        raise ConflictError(
            f"key {name!r} is configured in the config file: remove it there and restart",
            field="name",
        )
    if not await store.revoke(name):
        audit_event(request, store="keys", operation="revoke", ids=[name], outcome="not_found")
        raise NotFoundError("key", name)
    request.app.state.authenticator.forget(name)
    audit_event(request, store="keys", operation="revoke", ids=[name], outcome="ok")
