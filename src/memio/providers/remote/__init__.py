"""Provider "remote": the four stores of another memio server, over its /v1 API.

What `memio.connect(url)` returns is built from these, one `RemoteConnection` (an httpx client)
shared by the four; in memio-server.yaml each store gets its own connection:

    stores:
      facts: {provider: remote, config: {url: "http://10.0.0.5:8080", api_key: "${KEY}"}}

Errors are the server's, mapped back to `memio.errors` types; nothing is retried (a write that
timed out may have happened, and only the caller can know whether to repeat it).
"""

from __future__ import annotations

from memio.providers.remote._http import RemoteConnection
from memio.providers.remote.stores import (
    RemoteDocumentStore,
    RemoteFactStore,
    RemoteGraphStore,
    RemoteHistoryStore,
)

__all__ = [
    "RemoteConnection",
    "RemoteDocumentStore",
    "RemoteFactStore",
    "RemoteGraphStore",
    "RemoteHistoryStore",
]
