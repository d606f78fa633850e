"""mem0's wire dialects over memio's facts store.

The real `mem0ai` SDKs (Python `MemoryClient` / `AsyncMemoryClient`, the npm `mem0ai` client) and
plain HTTP clients of mem0's self-hosted server work against memio with only the host changed:

- `platform`: the mem0 platform API (``/v1/ping/``, ``/v3/memories/...``, ``/v1/memories/{id}/``,
  entities, batch), plus the older paths of mem0ai 1.x clients; `exports` serves its memory
  exports (``/v1/exports/``);
- `selfhosted`: mem0's own REST server (``/memories``, ``/search``, ``/reset``, ``/configure``,
  ``/entities``);
- `local`: the local-first "Mem0 Memory System" REST API (``POST /v1/memories``, ``GET
  /v1/memories/search?query=``, ``GET|PUT|DELETE /v1/memories/{id}``, ``GET
  /v1/memories/user/{user_id}``, ``/v1/health|status|metrics``), in its own envelope and error
  shape. Its paths have no trailing slash; the platform's, under the same ``/v1/memories`` prefix,
  always have one, so each path belongs to exactly one dialect and none is redirected.

Every route reads and writes ``app.state.memio.facts``, whichever provider serves it. `shapes`
turns memio records into mem0's JSON, `filters` translates mem0's v2 filter language into memio's
portable filters, and `extraction` calls the configured LLM for ``infer: true``.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["routers"]


def routers() -> list[APIRouter]:
    """The mem0 dialect routers."""
    from memio.server.mem0_api import exports, local, platform, selfhosted

    return [local.router, platform.router, exports.router, selfhosted.router]
