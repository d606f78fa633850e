"""memio-server's configuration: one YAML file, checked completely before anything starts.

It lives outside `memio.server` because `Memio.from_config` builds the same stores from it in
plain Python (no FastAPI import); the server imports it from here.

A bad config stops startup with one line per problem, each naming the key path and what was
expected (``stores.documents.provider: unknown provider 'chromaa' (known: chroma, memory,
postgres)``), never a traceback. Every string value may reference the environment (``${VAR}``,
``${VAR:-default}``; ``$${`` is a literal ``${``), so secrets stay out of the file. API keys are
hashed while the config is validated and only the SHA-256 digests are kept.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union
from urllib.parse import urlsplit

import yaml
from limits import parse_many
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from memio.client import DEFAULT_PROVIDERS, Memio
from memio.errors import InvalidRequestError, NotSupportedError
from memio.protocols import Embedder
from memio.providers import build_store
from memio.providers.shared import ProviderContext
from memio.scoping import Scope

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "KEY_NAME_PATTERN",
    "ApiKey",
    "ConfigError",
    "ExpiryConfig",
    "JwtConfig",
    "ServerConfig",
    "build_embedder",
    "build_memio",
    "check_rate_limits",
    "config_from_dict",
    "hash_key",
    "is_loopback",
    "load_config",
    "resolve_config_path",
]

DEFAULT_CONFIG_FILE = "memio-server.yaml"
MIB = 1024 * 1024
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"
RATE_LIMIT_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")

_STRICT = ConfigDict(extra="forbid")
_REFERENCE = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one "key.path: what is wrong" each."""

    def __init__(
        self,
        problems: list[str],
        *,
        source: str | None = None,
        config: ServerConfig | None = None,
    ) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.source = source
        # the config as validated with every missing ${VAR} empty, when nothing else was wrong
        # in it: the stores' own checks can still run on it and report their problems too
        self.config = config

    def __str__(self) -> str:
        return "\n".join(self.problems)

    def extend(self, problems: list[str]) -> None:
        """Add `problems`, less those about a key already reported (a missing variable)."""
        reported = {problem.partition(": ")[0] for problem in self.problems}
        self.problems += [p for p in problems if p.partition(": ")[0] not in reported]


