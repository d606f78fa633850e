"""`HistoryStore` calls, checked once for every history provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memio.checked import HistorySearch
from memio.errors import InvalidRequestError
from memio.models import FoundMessage, Message, Page, check_text, validate_metadata
from memio.pagination import check_limit
from memio.ranking import HISTORY_SEARCH_MODE, SearchMode, check_mode
from memio.validating._base import Validating
from memio.validating.arguments import coerce_items, optional_text, require_text

__all__ = ["ValidatingHistoryStore"]


def _message_batch(messages: Any) -> list[Message]:
    """A non-empty list of messages, each with a non-empty role, text content (may be empty),
    optional name and id, and metadata a store may take (errors name ``messages[2].content``)."""
    batch = coerce_items(Message, messages, field="messages")
    for i, message in enumerate(batch):
        where = f"messages[{i}]"
        require_text(message.role, field=f"{where}.role")
        if not isinstance(message.content, str):
            raise InvalidRequestError("must be a string", field=f"{where}.content")
        check_text(message.content, field=f"{where}.content")
        if message.name is not None:
            check_text(message.name, field=f"{where}.name")
        optional_text(message.id, field=f"{where}.id")
        validate_metadata(message.metadata, field=f"{where}.metadata")
    return batch


class ValidatingHistoryStore(Validating):
    """`memio.protocols.HistoryStore` over a history provider."""

    async def add(
        self,
        *,
        session_id: str,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str | None = None,
    ) -> list[Message]:
        return await self.adapter.add(
            session_id=require_text(session_id, field="session_id"),
            user_id=optional_text(user_id, field="user_id"),
            messages=_message_batch(messages),
        )

    async def get(
        self,
        *,
        session_id: str,
        limit: int = 50,
        cursor: str | None = None,
        user_id: str | None = None,
    ) -> Page[Message]:
        return await self.adapter.get(
            session_id=require_text(session_id, field="session_id"),
            limit=check_limit(limit),
            cursor=cursor,
            user_id=optional_text(user_id, field="user_id"),
        )

    async def get_all(
        self, *, user_id: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[str]:
        return await self.adapter.get_all(
            user_id=optional_text(user_id, field="user_id"), limit=check_limit(limit), cursor=cursor
        )

    async def owner(self, *, session_id: str) -> str | None:
        return await self.adapter.owner(session_id=require_text(session_id, field="session_id"))

    async def search(
        self,
        *,
        query: str,
        session_id: str | None = None,
        limit: int = 10,
        user_id: str | None = None,
        search_mode: SearchMode = HISTORY_SEARCH_MODE,
    ) -> list[FoundMessage]:
        request = HistorySearch(
            text=require_text(query, field="query"),
            session_id=optional_text(session_id, field="session_id"),
            limit=check_limit(limit),
            mode=check_mode(search_mode),
            user_id=optional_text(user_id, field="user_id"),
        )
        return await self.adapter.search(request=request)

    async def delete(self, *, session_id: str, user_id: str | None = None) -> None:
        await self.adapter.delete(
            session_id=require_text(session_id, field="session_id"),
            user_id=optional_text(user_id, field="user_id"),
        )

    async def delete_all(self, *, user_id: str | None = None) -> int:
        return await self.adapter.delete_all(user_id=optional_text(user_id, field="user_id"))
