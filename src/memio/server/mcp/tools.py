"""memio's MCP tools, one table for both transports (Streamable HTTP at /mcp, and stdio).

The facts tools keep OpenMemory's names and arguments, so prompts and client configurations written
for it keep working; the others cover the useful operations of the history, documents and graph
stores. Every tool reaches its store through the `Caller`, which hands out stores already confined
to the credential's scope (`memio.scoping`): a tool cannot act outside it, whatever it is asked.

A credential bound to a user needs no `user_id` (naming another user is refused, as in the REST
dialects); an operator acts for anyone, so it must name the user every call is for. Failures are
tool errors carrying the REST API's error body (`error`, `status`, `detail`, ...), never a
traceback.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

from mcp import types
from mcp.server.lowlevel import Server
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memio import __version__
from memio.errors import InvalidRequestError, MemioError, ProviderError
from memio.models import Document, Fact, GraphResult, Message, Triple
from memio.pagination import MAX_LIMIT
from memio.scoping import Scope, confine
from memio.server.errors import ERROR_STATUSES, status_of

__all__ = ["TOOLS", "Caller", "build_server"]

logger = logging.getLogger("memio.server")

INSTRUCTIONS = (
    "memio keeps memory for agents. Facts (add_memories, search_memory, list_memories, "
    "delete_memories, delete_all_memories) are short statements about the user to remember across "
    "conversations; documents hold longer texts to search; history keeps conversation sessions; "
    "the graph stores subject-predicate-object triples about entities."
)


@dataclass(frozen=True)
class Caller:
    """Who is calling: its scope, its stores confined to that scope (`store(kind)`), the kinds
    of store the server has, and where its failures are reported."""

    scope: Scope
    store: Callable[[str], Any]
    kinds: Collection[str]
    request_id: str | None = None
    provider_failed: Callable[[ProviderError], None] | None = None


# --- arguments ------------------------------------------------------------------------------


class _Args(BaseModel):
    """Every tool's arguments: unknown ones are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(
        None,
        min_length=1,
        description="The user this call is for. Required with an operator credential; a "
        "credential bound to a user acts for that user (naming another is refused).",
    )


_LIMIT = Field(10, ge=1, le=MAX_LIMIT, description="How many results at most.")
_CURSOR = Field(None, description="`next_cursor` of the previous page, for the next one.")


class AddMemories(_Args):
    text: str = Field(min_length=1, description="What to remember, as a short statement.")


class SearchMemory(_Args):
    query: str = Field(min_length=1, description="What to look for, in natural language.")
    limit: int = _LIMIT


class ListMemories(_Args):
    limit: int = Field(100, ge=1, le=MAX_LIMIT, description="How many memories at most.")
    cursor: str | None = _CURSOR


class DeleteMemories(_Args):
    memory_ids: list[str] = Field(min_length=1, description="Ids of the memories to delete.")


class AddDocument(_Args):
    content: str = Field(min_length=1, description="The document's text.")
    doc_id: str | None = Field(None, min_length=1, description="Its id (default: a new one).")
    metadata: dict[str, Any] | None = Field(
        None, description="Flat key-value pairs (strings, numbers, booleans or lists of those)."
    )


class SearchDocuments(_Args):
    query: str = Field(min_length=1, description="What to look for, in natural language.")
    limit: int = _LIMIT


class GetDocument(_Args):
    doc_id: str = Field(min_length=1, description="The document's id.")


class MessageArg(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, description="Who spoke: user, assistant, system, tool.")
    content: str = Field(description="What was said.")


class AddMessages(_Args):
    session_id: str = Field(min_length=1, description="The conversation's id.")
    messages: list[MessageArg] = Field(min_length=1, description="Messages, oldest first.")


class GetSession(_Args):
    session_id: str = Field(min_length=1, description="The conversation's id.")
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description="How many messages at most.")
    cursor: str | None = _CURSOR


