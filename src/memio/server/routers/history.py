"""/v1/history: conversation sessions and their messages (memio 0.3.1 routes plus additions)."""

from __future__ import annotations

from fastapi import Depends, Query, Request, Response, status

from memio.models import FoundMessage, Message
from memio.server.deps import PAGED, HistoryDep, admin_unless_scoped, set_next_cursor, written
from memio.server.routing import make_router
from memio.server.rules import Text
from memio.server.schemas import (
    DeletedCount,
    HistoryAdd,
    HistorySearch,
    HistorySearchAll,
    SessionListResponse,
    SessionOwner,
)

router = make_router(prefix="/v1/history", tags=["history"])

_NO_CONTENT = {"status_code": status.HTTP_204_NO_CONTENT, "response_class": Response}
_CURSOR = Query(None, description="`X-Next-Cursor` of the previous page.")


@router.post("/sessions/{session_id}/messages", **_NO_CONTENT, summary="Add Messages")
async def add_messages(
    session_id: Text, body: HistoryAdd, history: HistoryDep, request: Request
) -> Response:
    """Append messages in order. The first add creates the session, owned by its `user_id`; a
    later add with another `user_id` answers 409. With `Prefer: return=representation`: 200 and
    the stored messages (ids and timestamps set)."""
    stored = await history.add(
        session_id=session_id,
        messages=[message.model_dump(exclude_none=True) for message in body.messages],
        user_id=body.user_id,
    )
    return written(request, stored)


@router.get("/sessions/{session_id}", response_model=SessionOwner, summary="Get Session Owner")
async def get_session(session_id: Text, history: HistoryDep) -> SessionOwner:
    """Whose the session is (`user_id`, null: nobody's). An unknown session answers 404."""
    return SessionOwner(session_id=session_id, user_id=await history.owner(session_id=session_id))


@router.get(
    "/sessions/{session_id}/messages",
    response_model=list[Message],
    summary="Get Messages",
    responses=PAGED,
)
async def get_messages(
    session_id: Text,
    request: Request,
    response: Response,
    history: HistoryDep,
    limit: int = Query(50, ge=1, le=1000),
    cursor: str | None = _CURSOR,
    user_id: Text | None = None,
) -> list[Message]:
    """Messages oldest first. When more remain, `X-Next-Cursor` and `Link: rel="next"` say how to
    get the next page. An unknown session (or another user's) answers 404."""
    page = await history.get(session_id=session_id, limit=limit, cursor=cursor, user_id=user_id)
    set_next_cursor(request, response, page.next_cursor)
    return list(page)


@router.get(
    "/sessions", response_model=SessionListResponse, summary="Get All Sessions", responses=PAGED
)
async def get_all_sessions(
    request: Request,
    response: Response,
    history: HistoryDep,
    user_id: Text | None = None,
    limit: int = Query(100, ge=1, le=1000),
    cursor: str | None = _CURSOR,
) -> SessionListResponse:
    """Session ids, oldest session first, paged like the other listings."""
    page = await history.get_all(user_id=user_id, limit=limit, cursor=cursor)
    set_next_cursor(request, response, page.next_cursor)
    return SessionListResponse(sessions=list(page))


@router.delete(
    "/sessions",
    **_NO_CONTENT,
    summary="Delete All Sessions",
    dependencies=[Depends(admin_unless_scoped("user_id"))],
)
async def delete_all_sessions(
    history: HistoryDep, request: Request, user_id: Text | None = None
) -> Response:
    """Delete every session of `user_id`. Without `user_id` this wipes the store and needs the
    admin key."""
    return written(request, DeletedCount(deleted=await history.delete_all(user_id=user_id)))


@router.post(
    "/sessions/{session_id}/search", response_model=list[Message], summary="Search Session"
)
async def search_session(
    session_id: Text, body: HistorySearch, history: HistoryDep
) -> list[Message]:
    """Messages of the session matching the query, best first, with `score` in [0, 1]."""
    return await history.search(
        session_id=session_id,
        query=body.query,
        limit=body.limit,
        user_id=body.user_id,
        search_mode=body.search_mode,
    )


@router.post("/search", response_model=list[FoundMessage], summary="Search Sessions")
async def search_sessions(body: HistorySearchAll, history: HistoryDep) -> list[FoundMessage]:
    """Messages of every session of `user_id` (or of one `session_id`), best first, each with
    its `session_id` and `score` in [0, 1]."""
    return await history.search(
        query=body.query,
        session_id=body.session_id,
        limit=body.limit,
        user_id=body.user_id,
        search_mode=body.search_mode,
    )


@router.delete("/sessions/{session_id}", **_NO_CONTENT, summary="Delete Session")
async def delete_session(
    session_id: Text, history: HistoryDep, user_id: Text | None = None
) -> None:
    await history.delete(session_id=session_id, user_id=user_id)