def hash_key(key: str) -> str:
    """The hex SHA-256 of an API key: what the server keeps instead of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# A part of what `check_rate_limits` accepts, for the OpenAPI document ("100/minute").
RATE_LIMIT_PATTERN = r"^[1-9][0-9]{0,5}/([1-9][0-9]{0,2} )?(second|minute|hour|day)s?$"


def check_rate_limits(value: list[str] | Literal[False] | None) -> Any:
    """A validator of rate limit lists ('100/minute', '20 per 10 seconds'; false: none)."""
    if value == []:
        raise ValueError("list at least one limit (or write false for none)")
    for item in value or ():
        try:
            parse_many(item)
        except ValueError:
            raise ValueError(
                f"invalid rate limit {item!r} (expected e.g. '100/minute' or '20 per 10 seconds')"
            ) from None
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _state_store(example: str) -> Any:
    """A validator of where server-side tables live: a PostgreSQL DSN or a SQLite file."""

    def check(value: str | None) -> str | None:
        if value is None or value.startswith(("postgresql://", "postgres://", "sqlite:///")):
            return value
        if "=" in value and "://" not in value:  # libpq's key=value form: host=... dbname=...
            return value
        raise ValueError(
            "expected a PostgreSQL DSN (postgresql://... or host=... dbname=...) or "
            f"sqlite:///path/to/{example}"
        )

    return check


class ApiKey(BaseModel):
    """One client key. Give `key` (hashed on load, then dropped) or its hex `sha256`.

    Without `user_id`, `agent_id` or `app_id` the key is an operator key (acts for anyone; `admin`
    also opens admin routes); with any of them it is bound to that scope and cannot be admin."""

    model_config = _STRICT

    name: str = Field(pattern=KEY_NAME_PATTERN)
    key: SecretStr | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    admin: bool = False
    rate_limit: list[str] | Literal[False] | None = None
    user_id: str | None = Field(default=None, min_length=1)
    agent_id: str | None = Field(default=None, min_length=1)
    app_id: str | None = Field(default=None, min_length=1)

    _normalise_limits = field_validator("rate_limit", mode="before")(_one_or_many)
    _check_limits = field_validator("rate_limit")(check_rate_limits)

    @property
    def scope(self) -> Scope:
        return Scope(user_id=self.user_id, agent_id=self.agent_id, app_id=self.app_id)

    @model_validator(mode="after")
    def _keep_only_the_hash(self) -> ApiKey:
        if (self.key is None) == (self.sha256 is None):
            raise ValueError("give exactly one of key and sha256 (the hex SHA-256 of the key)")
        if self.admin and self.scope.bound:
            raise ValueError(
                f"key {self.name!r} is bound to {self.scope.describe()} and cannot be admin: "
                "admin keys act for everyone (drop admin, or the scope fields)"
            )
        if self.key is not None:
            secret = self.key.get_secret_value()
            if not secret:
                raise ValueError("key must not be empty")
            self.sha256 = hash_key(secret)
            self.key = None
        self.sha256 = self.sha256.lower()  # type: ignore[union-attr]
        return self


_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
_PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class JwtConfig(BaseModel):
    """Signed tokens an app's backend issues for its logged-in users (see docs/security.md).

    Exactly one key source: `secret` (HMAC), `public_key_file` (one PEM key), `jwks_file` (a JWK
    set on disk) or `jwks_url` (fetched, and only then does memio reach the network for tokens)."""

    model_config = _STRICT

    secret: SecretStr | None = None
    public_key_file: Path | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    algorithms: list[str] | None = Field(default=None, min_length=1)
    issuer: str | None = None
    audience: list[str] | None = None
    leeway_seconds: float = Field(default=30.0, ge=0)
    max_lifetime_seconds: float | None = Field(default=None, gt=0)
    claims: dict[Literal["user_id", "agent_id", "app_id"], str] = Field(
        default_factory=lambda: {"user_id": "sub"}, min_length=1
    )

    _normalise_audience = field_validator("audience", mode="before")(_one_or_many)

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtConfig:
        sources = {
            "secret": self.secret,
            "public_key_file": self.public_key_file,
            "jwks_file": self.jwks_file,
            "jwks_url": self.jwks_url,
        }
        given = [name for name, value in sources.items() if value is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of secret, public_key_file, jwks_file and jwks_url"
                + (f" (got {', '.join(given)})" if given else "")
            )
        hmac = self.secret is not None
        if hmac and len(self.secret.get_secret_value()) < 32:  # type: ignore[union-attr]
            raise ValueError("secret: use at least 32 characters (e.g. `openssl rand -hex 32`)")
        allowed = _HMAC_ALGORITHMS if hmac else _PUBLIC_KEY_ALGORITHMS
        if self.algorithms is None:
            self.algorithms = ["HS256"] if hmac else ["RS256", "ES256"]
        wrong = [alg for alg in self.algorithms if alg not in allowed]
        if wrong:
            raise ValueError(
                f"algorithms: {', '.join(map(repr, wrong))} cannot be used with {given[0]} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        for name in ("public_key_file", "jwks_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name}: file {str(path)!r} not found")
        if self.jwks_url is not None and not self.jwks_url.startswith("https://"):
            raise ValueError("jwks_url: must be an https:// URL")
        return self


class AuthConfig(BaseModel):
    model_config = _STRICT

    api_keys: list[ApiKey] = Field(default_factory=list)
    # memio 0.3.1's single key (MEMIO_API_KEY sets it): an admin key named "api_key".
    api_key: SecretStr | None = None
    jwt: JwtConfig | None = None
    # Where keys created with POST /v1/keys live: a PostgreSQL DSN, or a SQLite file
    # (default: <data_dir>/keys.sqlite3).
    key_store: str | None = None
    key_store_schema: str = Field(default="memio", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    # Failed authentications allowed per client address before it gets 429s.
    failure_limit: list[str] | Literal[False] = Field(default_factory=lambda: ["20/minute"])
    public_docs: bool = False
    disabled: bool = False

    _normalise_failures = field_validator("failure_limit", mode="before")(_one_or_many)
    _check_failures = field_validator("failure_limit")(check_rate_limits)

    _known_key_store = field_validator("key_store")(_state_store("keys.sqlite3"))

    @model_validator(mode="after")
    def _check_keys(self) -> AuthConfig:
        if self.api_key is not None:
            self.api_keys.append(ApiKey(name="api_key", key=self.api_key, admin=True))
            self.api_key = None
        names = [key.name for key in self.api_keys]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"api_keys: duplicate name {', '.join(map(repr, duplicates))}")
        if len({key.sha256 for key in self.api_keys}) < len(self.api_keys):
            raise ValueError("api_keys: two entries have the same key")
        if self.disabled and (self.api_keys or self.jwt):
            raise ValueError(
                "disabled: true conflicts with the configured API keys or jwt "
                "(remove them, or unset MEMIO_API_KEY, to run without auth)"
            )
        return self


class CorsConfig(BaseModel):
    model_config = _STRICT

    allow_origins: list[str] = Field(default_factory=list)
    allow_credentials: bool = False
    allow_methods: list[str] = Field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"]
    )
    allow_headers: list[str] = Field(
        default_factory=lambda: ["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"]
    )
    max_age: int = Field(default=600, ge=0)

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsConfig:
        if "*" in self.allow_origins and self.allow_credentials:
            raise ValueError(
                "allow_origins '*' cannot be combined with allow_credentials: true "
                "(any site could then send requests with the user's credentials; list the origins)"
            )
        return self


class LimitsConfig(BaseModel):
    model_config = _STRICT

    max_body_bytes: int = Field(default=MIB, ge=1)
    max_batch_body_bytes: int = Field(default=16 * MIB, ge=1)
    request_timeout_seconds: float = Field(default=30.0, gt=0)


class RateLimitConfig(BaseModel):
    model_config = _STRICT

    # None: on when auth is on (per credential), off when auth is off (then per client address).
    enabled: bool | None = None
    # Bound credentials (and clients without one): per key, or per token subject.
    limits: list[str] = Field(default_factory=lambda: ["100/minute", "20/10 seconds"], min_length=1)
    # Operator keys: unlimited unless set (a backend looping over add must not meet 429).
    operator_limits: list[str] | Literal[False] = False
    storage_uri: str = "memory://"

    _normalise_limits = field_validator("limits", "operator_limits", mode="before")(_one_or_many)
    _check_limits = field_validator("limits", "operator_limits")(check_rate_limits)

    @field_validator("storage_uri")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        scheme = value.removeprefix("async+").partition("://")[0]
        if scheme not in RATE_LIMIT_SCHEMES:
            raise ValueError(
                f"unsupported storage {value!r} (expected memory:// or redis://host:port)"
            )
        return value


class ExpiryConfig(BaseModel):
    """The sweep that deletes expired facts (reads leave them out from the moment they expire)."""

    model_config = _STRICT

    sweep: bool = True
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    # How long an expired fact is kept (still readable with include_expired) before the sweep.
    grace_seconds: float = Field(default=0.0, ge=0)


class ServerSection(BaseModel):
    model_config = _STRICT

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=1, le=65535)
    cors: CorsConfig = Field(default_factory=CorsConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    ready_timeout_seconds: float = Field(default=5.0, gt=0)
    # Where clients reach the server (https://memio.example.com[/prefix]): makes the paging
    # links absolute. Unset: they are relative (path and query); the Host header is never used.
    public_url: str | None = None
    # Key of the HMAC that signs paging cursors. Unset: <data_dir>/cursor-secret, made once.
    cursor_secret: SecretStr | None = Field(default=None, min_length=16)
    # Slow clients: the request head must arrive within header_timeout_seconds (of connecting,
    # or of its first byte on a kept-alive connection); an idle kept-alive connection closes
    # after keep_alive_seconds; beyond max_connections, requests are answered 503.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    keep_alive_seconds: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    expiry: ExpiryConfig = Field(default_factory=ExpiryConfig)
    # Where the mem0 dialects keep the entities given memories (so that deleting one never
    # given any is a 404): a PostgreSQL DSN shared by replicas, or a SQLite file
    # (default: <data_dir>/entities.sqlite3).
    entity_store: str | None = None
    entity_store_schema: str = Field(default="memio", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

    _known_entity_store = field_validator("entity_store")(_state_store("entities.sqlite3"))

    @field_validator("public_url")
    @classmethod
    def _absolute_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an absolute http:// or https:// URL, e.g. https://memio.example.com"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(
                "must be scheme://host[:port][/path] without query, fragment or credentials"
            )
        return value.rstrip("/")


class EmbedderConfig(BaseModel):
    model_config = _STRICT

    provider: Literal["minilm", "openai"] = "minilm"
    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    dimensions: int | None = Field(default=None, ge=1)
    # minilm: "auto" (int8 where the CPU has int8 dot-product instructions, else float), "float"
    # (fp32) or "int8" (memio.embeddings.int8). Vectors of both stay comparable.
    compute: Literal["auto", "float", "int8"] = "auto"

    @model_validator(mode="after")
    def _openai_settings(self) -> EmbedderConfig:
        remote = {"base_url": self.base_url, "model": self.model, "dimensions": self.dimensions}
        if self.provider == "openai":
            missing = [name for name, value in remote.items() if value is None]
            if missing:
                raise ValueError(f"provider openai needs {', '.join(missing)}")
            if "compute" in self.model_fields_set:
                raise ValueError("compute only applies to provider minilm")
        elif any(value is not None for value in (*remote.values(), self.api_key)):
            raise ValueError(
                "base_url, model, api_key and dimensions only apply to provider openai"
            )
        return self


class ExtractionLLMConfig(BaseModel):
    """An OpenAI-compatible chat-completions endpoint that extracts facts from conversations
    (used by the mem0 dialects' ``infer: true``; nothing calls it unless it is configured)."""

    model_config = _STRICT

    base_url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    api_key: SecretStr | None = None
    timeout: float = Field(default=60.0, gt=0)


class ExtractionConfig(BaseModel):
    model_config = _STRICT

    llm: ExtractionLLMConfig | None = None


class StoreConfig(BaseModel):
    model_config = _STRICT

    provider: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("config", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return {} if value is None else value


def _default_stores() -> dict[str, StoreConfig]:
    return {kind: StoreConfig(provider=name) for kind, name in DEFAULT_PROVIDERS.items()}


class ServerConfig(BaseModel):
    """The whole server configuration (see docs/server.md for every key)."""

    model_config = _STRICT

    data_dir: Path = Path("./memio-data")
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    server: ServerSection = Field(default_factory=ServerSection)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    stores: dict[str, StoreConfig] = Field(default_factory=_default_stores)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)

    @model_validator(mode="after")
    def _no_open_network_listener(self) -> ServerConfig:
        host = self.server.host
        if not self.auth_enabled and not self.auth.disabled and not is_loopback(host):
            raise ValueError(
                f"server.host: refusing to listen on {host} without authentication: anyone who "
                "can reach it could read and delete every store. Set MEMIO_API_KEY or "
                "auth.api_keys, or set auth: {disabled: true} if something else guards access"
            )
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth.api_keys) or self.auth.jwt is not None

    @property
    def rate_limit_enabled(self) -> bool:
        enabled = self.server.rate_limit.enabled
        return self.auth_enabled if enabled is None else enabled


