"""Masking credentials in text that leaves the process: error bodies, /ready, /status, logs.

Provider locations carry passwords (``http://admin:pw@chroma:8000``, ``postgresql://u:pw@db/x``,
``host=db password=pw``, ``redis://:pw@cache:6379``) and backend exceptions quote them back.
`redacted` replaces the password of every URL's userinfo and of every ``password=`` (or
``"password": ...``) setting with ``***``; user names, hosts and ports stay, so the text still
says where to look. It works on any text, so callers redact whole messages rather than guess
which part is a location. The patterns err towards masking too much: in a URL whose password
holds an unencoded ``@``, ``/``, ``?`` or ``#`` the mask runs to the ``@`` that ends it.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "RedactingFormatter", "redacted"]

REDACTED = "***"

# scheme://authority...: the URL runs to whitespace, a quote or an angle bracket.
_URL = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<rest>[^\s'\"<>]+)", re.IGNORECASE)
# password=..., password: ..., "password": "...", PASSWORD='...' (libpq quotes with ' and \).
_PASSWORD_SETTING = re.compile(
    r"""(?P<key>["']?\b(?:pass|password|passwd|pwd)["']?\s*[=:]\s*)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s,;&)}\]]+)""",
    re.IGNORECASE,
)


def redacted(text: str) -> str:
    """`text` with the passwords of URLs and of ``password=`` settings replaced by ``***``."""
    if "://" in text:
        text = _URL.sub(_mask_userinfo, text)
    if re.search("pass|pwd", text, re.IGNORECASE):
        text = _PASSWORD_SETTING.sub(_mask_setting, text)
    return text


def _mask_userinfo(match: re.Match[str]) -> str:
    rest = match["rest"]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        at = authority.rfind("@")  # a password may hold an unencoded "@"
    else:
        # "user:pa/ss@host": an unencoded "/", "?" or "#" cut the userinfo short; a port
        # ("host:8080/...") or an IPv6 literal is not a password.
        user, colon, tail = authority.partition(":")
        if not colon or tail.isdigit() or authority.startswith("["):
            return match[0]
        at = rest.find("@", len(authority))
        if at < 0:
            return match[0]
    user, colon, _password = rest[:at].partition(":")
    if not colon:
        return match[0]
    return f"{match['scheme']}{user}:{REDACTED}{rest[at:]}"


def _mask_setting(match: re.Match[str]) -> str:
    value = match["value"]
    if value.startswith(("'", '"')):
        return f"{match['key']}{value[0]}{REDACTED}{value[0]}"
    return f"{match['key']}{REDACTED}"


class RedactingFormatter(logging.Formatter):
    """Wraps a log formatter so no formatted line (message, arguments or traceback) carries a
    password: third-party loggers (uvicorn, psycopg, chromadb, httpx) are covered too."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> RedactingFormatter:
        """For logging's dictConfig: `spec` is the wrapped formatter's own entry (``()`` naming
        its class, or ``format``/``datefmt``/``style`` for a plain `logging.Formatter`)."""
        options = dict(spec)
        factory = options.pop("()", None)
        if factory is None:
            return cls(
                logging.Formatter(
                    options.get("format"), options.get("datefmt"), options.get("style", "%")
                )
            )
        if isinstance(factory, str):
            module, _, name = factory.rpartition(".")
            factory = getattr(importlib.import_module(module), name)
        return cls(factory(**options))

    def format(self, record: logging.LogRecord) -> str:
        return redacted(self.inner.format(record))