class SearchHistory(_Args):
    session_id: str = Field(min_length=1, description="The conversation to search.")
    query: str = Field(min_length=1, description="What to look for, in natural language.")
    limit: int = _LIMIT


class TripleArg(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, description="An entity, e.g. 'alice'.")
    predicate: str = Field(min_length=1, description="The relation, e.g. 'works_at'.")
    object: str = Field(min_length=1, description="Another entity or a value, e.g. 'acme'.")


class AddTriples(_Args):
    triples: list[TripleArg] = Field(min_length=1, description="Facts as triples.")


class GetEntity(_Args):
    entity: str = Field(min_length=1, description="The entity's name.")
    depth: int = Field(1, ge=1, le=3, description="How many hops of neighbours to include.")


class SearchGraph(_Args):
    query: str = Field(min_length=1, description="What to look for, in natural language.")
    limit: int = _LIMIT


# --- results --------------------------------------------------------------------------------


class Memories(BaseModel):
    memories: list[Fact]
    next_cursor: str | None = None


class Deleted(BaseModel):
    deleted: int = Field(description="How many items were deleted.")


class Documents(BaseModel):
    documents: list[Document]


class Messages(BaseModel):
    messages: list[Message]
    next_cursor: str | None = None


def _lines(items: list[Any], line: Callable[[Any], str], empty: str) -> str:
    return "\n".join(map(line, items)) or empty


def _render(result: BaseModel) -> str:
    """The short text rendering a model reads when it ignores structured content."""
    if isinstance(result, Memories):
        return _lines(result.memories, lambda f: f"- {f.content} (id {f.id})", "no memories")
    if isinstance(result, Deleted):
        return f"deleted {result.deleted}"
    if isinstance(result, Documents):
        return _lines(result.documents, lambda d: f"- {d.id}: {d.content[:200]}", "no documents")
    if isinstance(result, Document):
        return f"{result.id}: {result.content}"
    if isinstance(result, Messages):
        return _lines(result.messages, lambda m: f"{m.role}: {m.content}", "no messages")
    assert isinstance(result, GraphResult)
    return _lines(result.triples, lambda t: f"{t.subject} {t.predicate} {t.object}", "no triples")


# --- the tools ------------------------------------------------------------------------------


Effect = Literal["reads", "adds", "deletes"]


@dataclass(frozen=True)
class Tool:
    name: str
    store: str  # the kind of store it uses
    effect: Effect  # told to clients, which may ask the user before a delete
    args: type[_Args]
    result: type[BaseModel]
    run: Callable[[Any, Any], Awaitable[BaseModel]]  # (scoped store, arguments) -> result

    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            description=inspect.getdoc(self.run),
            inputSchema=_user_id_last(self.args.model_json_schema()),
            outputSchema=self.result.model_json_schema(mode="serialization"),
            annotations=types.ToolAnnotations(
                readOnlyHint=self.effect == "reads",
                destructiveHint=self.effect == "deletes",
                openWorldHint=False,
            ),
        )


def _user_id_last(schema: dict[str, Any]) -> dict[str, Any]:
    """The tool's own arguments first (`add_memories(text)` reads as OpenMemory's), then the
    `user_id` every tool takes."""
    properties = schema["properties"]
    properties["user_id"] = properties.pop("user_id")
    return schema


TOOLS: dict[str, Tool] = {}


def _tool(
    store: str, effect: Effect, args: type[_Args], result: type[BaseModel]
) -> Callable[..., Any]:
    """Register the decorated function as a tool named after it; its docstring describes it."""

    def register(run: Callable[[Any, Any], Awaitable[BaseModel]]) -> Any:
        TOOLS[run.__name__] = Tool(run.__name__, store, effect, args, result, run)
        return run

    return register


@_tool("facts", "adds", AddMemories, Memories)
async def add_memories(facts: Any, args: AddMemories) -> Memories:
    """Remember something about the user: a preference, a fact about them or their work. Store
    one short statement per call; call again for each new thing worth keeping."""
    return Memories(memories=[await facts.add(content=args.text, user_id=args.user_id)])