def resolve_config_path(
    cli_path: str | Path | None, env: Mapping[str, str] | None = None
) -> Path | None:
    """`--config`, else MEMIO_CONFIG, else ./memio-server.yaml if present (None: built-in
    defaults). A file that was named but does not exist is an error, never silently skipped."""
    env = os.environ if env is None else env
    named = cli_path or env.get("MEMIO_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError([f"config file {str(path)!r} not found"], source=str(path))
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_config(
    path: str | Path | None,
    *,
    env: Mapping[str, str] | None = None,
    host: str | None = None,
    port: int | None = None,
) -> ServerConfig:
    """Read, interpolate and validate a config file (None: the built-in defaults)."""
    if path is None:
        return config_from_dict({}, env=env, host=host, port=port)
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read {source}: {exc.strerror}"], source=source) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc)], source=source) from None
    return config_from_dict(raw, env=env, host=host, port=port, source=source)


def config_from_dict(
    raw: Any,
    *,
    env: Mapping[str, str] | None = None,
    host: str | None = None,
    port: int | None = None,
    source: str | None = None,
) -> ServerConfig:
    """Validate parsed YAML: interpolate `${...}`, apply MEMIO_* and CLI overrides, check."""
    env = os.environ if env is None else env
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            [f"the top level must be a mapping of keys, not {type(raw).__name__}"], source=source
        )
    problems: list[str] = []
    data = _without_empty_sections(_interpolate(raw, env, "", problems))
    origins = _apply_overrides(data, env, host, port, problems)
    # every problem of the file in one run: a key whose variable is missing holds "" now
    error = ConfigError(problems, source=source)
    try:
        config = ServerConfig.model_validate(data)
    except ValidationError as exc:
        error.extend(_validation_problems(exc, origins))
        raise error from None
    if problems:
        error.config = config
        raise error
    return config


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"invalid YAML: {what}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {what}"


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _interpolate(value: Any, env: Mapping[str, str], path: str, problems: list[str]) -> Any:
    if isinstance(value, str):
        return _substitute(value, env, path, problems)
    if isinstance(value, list):
        return [_interpolate(item, env, _join(path, i), problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {
            key: _interpolate(item, env, _join(path, key), problems) for key, item in value.items()
        }
    return value


def _substitute(text: str, env: Mapping[str, str], path: str, problems: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None:
            problems.append(
                f"{path}: malformed reference in {text!r} "
                "(expected ${NAME} or ${NAME:-default}; write $${ for a literal ${)"
            )
            return ""
        if default is not None and "${" in default:
            problems.append(f"{path}: nested references are not supported in {text!r}")
            return ""
        current = env.get(name)
        if default is not None:
            return current or default
        if current is None:
            problems.append(
                f"{path}: environment variable {name} is not set "
                f"(write ${{{name}:-default}} to give a default)"
            )
            return ""
        return current

    return _REFERENCE.sub(replace, text)


def _without_empty_sections(data: dict[str, Any]) -> dict[str, Any]:
    """`server:` with every line below it commented out is None: treat it as absent."""
    data = {key: value for key, value in data.items() if value is not None}
    if isinstance(data.get("server"), dict):
        data["server"] = {key: value for key, value in data["server"].items() if value is not None}
    return data


def _apply_overrides(
    data: dict[str, Any],
    env: Mapping[str, str],
    host: str | None,
    port: int | None,
    problems: list[str],
) -> dict[tuple[str, ...], str]:
    """Put MEMIO_HOST/PORT/API_KEY and the CLI's --host/--port into `data`; returns which key
    paths they set, so a validation error can name the variable rather than the file."""
    origins: dict[tuple[str, ...], str] = {}

    def put(section: str, key: str, value: Any, origin: str) -> None:
        target = data.setdefault(section, {})
        if isinstance(target, dict):
            target[key] = value
            origins[(section, key)] = origin

    for key, var, flag, value in (
        ("host", "MEMIO_HOST", "--host", host),
        ("port", "MEMIO_PORT", "--port", port),
    ):
        if value is not None:
            put("server", key, value, flag)
        elif env.get(var):
            put("server", key, env[var], var)
    api_key = env.get("MEMIO_API_KEY")
    if api_key is not None:
        if api_key:
            put("auth", "api_key", api_key, "MEMIO_API_KEY")
        else:
            problems.append("MEMIO_API_KEY: is set but empty (unset it to run without a key)")
    return origins


def _validation_problems(exc: ValidationError, origins: Mapping[tuple[str, ...], str]) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = error["msg"]
        if error["type"] == "value_error":
            message = str(error["ctx"]["error"])
        elif error["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            message = "unknown key" + (
                f" (expected one of: {', '.join(allowed)})" if allowed else ""
            )
        path = ""
        for part in loc:
            path = _join(path, part)
        origin = origins.get(tuple(map(str, loc)))
        if origin:
            message += f" (set by {origin})"
        problems.append(f"{path}: {message}" if path else message)
    return problems


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at `loc` accepts, for "unknown key" messages."""
    target: Any = ServerConfig
    for part in loc:
        if isinstance(target, type) and issubclass(target, BaseModel):
            field = target.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return []
            target = _without_none(field.annotation)
        else:  # a list or dict of models: step into the item type
            args = [arg for arg in typing.get_args(target) if arg is not type(None)]
            target = _without_none(args[-1]) if args else None
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


# -- the stores a config describes (the server's, and `Memio.from_config`'s) -----------------


def build_embedder(config: EmbedderConfig) -> Embedder:
    """The configured embedder; the default MiniLM loads its model only on first use."""
    if config.provider == "openai":
        from memio.embeddings import OpenAIEmbedder

        assert config.base_url and config.model and config.dimensions  # checked by the config
        return OpenAIEmbedder(
            config.base_url,
            config.model,
            dimensions=config.dimensions,
            api_key=config.api_key.get_secret_value() if config.api_key else None,
        )
    from memio.embeddings import CoalescingEmbedder, default_embedder

    # Concurrent searches share model runs instead of queueing one run each (bench/: 64
    # concurrent searches). The shared MiniLM instance stays unwrapped for library users.
    return CoalescingEmbedder(default_embedder(config.compute))


def build_memio(config: ServerConfig, embedder: Embedder) -> Memio:
    """Construct (without opening) every configured store; all problems are reported at once."""
    context = ProviderContext(data_dir=config.data_dir, embedder=embedder)
    stores = {}
    problems = []
    for kind, store in config.stores.items():
        try:
            stores[kind] = build_store(kind, store.provider, store.config, context)
        except InvalidRequestError as exc:
            problems.append(exc.message)
        except NotSupportedError as exc:
            problems.append(f"stores.{kind}.provider: {exc.message}")
    if problems:
        raise ConfigError(problems)
    return Memio(**stores)
