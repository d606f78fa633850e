"""Links the server hands out (`Link: rel="next"`, mem0's `next`/`previous`).

They are relative (path and query) unless `server.public_url` is configured, then absolute under
it: the request's Host header is never used, so a client cannot make the server advertise
another site. The path is percent-encoded from the bytes the client sent, so any session id
(``/v1/history/sessions/日本/messages``) fits a header, which only carries Latin-1.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request

__all__ = ["link_to"]

# RFC 3986 path characters, and "%" so the client's own escapes stay as they were.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def link_to(request: Request, **params: str | int) -> str:
    """This request's URL with `params` replacing those query parameters (others carry over)."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    path = quote(raw_path, safe=_PATH_SAFE)
    query = request.url.include_query_params(**params).query
    base = request.app.state.config.server.public_url
    return f"{base.rstrip('/') if base else ''}{path}{'?' + query if query else ''}"