@_tool("facts", "reads", SearchMemory, Memories)
async def search_memory(facts: Any, args: SearchMemory) -> Memories:
    """Find the user's memories most relevant to a question, best first. Call it before
    answering anything that may depend on what you know about the user."""
    found = await facts.search(query=args.query, limit=args.limit, user_id=args.user_id)
    return Memories(memories=found)


@_tool("facts", "reads", ListMemories, Memories)
async def list_memories(facts: Any, args: ListMemories) -> Memories:
    """List the user's memories, oldest first. When more remain, `next_cursor` fetches the next
    page."""
    page = await facts.get_all(limit=args.limit, cursor=args.cursor, user_id=args.user_id)
    return Memories(memories=list(page), next_cursor=page.next_cursor)


@_tool("facts", "deletes", DeleteMemories, Deleted)
async def delete_memories(facts: Any, args: DeleteMemories) -> Deleted:
    """Delete the user's memories with these ids (ids from search_memory or list_memories).
    Unknown ids are skipped."""
    return Deleted(deleted=await facts.delete_many(fact_ids=args.memory_ids))


@_tool("facts", "deletes", _Args, Deleted)
async def delete_all_memories(facts: Any, args: _Args) -> Deleted:
    """Delete every memory of the user. Only when the user asks to forget everything."""
    return Deleted(deleted=await facts.delete_all(user_id=args.user_id))


@_tool("documents", "adds", AddDocument, Document)
async def add_document(documents: Any, args: AddDocument) -> Document:
    """Store a longer text (notes, an article, a file's content) to search later. An existing
    `doc_id` is refused; pick a new one."""
    return await documents.add(
        content=args.content, doc_id=args.doc_id, metadata=args.metadata, user_id=args.user_id
    )


@_tool("documents", "reads", SearchDocuments, Documents)
async def search_documents(documents: Any, args: SearchDocuments) -> Documents:
    """Find the stored documents most relevant to a question, best first (the user's own and
    shared ones)."""
    found = await documents.search(query=args.query, limit=args.limit, user_id=args.user_id)
    return Documents(documents=found)


@_tool("documents", "reads", GetDocument, Document)
async def get_document(documents: Any, args: GetDocument) -> Document:
    """Read one stored document by id, in full."""
    return await documents.get(doc_id=args.doc_id, user_id=args.user_id, include_shared=True)


@_tool("history", "adds", AddMessages, Messages)
async def add_messages(history: Any, args: AddMessages) -> Messages:
    """Append messages to a conversation (created on first use), to keep its transcript."""
    stored = await history.add(
        session_id=args.session_id,
        messages=[message.model_dump() for message in args.messages],
        user_id=args.user_id,
    )
    return Messages(messages=stored)


@_tool("history", "reads", GetSession, Messages)
async def get_session(history: Any, args: GetSession) -> Messages:
    """Read a conversation's messages, oldest first. When more remain, `next_cursor` fetches the
    next page."""
    page = await history.get(
        session_id=args.session_id, limit=args.limit, cursor=args.cursor, user_id=args.user_id
    )
    return Messages(messages=list(page), next_cursor=page.next_cursor)


@_tool("history", "reads", SearchHistory, Messages)
async def search_history(history: Any, args: SearchHistory) -> Messages:
    """Find the messages of a conversation most relevant to a question, best first."""
    found = await history.search(
        session_id=args.session_id, query=args.query, limit=args.limit, user_id=args.user_id
    )
    return Messages(messages=found)


@_tool("graph", "adds", AddTriples, GraphResult)
async def add_triples(graph: Any, args: AddTriples) -> GraphResult:
    """Record relations between entities as subject-predicate-object triples, e.g. (alice,
    works_at, acme)."""
    triples = [Triple(**triple.model_dump()) for triple in args.triples]
    return GraphResult(triples=await graph.add(triples=triples, user_id=args.user_id))


