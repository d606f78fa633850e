"""memio's dump format: one JSON object per line (JSONL), documented in docs/dump-format.md.

The first line is the header (`Header`); every other line is one item, its `kind` first:

    {"kind": "fact", "id": ..., "content": ..., <scope>, "metadata": ..., <timestamps>,
     "history": [<FactEvent>, ...]}
    {"kind": "session", "id": ..., "user_id": ...}      then its messages, oldest first:
    {"kind": "message", "session_id": ..., "id": ..., "role": ..., "content": ..., ...}
    {"kind": "document", "id": ..., "content": ..., "user_id": ..., "metadata": ..., ...}
    {"kind": "triple", "id": ..., "subject": ..., "predicate": ..., "object": ..., ...}

Items are the models' own JSON (`model_dump(mode="json")`, search scores left out), so a field
a model gains is in the dump without a change here. With vectors requested, fact, document and
triple lines also carry `"vector": [...]`, computed by the embedder the header names. A reader
refuses a header of another format or of a newer version than it knows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from memio import __version__
from memio.errors import InvalidRequestError
from memio.models import Document, Fact, FactEvent, Message, Triple, utcnow

__all__ = [
    "FORMAT",
    "VERSION",
    "DumpItem",
    "Header",
    "encode_item",
    "read_dump",
]

FORMAT = "memio-dump"
VERSION = 1

# kind -> the model of that line (a session line is only its id and owner)
MODELS: dict[str, type[BaseModel]] = {
    "fact": Fact,
    "message": Message,
    "document": Document,
    "triple": Triple,
}
VECTOR_KINDS = frozenset({"fact", "document", "triple"})
# what progress lines and summaries call the items of each kind
PLURALS = {
    "fact": "facts",
    "session": "sessions",
    "message": "messages",
    "document": "documents",
    "triple": "triples",
}


@dataclass
class Header:
    """What the dump holds: which stores (and their providers) it was read from, for which
    users (None: everyone), and the embedder of its vectors (None: no vectors)."""

    stores: dict[str, str]
    user_ids: list[str] | None = None
    embedder: dict[str, Any] | None = None
    memio_version: str = __version__
    created_at: str = field(default_factory=lambda: utcnow().isoformat())
    format: str = FORMAT
    version: int = VERSION

    def line(self) -> str:
        return _json(
            {
                "format": self.format,
                "version": self.version,
                "memio_version": self.memio_version,
                "created_at": self.created_at,
                "stores": self.stores,
                "user_ids": self.user_ids,
                "vectors": self.embedder,
            }
        )


@dataclass
class DumpItem:
    """One item line, decoded: `model` is the Fact / Message / Document / Triple (None for a
    session line, whose id and owner are `session_id` and `owner`)."""

    kind: str
    model: BaseModel | None = None
    history: list[FactEvent] = field(default_factory=list)
    session_id: str | None = None
    owner: str | None = None
    vector: list[float] | None = None

    @property
    def id(self) -> str | None:
        if self.model is None:
            return self.session_id
        return getattr(self.model, "id", None)


def encode_item(item: DumpItem) -> str:
    """The line of `item` (without the newline)."""
    out: dict[str, Any] = {"kind": item.kind}
    if item.kind == "session":
        out.update(id=item.session_id, user_id=item.owner)
        return _json(out)
    if item.kind == "message":
        out["session_id"] = item.session_id
    assert item.model is not None
    out.update(item.model.model_dump(mode="json", exclude={"score"}))
    if item.kind == "fact":
        out["history"] = [event.model_dump(mode="json") for event in item.history]
    if item.vector is not None:
        out["vector"] = item.vector
    return _json(out)


def read_dump(stream: IO[str], *, name: str = "dump") -> tuple[Header, Iterator[DumpItem]]:
    """The header (checked now) and the items, decoded one line at a time as they are read.
    A malformed line is an InvalidRequestError naming `name` and its line number."""
    first = stream.readline()
    if not first.strip():
        raise InvalidRequestError("is empty: no header line", field=name)
    raw = _load(first, name, 1)
    if raw.get("format") != FORMAT:
        raise InvalidRequestError(
            f"line 1 is not a {FORMAT} header (format: {raw.get('format')!r})", field=name
        )
    version = raw.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise InvalidRequestError(
            f"is {FORMAT} version {version!r}; this memio ({__version__}) reads versions up to "
            f"{VERSION}",
            field=name,
        )
    header = Header(
        stores=dict(raw.get("stores") or {}),
        user_ids=raw.get("user_ids"),
        embedder=raw.get("vectors"),
        memio_version=str(raw.get("memio_version")),
        created_at=str(raw.get("created_at")),
        version=version,
    )
    return header, _items(stream, name)


def _items(stream: IO[str], name: str) -> Iterator[DumpItem]:
    for number, text in enumerate(stream, start=2):
        if text.strip():
            yield decode_item(_load(text, name, number), where=f"{name} line {number}")


def decode_item(raw: Mapping[str, Any], *, where: str) -> DumpItem:
    """A line's object as a DumpItem; InvalidRequestError naming `where` and the field."""
    data = dict(raw)
    kind = data.pop("kind", None)
    vector = data.pop("vector", None)
    try:
        if kind == "session":
            return DumpItem(
                "session", session_id=_text(data, "id", where), owner=data.get("user_id")
            )
        model = MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            known = ", ".join(["session", *MODELS])
            raise InvalidRequestError(f"unknown kind {kind!r} (known: {known})", field=where)
        session_id = _text(data, "session_id", where) if kind == "message" else None
        data.pop("session_id", None)
        history = [FactEvent.model_validate(e) for e in data.pop("history", None) or []]
        return DumpItem(
            kind,
            model=model.model_validate(data),
            history=history,
            session_id=session_id,
            vector=vector,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(part) for part in error["loc"])
        raise InvalidRequestError(error["msg"], field=f"{where}: {kind}.{path}") from None


def embedder_header(model: str, dimensions: int) -> dict[str, Any]:
    return {"embedder": model, "dimensions": dimensions}


def vector_text(item: DumpItem) -> str:
    """The text a store embeds for the item (a triple: its sentence, as graph stores do)."""
    from memio.providers.shared import triple_text

    if isinstance(item.model, Triple):
        return triple_text(item.model.subject, item.model.predicate, item.model.object)
    return item.model.content  # type: ignore[union-attr]


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidRequestError("must be a non-empty string", field=f"{where}: {key}")
    return value


def _load(text: str, name: str, number: int) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"line {number} is not JSON: {exc.msg}", field=name) from None
    if not isinstance(raw, dict):
        raise InvalidRequestError(f"line {number} is not a JSON object", field=name)
    return raw


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
