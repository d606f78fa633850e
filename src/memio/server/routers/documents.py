"""/v1/documents: texts for semantic search, optionally per user (0.3.1 routes plus additions)."""

from __future__ import annotations

from fastapi import Depends, Query, Request, Response, status

from memio.models import Document, DocumentInput
from memio.server.deps import (
    PAGED,
    RESTORED,
    DocumentsDep,
    admin_unless_scoped,
    parse_json_filters,
    restored,
    set_next_cursor,
    written,
)
from memio.server.routing import make_router
from memio.server.rules import PortableFiltersText, Text
from memio.server.schemas import (
    DeletedCount,
    DocumentBatch,
    DocumentCreate,
    DocumentRestore,
    DocumentSearch,
    DocumentUpdate,
    IdList,
    Restored,
)
from memio.validating.arguments import coerce_items

router = make_router(prefix="/v1/documents", tags=["documents"])

_NO_CONTENT = {"status_code": status.HTTP_204_NO_CONTENT, "response_class": Response}
_USER = Query(None, description="Owner scope: another user's document answers 404.")
_SHARED = Query(
    False, description="With user_id: also documents stored without a user (shared knowledge)."
)


def _inputs(body: DocumentBatch) -> list[DocumentInput]:
    return coerce_items(
        DocumentInput,
        [item.model_dump(exclude_none=True) for item in body.documents],
        field="documents",
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=Document, summary="Add Document"
)
async def add_document(body: DocumentCreate, documents: DocumentsDep) -> Document:
    """Store a document and return it as stored. A `doc_id` that exists answers 409 (use PUT to
    change it)."""
    return await documents.add(
        content=body.content, doc_id=body.doc_id, metadata=body.metadata, user_id=body.user_id
    )


@router.get("", response_model=list[Document], summary="Get All Documents", responses=PAGED)
async def get_all_documents(
    request: Request,
    response: Response,
    documents: DocumentsDep,
    limit: int = Query(100, ge=1, le=1000),
    filters: PortableFiltersText | None = Query(None, description="JSON-encoded metadata filters"),
    user_id: Text | None = _USER,
    cursor: str | None = Query(None, description="`X-Next-Cursor` of the previous page."),
    include_shared: bool = _SHARED,
) -> list[Document]:
    """Documents in creation order. When more remain, `X-Next-Cursor` and `Link: rel="next"` say
    how to get the next page."""
    page = await documents.get_all(
        limit=limit,
        filters=parse_json_filters(filters),
        user_id=user_id,
        cursor=cursor,
        include_shared=include_shared,
    )
    set_next_cursor(request, response, page.next_cursor)
    return list(page)


@router.post("/search", response_model=list[Document], summary="Search Documents")
async def search_documents(body: DocumentSearch, documents: DocumentsDep) -> list[Document]:
    """Most relevant first; `score` is in [0, 1]."""
    return await documents.search(
        query=body.query,
        limit=body.limit,
        filters=body.filters,
        user_id=body.user_id,
        include_shared=body.include_shared,
        search_mode=body.search_mode,
    )


@router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=list[Document],
    summary="Add Documents (batch)",
)
async def add_documents_batch(body: DocumentBatch, documents: DocumentsDep) -> list[Document]:
    """Add up to 1000 documents, all or nothing: an id that exists (or repeats) answers 409 and
    nothing is written."""
    return await documents.add_many(documents=_inputs(body))


@router.put("/batch", response_model=list[Document], summary="Upsert Documents (batch)")
async def upsert_documents_batch(body: DocumentBatch, documents: DocumentsDep) -> list[Document]:
    """Insert or replace up to 1000 documents; a replaced document keeps its created_at and its
    owner: an item whose user_id differs from the stored document's answers 409 and nothing is
    written."""
    return await documents.upsert_many(documents=_inputs(body))


@router.post(
    "/restore",
    status_code=status.HTTP_201_CREATED,
    response_model=Restored,
    summary="Restore Document",
    responses=RESTORED,
    # not in /openapi.json: what a restore accepts (a history consistent with its fact, a
    # triple's own id) is no schema, and a generated client has no use for it
    include_in_schema=False,
)
async def restore_document(
    body: DocumentRestore, documents: DocumentsDep, response: Response
) -> Restored:
    """Write an exported document with its id, owner and times as given (`memio import` through
    a server; operator credential). An id that exists is left untouched (200)."""
    return restored(response, await documents.restore(documents=body.documents))


@router.delete("/batch", response_model=DeletedCount, summary="Delete Documents (batch)")
async def delete_documents_batch(
    body: IdList, documents: DocumentsDep, user_id: Text | None = _USER
) -> DeletedCount:
    """Delete up to 1000 documents by id; ids that do not exist (in the scope) are skipped."""
    return DeletedCount(deleted=await documents.delete_many(doc_ids=body.ids, user_id=user_id))


@router.delete(
    "",
    **_NO_CONTENT,
    summary="Delete All Documents",
    dependencies=[Depends(admin_unless_scoped("user_id"))],
)
async def delete_all_documents(
    documents: DocumentsDep, request: Request, user_id: Text | None = _USER
) -> Response:
    """Delete every document of `user_id`. Without `user_id` this wipes the store and needs the
    admin key."""
    return written(request, DeletedCount(deleted=await documents.delete_all(user_id=user_id)))


@router.get("/{doc_id}", response_model=Document, summary="Get Document")
async def get_document(
    doc_id: Text,
    documents: DocumentsDep,
    user_id: Text | None = _USER,
    include_shared: bool = _SHARED,
) -> Document:
    return await documents.get(doc_id=doc_id, user_id=user_id, include_shared=include_shared)


@router.put("/{doc_id}", response_model=Document, summary="Update Document")
async def update_document(
    doc_id: Text, body: DocumentUpdate, documents: DocumentsDep, user_id: Text | None = _USER
) -> Document:
    """Replace the content and/or merge metadata keys; returns the stored document. A missing id
    answers 404."""
    return await documents.update(
        doc_id=doc_id, content=body.content, metadata=body.metadata, user_id=user_id
    )


@router.delete("/{doc_id}", **_NO_CONTENT, summary="Delete Document")
async def delete_document(
    doc_id: Text, documents: DocumentsDep, user_id: Text | None = _USER
) -> None:
    await documents.delete(doc_id=doc_id, user_id=user_id)
