"""Signed tokens (JWT) as bound credentials, verified with PyJWT.

An app's backend signs a short-lived token for its logged-in user; the browser sends it as
``Authorization: Bearer <token>`` and memio acts for the scope its claims name (`auth.jwt.claims`,
by default ``{user_id: sub}``). Only the configured algorithms are accepted (never ``none``),
``exp`` is required, and every refusal says why without echoing the token.

A browser sends the same token with every request until it expires, so a verified token is
remembered (by its exact text, until its ``exp``): the signature is checked once per token, not
once per request (bench/auth.py measures both).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from memio.config import JwtConfig
from memio.scoping import Scope

__all__ = ["TokenError", "TokenVerifier", "VerifiedToken", "looks_like_token"]


class TokenError(Exception):
    """The token was refused; `detail` says why (401)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class VerifiedToken:
    name: str  # "token:<sub>": how logs and rate limits name the caller
    scope: Scope


def looks_like_token(credential: str) -> bool:
    """A JWS compact token: three dot-separated parts, the first a base64url JSON object."""
    return credential.count(".") == 2 and credential.startswith("eyJ")


_REMEMBERED = 4096  # verified tokens kept (least recently used go first)

# Most specific first: several of PyJWT's errors subclass others.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token is not valid yet (nbf)"),
    (jwt.InvalidAudienceError, "token audience is not accepted"),
    (jwt.InvalidIssuerError, "token issuer is not accepted"),
    (jwt.InvalidIssuedAtError, "token iat is invalid"),
    (jwt.InvalidSignatureError, "token signature is invalid"),
    (jwt.InvalidAlgorithmError, "token algorithm is not accepted"),
    (jwt.PyJWKClientError, "token signing key could not be obtained from jwks_url"),
    (jwt.PyJWKError, "token signing key is not usable"),
    (jwt.DecodeError, "token is malformed"),
)


class TokenVerifier:
    """Verifies tokens against the configured key, algorithms, issuer and audience."""

    def __init__(self, config: JwtConfig) -> None:
        self.config = config
        self.algorithms = list(config.algorithms or ())
        self._key: Any = None
        self._jwks: jwt.PyJWKSet | None = None
        self._client: jwt.PyJWKClient | None = None
        if config.secret is not None:
            self._key = config.secret.get_secret_value()
        elif config.public_key_file is not None:
            self._key = Path(config.public_key_file).read_text()
        elif config.jwks_file is not None:
            self._jwks = jwt.PyJWKSet.from_json(Path(config.jwks_file).read_text())
        else:
            assert config.jwks_url is not None  # the config requires one source
            self._client = jwt.PyJWKClient(config.jwks_url, cache_jwk_set=True, lifespan=300)
        required = ["exp"] + (["iat"] if config.max_lifetime_seconds else [])
        self._options: Any = {"require": required, "verify_aud": config.audience is not None}
        self._verified: OrderedDict[str, tuple[float, VerifiedToken]] = OrderedDict()

    async def verify(self, token: str) -> VerifiedToken:
        remembered = self._verified.get(token)
        if remembered is not None:
            expires, verified = remembered
            if time.time() < expires:
                self._verified.move_to_end(token)
                return verified
            del self._verified[token]
        verified, expires = await self._verify(token)
        self._verified[token] = (expires, verified)
        if len(self._verified) > _REMEMBERED:
            self._verified.popitem(last=False)
        return verified

    async def _verify(self, token: str) -> tuple[VerifiedToken, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("token is malformed") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise TokenError(
                f"token algorithm {str(algorithm)[:20]!r} is not accepted "
                f"(accepted: {', '.join(self.algorithms)})"
            )
        try:
            key = await self._signing_key(token, header)
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_seconds,
                options=self._options,
            )
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the required claim {exc.claim!r}") from None
        except jwt.PyJWTError as exc:
            reason = next((text for cls, text in _REASONS if isinstance(exc, cls)), None)
            raise TokenError(reason or "token is invalid") from None
        self._check_lifetime(claims)
        verified = VerifiedToken(name=self._name(claims), scope=self._scope(claims))
        return verified, float(claims["exp"])

    async def _signing_key(self, token: str, header: dict[str, Any]) -> Any:
        if self._client is not None:  # fetched (and cached) off the event loop
            return (await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)).key
        if self._jwks is None:
            return self._key
        kid = header.get("kid")
        keys = self._jwks.keys
        if kid is None and len(keys) == 1:
            return keys[0].key
        for candidate in keys:
            if candidate.key_id == kid:
                return candidate.key
        raise TokenError("token key id (kid) is not in jwks_file")

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        limit = self.config.max_lifetime_seconds
        if limit is None:
            return
        issued, expires = claims.get("iat"), claims.get("exp")
        if isinstance(issued, int | float) and isinstance(expires, int | float):
            if expires - issued <= limit:
                return
            raise TokenError(f"token lifetime exceeds max_lifetime_seconds ({limit:g} s)")
        raise TokenError("token iat and exp must be numbers")

    def _scope(self, claims: dict[str, Any]) -> Scope:
        values: dict[str, str] = {}
        for field, claim in self.config.claims.items():
            value = claims.get(claim)
            if not isinstance(value, str) or not value:
                raise TokenError(
                    f"token lacks the claim {claim!r} (a non-empty string giving its {field})"
                )
            values[field] = value
        return Scope(**values)

    @staticmethod
    def _name(claims: dict[str, Any]) -> str:
        subject = claims.get("sub")
        return f"token:{subject}" if isinstance(subject, str) and subject else "token"
