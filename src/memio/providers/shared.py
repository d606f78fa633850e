"""Helpers every provider shares, so adapters agree on ids, validation and error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from memio.checked import fact_scope_of
from memio.errors import (
    ConflictError,
    EmbedderMismatchError,
    InvalidRequestError,
    MemioError,
    NotSupportedError,
    ProviderError,
)
from memio.models import (
    FACT_SCOPE,
    KEEP,
    Document,
    DocumentInput,
    Fact,
    FactEntity,
    FactInput,
    GraphResult,
    MetadataValue,
    Triple,
    check_metadata_size,
    cosine_score,
    utcnow,
)

try:  # POSIX; an embedded store refuses to open without it rather than run unguarded
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
from memio.protocols import Embedder

__all__ = [
    "DOCUMENT_FIELDS",
    "FACT_FIELDS",
    "FACT_SCOPE",
    "FACT_TIMESTAMPS",
    "TIMESTAMP_FIELDS",
    "WORD_PATTERN",
    "DataLockedError",
    "FactKey",
    "FactStep",
    "MessageVectors",
    "OpenOnce",
    "PathLock",
    "ProviderContext",
    "check_embedder_on_open",
    "check_owner_kept",
    "content_key",
    "entity_order",
    "fact_entities",
    "fact_key",
    "graph_match_score",
    "graph_neighbourhood",
    "graph_nodes",
    "in_read_scope",
    "merge_triple_metadata",
    "merged_metadata",
    "new_id",
    "parse_config",
    "plan_fact_batch",
    "provider_errors",
    "same_metadata",
    "triple_id",
    "triple_text",
    "updated_fact",
    "word_match_score",
    "word_terms",
]

# Top-level fields that portable filters address directly (everything else is metadata).
TIMESTAMP_FIELDS = frozenset({"created_at", "updated_at"})
# A fact's expiry is a timestamp filters can address too; None (no expiry) is a missing field.
FACT_TIMESTAMPS = frozenset({*TIMESTAMP_FIELDS, "expires_at"})
FACT_FIELDS = frozenset({"id", "content", *FACT_SCOPE, *FACT_TIMESTAMPS})
DOCUMENT_FIELDS = frozenset({"id", "content", "user_id", *TIMESTAMP_FIELDS})

_SPACE = re.compile(r"\s+")
_M = TypeVar("_M", bound=BaseModel)
_R = TypeVar("_R", Fact, Document)


@dataclass(frozen=True)
class ProviderContext:
    """What the app gives every provider it builds: where embedded data lives, how to embed."""

    data_dir: Path
    embedder: Embedder


def new_id() -> str:
    return str(uuid.uuid4())


def fact_entities(facts: Iterable[Any]) -> list[FactEntity]:
    """The scope ids `facts` carry (Facts, or anything with their scope ids, `created_at` and
    `updated_at`), each counted with its first creation and last change, in
    the order every provider gives them (`FactStore.entities`): oldest first, then by field
    (FACT_SCOPE order) and id."""
    found: dict[tuple[str, str], FactEntity] = {}
    for fact in facts:
        created = fact.created_at or utcnow()
        updated = fact.updated_at or created
        for name in FACT_SCOPE:
            value = getattr(fact, name)
            if value is None:
                continue
            seen = found.get((name, value))
            if seen is None:
                found[(name, value)] = FactEntity(
                    field=name, value=value, facts=1, created_at=created, updated_at=updated
                )
                continue
            seen.facts += 1
            seen.created_at = min(seen.created_at, created)
            seen.updated_at = max(seen.updated_at, updated)
    return sorted(found.values(), key=entity_order)


def entity_order(entity: FactEntity) -> tuple[datetime, int, str]:
    return entity.created_at, FACT_SCOPE.index(entity.field), entity.value


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


async def check_embedder_on_open(opening: Awaitable[Any], timeout: float) -> None:
    """A store that records the embedder of its vectors, opened before the server serves: an
    `EmbedderMismatchError` stops the start; any other failure (an unreachable backend) is left
    to the first request, which reports it and retries the open."""
    try:
        await asyncio.wait_for(opening, timeout)
    except EmbedderMismatchError:
        raise
    except (MemioError, asyncio.TimeoutError):
        return


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
    """Validate a provider's config; the error names the first bad key (``config.<key>``) and
    lists the others."""
    try:
        return model.model_validate(dict(config))
    except ValidationError as exc:
        # a typo'd key first: the likely cause of the rest (a value under the intended key
        # reads as missing)
        errors = sorted(exc.errors(), key=lambda err: err["type"] != "extra_forbidden")
        paths = ["config." + ".".join(str(part) for part in err["loc"]) for err in errors]
        messages = [_config_problem(model, err) for err in errors]
        rest = zip(paths[1:], messages[1:], strict=True)
        more = "".join(f"; {path}: {message}" for path, message in rest)
        raise InvalidRequestError(messages[0] + more, field=paths[0]) from None


def _config_problem(model: type[BaseModel], error: Any) -> str:
    """A typo'd key names the keys the provider accepts (top-level keys: what a user types)."""
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
        keys = [field.alias or name for name, field in model.model_fields.items()]
        return f"unknown key (expected one of: {', '.join(keys)})"
    return error["msg"]


