"""memio: a multi-store memory gateway for AI agents.

Facts, conversation history, documents and a knowledge graph behind one async API, with embedded
offline defaults and swappable providers.
"""

from memio.client import Memio, connect
from memio.errors import (
    ConflictError,
    InvalidRequestError,
    MemioError,
    NotFoundError,
    NotSupportedError,
    ProviderError,
)
from memio.models import (
    Document,
    DocumentInput,
    Fact,
    FactEvent,
    FactEventType,
    FactInput,
    GraphResult,
    Message,
    Page,
    Triple,
)
from memio.protocols import DocumentStore, Embedder, FactStore, GraphStore, HistoryStore, Store
from memio.sync import SyncMemio, connect_sync

__version__ = "0.4.0"

__all__ = [
    "ConflictError",
    "Document",
    "DocumentInput",
    "DocumentStore",
    "Embedder",
    "Fact",
    "FactEvent",
    "FactEventType",
    "FactInput",
    "FactStore",
    "GraphResult",
    "GraphStore",
    "HistoryStore",
    "InvalidRequestError",
    "Memio",
    "MemioError",
    "Message",
    "NotFoundError",
    "NotSupportedError",
    "Page",
    "ProviderError",
    "Store",
    "SyncMemio",
    "Triple",
    "__version__",
    "connect",
    "connect_sync",
]
