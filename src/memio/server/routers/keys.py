"""/v1/keys: create, list and revoke API keys at run time (admin key only)."""

from __future__ import annotations

from fastapi import Depends, Request, Response, status

from memio.server.auth import require_admin
from memio.server.keys import KeyCreate, KeyCreated, KeyInfo, create_key, key_info, list_keys
from memio.server.keys import revoke_key as revoke
from memio.server.routing import make_router

router = make_router(prefix="/v1/keys", tags=["keys"], dependencies=[Depends(require_admin)])


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=KeyCreated, summary="Create Key"
)
async def create(request: Request, body: KeyCreate) -> KeyCreated:
    """Create a key, bound to `user_id` / `agent_id` / `app_id` when given (else an operator key
    that is never admin). The answer holds the key; it is never shown again."""
    created = await create_key(
        request,
        name=body.name,
        scope=body.scope,
        rate_limit=body.rate_limit,
        expires_at=body.expires_at,
    )
    return KeyCreated(**key_info(created.stored).model_dump(), key=created.key)


@router.get("", response_model=list[KeyInfo], summary="List Keys")
async def list_all(request: Request) -> list[KeyInfo]:
    """The config's keys, then the created ones: name, scope, limits, created and last used
    (never the key)."""
    return await list_keys(request)


@router.delete(
    "/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, summary="Revoke Key"
)
async def delete(request: Request, name: str) -> None:
    """Revoke a created key: its next request is refused, on every replica sharing the key
    store. Keys from the config file answer 409 (remove them there)."""
    await revoke(request, name)