@_tool("graph", "reads", GetEntity, GraphResult)
async def get_entity(graph: Any, args: GetEntity) -> GraphResult:
    """An entity with its neighbourhood: the triples within `depth` hops of it."""
    return await graph.get(
        entity=args.entity, depth=args.depth, user_id=args.user_id, include_shared=True
    )


@_tool("graph", "reads", SearchGraph, GraphResult)
async def search_graph(graph: Any, args: SearchGraph) -> GraphResult:
    """Find the triples most relevant to a question, best first."""
    return await graph.search(query=args.query, limit=args.limit, user_id=args.user_id)


# --- calling --------------------------------------------------------------------------------


async def call_tool(caller: Caller, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """Run tool `name` for `caller`: its result, or a tool error with the REST error body."""
    tool = TOOLS.get(name)
    try:
        if tool is None:
            raise InvalidRequestError(f"no tool {name!r} on this server", field="name")
        args = tool.args.model_validate(arguments)
        result = await tool.run(_store_for(caller, tool, args), args)
    except ValidationError as exc:
        return _error(caller, 422, _validation_detail(exc))
    except ProviderError as exc:
        logger.warning("provider error (request_id=%s): %s", caller.request_id, exc.message)
        if caller.provider_failed is not None:
            caller.provider_failed(exc)
        return _error(caller, 502, exc.message, provider=exc.provider, operation=exc.operation)
    except MemioError as exc:
        status = status_of(exc)
        if status == 500:
            return _internal_error(caller, name, exc)
        return _error(caller, status, exc.message)
    except Exception as exc:
        return _internal_error(caller, name, exc)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=_render(result))],
        structuredContent=result.model_dump(mode="json"),
    )


def _store_for(caller: Caller, tool: Tool, args: _Args) -> Any:
    """The tool's store as the caller may use it. An operator's calls are confined to the user
    it names, so each tool acts exactly as it would for a credential bound to that user (an
    operator's `delete_memories` cannot delete another user's ids)."""
    store = caller.store(tool.store)
    if caller.scope.bound:
        return store
    if args.user_id is None:
        raise InvalidRequestError(
            "required: this credential acts for any user, so name the user", field="user_id"
        )
    return confine(tool.store, store, Scope(user_id=args.user_id))


def _validation_detail(exc: ValidationError) -> str:
    """The first problem as `field: message`, like the REST API's 422 detail."""
    issues = exc.errors()
    first = issues[0]
    detail = ".".join(map(str, first["loc"])) + f": {first['msg']}"
    return detail + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else "")


def _internal_error(caller: Caller, name: str, exc: BaseException) -> types.CallToolResult:
    rid = caller.request_id
    kind = type(exc).__name__
    logger.error("unhandled %s in tool %s (request_id=%s)", kind, name, rid, exc_info=exc)
    return _error(caller, 500, f"internal server error (request id {rid})")


def _error(caller: Caller, status: int, detail: str, **where: str) -> types.CallToolResult:
    body = {
        "error": ERROR_STATUSES[status][0],
        "status": status,
        "detail": detail,
        "provider": where.get("provider"),
        "operation": where.get("operation"),
        "request_id": caller.request_id,
    }
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(body))],
        structuredContent=body,
        isError=True,
    )


def build_server(caller_of: Callable[[Any], Caller]) -> Server[Any, Any]:
    """The MCP server: `caller_of(request)` says who calls (request: the HTTP request carrying
    the call, None over stdio)."""
    server: Server[Any, Any] = Server("memio", __version__, instructions=INSTRUCTIONS)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        kinds = caller_of(server.request_context.request).kinds
        return [tool.definition() for tool in TOOLS.values() if tool.store in kinds]

    @server.call_tool(validate_input=False)  # the arguments' models check them, naming fields
    async def call(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        return await call_tool(caller_of(server.request_context.request), name, arguments)

    return server