# --- Shared semantics for validation and scoring (added with the reference memory provider) ---

# A word: a run of letters and digits (underscores split words). Every text search uses this.
WORD_PATTERN = re.compile(r"[^\W_]+")


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


RECOMPUTE_BATCH = 500


class MessageVectors:
    """The embeddings of a history store's messages (sqlite, postgres): stored beside each
    message as float32 bytes, computed in an add's one batch; none without an embedder, and
    then only keyword search."""

    def __init__(self, embedder: Embedder | None, *, provider: str) -> None:
        self.embedder = embedder
        self._provider = provider

    def check(self, mode: str) -> None:
        if mode != "keyword" and self.embedder is None:
            raise NotSupportedError(
                f"history search_mode {mode!r} needs an embedder",
                hint=f"open the {self._provider} history store with the server's embedder",
            )

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        assert self.embedder is not None
        return np.asarray(await self.embedder.embed(list(texts)), dtype=np.float32)

    async def blobs(self, texts: Sequence[str]) -> list[bytes | None]:
        if self.embedder is None or not texts:
            return [None] * len(texts)
        return [vector.tobytes() for vector in await self.embed(texts)]

    async def recompute(
        self,
        *,
        clear: Callable[[], Awaitable[None]],
        unembedded: Callable[[int], Awaitable[Sequence[tuple[Any, str]]]],
        keep: Callable[[list[tuple[Any, bytes]]], Awaitable[None]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """`memio reembed`: forget every stored embedding (`clear`: one statement, so the store
        never mixes two embedders' vectors), then embed the messages `unembedded(n)` still
        lists (key, content), a batch at a time, storing each batch with `keep`. Search embeds
        what an interrupted run left out, and the next run starts again."""
        if self.embedder is None:
            return 0
        await clear()
        done = 0
        while batch := await unembedded(RECOMPUTE_BATCH):
            vectors = await self.embed([content for _, content in batch])
            await keep([(key, v.tobytes()) for (key, _), v in zip(batch, vectors, strict=True)])
            done += len(batch)
            if progress is not None:
                progress(len(batch))
        return done

    async def nearest(
        self,
        query: str,
        blobs: Sequence[bytes | None],
        texts: Sequence[str],
        *,
        n: int,
        keep: Callable[[dict[int, bytes]], Awaitable[None]],
    ) -> list[tuple[int, float]]:
        """The `n` searched messages (stored embeddings `blobs`, contents `texts`) most similar
        to `query`, best first (ties in order), with their score: the cosine similarity clipped
        into [0, 1]. Messages stored without an embedding (before embeddings were kept) are
        embedded now and given to `keep` (index -> bytes) to be stored."""
        # A blob of another size came from another embedder (changed since): embed it anew.
        assert self.embedder is not None
        size = 4 * int(self.embedder.dimensions)
        missing = [i for i, blob in enumerate(blobs) if blob is None or len(blob) != size]
        fresh: dict[int, bytes] = {}
        if missing:
            computed = await self.embed([texts[i] for i in missing])
            fresh = {i: vector.tobytes() for i, vector in zip(missing, computed, strict=True)}
            await keep(fresh)
        vectors = np.stack(
            [np.frombuffer(fresh.get(i) or blob, np.float32) for i, blob in enumerate(blobs)]
        )
        [wanted] = await self.embed([query])
        scores = np.clip(vectors @ wanted, 0.0, 1.0)
        best = np.argsort(-scores, kind="stable")[:n]
        return [(int(i), float(scores[i])) for i in best]


def merge_triple_metadata(
    planned: Sequence[Triple], stored: Mapping[str, Mapping[str, MetadataValue]]
) -> dict[str, dict[str, MetadataValue]]:
    """The metadata each triple of a graph add ends with, by id: a re-added triple (stored, or
    earlier in the batch) merges the new keys into what it had. A merge that breaks the caps on
    a whole metadata object fails the call before anything is written (``triples[i].metadata``)."""
    final: dict[str, dict[str, MetadataValue]] = {}
    for i, triple in enumerate(planned):
        assert triple.id is not None
        base = final.get(triple.id, stored.get(triple.id))
        if base is None:
            final[triple.id] = dict(triple.metadata)
            continue
        final[triple.id] = {**base, **triple.metadata}
        check_metadata_size(final[triple.id], field=f"triples[{i}].metadata")
    return final


def updated_fact(
    old: Fact,
    *,
    content: str | None,
    metadata: Mapping[str, MetadataValue],
    expires_at: Any,
    now: datetime,
) -> Fact:
    """The state an update leaves: content replaced when given, `metadata` (already merged), the
    expiry replaced unless KEEP, `updated_at` now."""
    change: dict[str, Any] = {"metadata": dict(metadata), "updated_at": now}
    if content is not None:
        change["content"] = content
    if expires_at is not KEEP:
        change["expires_at"] = expires_at
    return old.model_copy(update=change, deep=True)


def same_metadata(a: Mapping[str, MetadataValue], b: Mapping[str, MetadataValue]) -> bool:
    """Equal keys and equal values of the same types (Python's == has 1 == 1.0 == True)."""
    if a.keys() != b.keys():
        return False
    for key, left in a.items():
        right = b[key]
        pairs = (
            zip(left, right, strict=True)
            if isinstance(left, list) and isinstance(right, list) and len(left) == len(right)
            else [(left, right)]
        )
        if any(type(x) is not type(y) or x != y for x, y in pairs):
            return False
    return True


def merged_metadata(
    stored: Mapping[str, MetadataValue],
    given: Mapping[str, MetadataValue],
    *,
    field: str = "metadata",
) -> dict[str, MetadataValue] | None:
    """`given` (already validated) merged into `stored`, or None when that changes nothing. The
    merge must fit the caps on a whole metadata object (InvalidRequestError naming `field`)."""
    merged = {**stored, **given}
    if same_metadata(merged, stored):
        return None
    check_metadata_size(merged, field=field)
    return merged


FactKey = tuple[str, tuple[str | None, ...]]
_TICK = timedelta(microseconds=1)


def fact_key(content: str, scope: Mapping[str, str | None]) -> FactKey:
    """What makes two facts the same fact: content (`content_key`) and exact scope."""
    return content_key(content), tuple(scope[name] for name in FACT_SCOPE)


def content_taken(other_id: str) -> ConflictError:
    """An update onto content another fact of the same scope holds would make a second copy of
    that fact (one fact per content per scope, as a repeat add keeps it)."""
    return ConflictError(
        f"fact {other_id!r} of the same scope already holds this content", field="content"
    )


def plan_restore(
    facts: Sequence[Fact], stored_ids: set[str], holders: Mapping[FactKey, str]
) -> list[bool]:
    """Which facts of a restore to write: those whose id is neither stored nor earlier in the
    batch. One of them whose content and scope a stored fact (`holders`: dedup key -> id) or an
    earlier one of the batch holds is a ConflictError naming ``facts[i].content`` and the holder,
    raised before anything is written."""
    taken = dict(holders)
    seen = set(stored_ids)
    plan = []
    for i, fact in enumerate(facts):
        if fact.id in seen:
            plan.append(False)
            continue
        seen.add(fact.id)
        key = fact_key(fact.content, fact_scope_of(fact))
        holder = taken.setdefault(key, fact.id)
        if holder != fact.id:
            raise ConflictError(
                f"fact {holder!r} of the same scope already holds this content",
                field=f"facts[{i}].content",
            )
        plan.append(True)
    return plan


def new_in_batch(ids: Sequence[str], stored_ids: set[str]) -> list[bool]:
    """Which items of a restore to write: ids neither stored nor earlier in the batch."""
    seen = set(stored_ids)
    plan = []
    for item_id in ids:
        plan.append(item_id not in seen)
        seen.add(item_id)
    return plan


@dataclass
class FactStep:
    """What one item of a fact add did: `fact` is the fact as the item left it, with `event`
    set; `before` is the state an UPDATE replaced."""

    index: int
    fact: Fact
    before: Fact | None = None


def plan_fact_batch(
    items: Sequence[FactInput],
    scopes: Sequence[Mapping[str, str | None]],
    stored: Mapping[FactKey, Fact],
    now: datetime,
    *,
    single: bool = False,
) -> list[FactStep]:
    """The outcome of adding `items` in order (D3), decided before anything is written.

    `stored` holds the stored facts the items may repeat, by `fact_key` (the oldest one where
    several share a key). An item new in its scope is an ADD (its `fact_id`, else a fresh id); a
    repeat whose metadata, merged into the fact's, changes it is an UPDATE of the merge (later
    items see the merge); any other repeat is NONE and writes nothing. A merge that would break
    the metadata caps fails the whole call here (field ``facts[i].metadata``, or ``metadata``
    for a `single` add), so a batch never stops half written.
    """
    current = dict(stored)
    steps = []
    for i, (item, scope) in enumerate(zip(items, scopes, strict=True)):
        key = fact_key(item.content, scope)
        found = current.get(key)
        if found is None:
            fact = Fact(
                id=item.fact_id or new_id(),
                content=item.content,
                metadata=dict(item.metadata),
                created_at=now,
                updated_at=now,
                expires_at=item.expires_at,
                event="ADD",
                **scope,
            )
            current[key] = fact
            steps.append(FactStep(i, fact))
            continue
        field = "metadata" if single else f"facts[{i}].metadata"
        merged = merged_metadata(found.metadata, item.metadata, field=field)
        # An expired fact said again is alive again, with the expiry the add gives (or none);
        # a live one takes the add's expiry when it gives one.
        if found.expired(now):
            expiry = item.expires_at
        else:
            expiry = found.expires_at if item.expires_at is None else item.expires_at
        if merged is None and expiry == found.expires_at:
            steps.append(FactStep(i, found.model_copy(update={"event": "NONE"}, deep=True)))
            continue
        # updated_at moves, also within one clock tick of the fact's last write
        moved = now if found.updated_at is None else max(now, found.updated_at + _TICK)
        fact = found.model_copy(
            update={
                "metadata": found.metadata if merged is None else merged,
                "updated_at": moved,
                "expires_at": expiry,
                "event": "UPDATE",
            },
            deep=True,
        )
        current[key] = fact
        steps.append(FactStep(i, fact, before=found))
    return steps


def check_owner_kept(owner: str | None, item: DocumentInput, *, index: int) -> None:
    """D4: an upsert replaces a document only for its owner (None is an owner too); anything else
    is a ConflictError naming ``documents[i].user_id``."""
    if item.user_id != owner:
        held = "no user" if owner is None else "another user"
        raise ConflictError(
            f"document {item.doc_id!r} belongs to {held}; an upsert never changes a "
            "document's owner",
            field=f"documents[{index}].user_id",
        )


def in_read_scope(owner: str | None, user_id: str | None, shared: bool) -> bool:
    """Whether an item owned by `owner` is in a read's scope: without a user_id, every item; with
    one, the user's own items, and with `shared` (`include_shared_scope`) also those nobody owns."""
    return user_id is None or owner == user_id or (shared and owner is None)


# --- one process per embedded data path ------------------------------------------------------


class DataLockedError(ProviderError):
    """An embedded store's files are already in use by another process (or, for a store whose
    truth lives in its memory, by another store object of this process)."""

    def __init__(
        self, message: str, *, provider: str, path: Path, directory: Path, pid: int | None
    ) -> None:
        super().__init__(message, provider=provider, operation="open")
        self.path = path  # the locked file or directory
        self.directory = directory  # where it lives, resolved
        self.pid = pid  # the holder's, when the lock file names it


@dataclass
class _HeldLock:
    fd: int
    owners: set[int]  # id() of the PathLock objects sharing it
    per_object: bool


_HELD: dict[str, _HeldLock] = {}
_HELD_GUARD = threading.Lock()


class PathLock:
    """One process at a time per embedded data path: an exclusive, non-blocking ``flock`` on
    ``<path>.lock`` (next to the file or directory), which records the holder's pid.

    Two processes writing one embedded store corrupt it (Chroma's segments) or silently diverge
    (a store whose truth is in memory), so the second opener fails at once with a DataLockedError
    naming the holder's pid and what to do. Within one process, stores on the same path share the
    lock (facts and documents both use ``<data_dir>/chroma``) unless `per_object` (networkx keeps
    the graph in memory: a second store object would diverge too). The OS drops the lock when the
    process dies. `acquire` and `release` do blocking I/O: call them from a worker thread.
    """

    def __init__(
        self, path: str | Path, *, provider: str, what: str, remedy: str, per_object: bool = False
    ) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.provider = provider
        self.what = what
        self.remedy = remedy
        self.per_object = per_object
        self._key: str | None = None

    @property
    def held(self) -> bool:
        return self._key is not None

    def acquire(self) -> None:
        """Take (or join) the lock; idempotent for this object."""
        if self._key is not None:
            return
        if fcntl is None:  # pragma: no cover - Windows
            raise ProviderError(
                "needs fcntl.flock (POSIX) to keep a second process off its data",
                provider=self.provider,
                operation="open",
            )
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        key = str(self.lock_path.resolve())
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is not None:
                if held.per_object or self.per_object:
                    self._refuse(os.getpid())
                held.owners.add(id(self))
            else:
                _HELD[key] = _HeldLock(self._flock(), {id(self)}, self.per_object)
            self._key = key

    def release(self) -> None:
        """Leave the lock; the last owner in the process unlocks it. Idempotent."""
        key, self._key = self._key, None
        if key is None:
            return
        with _HELD_GUARD:
            held = _HELD.get(key)
            if held is None:
                return
            held.owners.discard(id(self))
            if held.owners:
                return
            del _HELD[key]
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(held.fd, 0)
            fcntl.flock(held.fd, fcntl.LOCK_UN)
        finally:
            os.close(held.fd)

    def _flock(self) -> int:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            self._refuse(holder)
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        return fd

    def _refuse(self, holder: int | None) -> None:
        directory = self.lock_path.parent.resolve()
        if holder == os.getpid():
            who = f"another {self.provider} store object in this process (pid {holder})"
            fix = "share one store object, or aclose() the other one first"
        else:
            who = f"another process (pid {holder if holder is not None else 'unknown'})"
            fix = (
                "stop that process, or give this one its own data_dir (or "
                f"stores.<kind>.config.path); {self.remedy}"
            )
        raise DataLockedError(
            f"the {self.what} in {directory} is already open in {who} (lock file "
            f"{self.lock_path.name}); one process at a time may use it: {fix}",
            provider=self.provider,
            path=self.path.absolute(),
            directory=directory,
            pid=holder,
        )


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


def graph_nodes(triples: Sequence[Triple], *, first: str | None = None) -> list[str]:
    """Every entity of `triples`, each once, in order of appearance (subject before object)."""
    seen: dict[str, None] = {} if first is None else {first: None}
    for t in triples:
        seen.setdefault(t.subject)
        seen.setdefault(t.object)
    return list(seen)


def graph_neighbourhood(triples: Sequence[Triple], entity: str) -> GraphResult:
    """The answer of `GraphStore.get`: the triples around `entity` and the entities they reach,
    the entity first. An entity with no triples in the caller's view is an empty result, as
    memio 0.3.1 answered it (its clients read ``.triples``), not an error."""
    if not triples:
        return GraphResult(triples=[], nodes=[])
    return GraphResult(triples=list(triples), nodes=graph_nodes(triples, first=entity))
