"""`create_app`: the memio REST gateway as a FastAPI app.

The stores are built once, in the lifespan, opened in the background as the server starts
answering, and closed at shutdown. Cross-cutting concerns are small ASGI middleware, outermost
first: request id, metrics, CORS, last-resort 500, timeout, auth, rate limit, body limit; so every
answer, even a refusal, carries a request id, is counted and is readable by a browser. Swagger UI
and ReDoc are served from memio's own assets (fastapi-offline), never from a CDN, so /docs works
offline. /mcp serves the same stores as MCP tools (server/mcp), behind the same middleware.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from memio import __version__
from memio.client import Memio
from memio.config import ServerConfig, build_embedder, build_memio
from memio.errors import EmbedderMismatchError
from memio.pagination import use_cursor_secret
from memio.protocols import Embedder
from memio.providers.shared import DataLockedError
from memio.redaction import redacted
from memio.server.asgi import ALWAYS_PUBLIC, RouteFinder
from memio.server.auth import Authenticator, AuthMiddleware, FailureThrottle
from memio.server.body_limit import BodyLimitMiddleware
from memio.server.cursor_secret import cursor_secret
from memio.server.errors import UnhandledErrorMiddleware, install_error_handlers
from memio.server.expiry import sweeping
from memio.server.keystore import KeyStore, build_key_store
from memio.server.mcp.http import McpEndpoint
from memio.server.mem0_api.entities import build_entity_registry
from memio.server.mem0_api.extraction import ExtractionLLM
from memio.server.metrics import Metrics, MetricsMiddleware
from memio.server.openapi import install_openapi
from memio.server.ratelimit import Counters, RateLimiter, RateLimitMiddleware, describe
from memio.server.request_id import RequestIdMiddleware
from memio.server.routers import all_routers, ops
from memio.server.timeout import TimeoutMiddleware
from memio.server.tokens import TokenVerifier

__all__ = ["DOCS_PATHS", "build_embedder", "build_memio", "claim_data", "create_app"]

logger = logging.getLogger("memio.server")

STATIC_DOCS = "/static-offline-docs"
DOCS_PATHS = frozenset({"/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
EXPOSED_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "Link",
    "X-Next-Cursor",
    "X-Memio-Ignored",
]


def create_app(config: ServerConfig | None = None, *, memio: Memio | None = None) -> FastAPI:
    """The app for `config` (default: the built-in defaults). Pass `memio` to serve stores you
    built yourself; the app then uses them as they are and leaves closing them to you."""
    config = config or ServerConfig()
    metrics = Metrics()
    needs_counters = config.auth_enabled or config.rate_limit_enabled
    counters = Counters(config.server.rate_limit.storage_uri) if needs_counters else None
    limiter = _rate_limiter(config, counters)
    key_store = _key_store(config)
    entity_registry = build_entity_registry(config, in_memory=memio is not None)
    authenticator = _authenticator(config, key_store)
    routers = [*all_routers(), ops.router]
    mcp = McpEndpoint()
    extraction_llm = ExtractionLLM.from_config(config)  # one HTTP client per process

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with (
                serve_stores(app),
                sweeping(app.state.memio, config.server.expiry),
                mcp.running(),  # MCP calls end before the stores close
            ):
                yield
        finally:
            if extraction_llm is not None:
                await extraction_llm.aclose()

    @asynccontextmanager
    async def serve_stores(app: FastAPI) -> AsyncIterator[None]:
        if counters is not None:
            counters.open()
        try:
            if memio is not None:
                # stores the caller built: the configured secret, else this process's key
                # (no file is written to a data directory these stores may not use)
                if config.server.cursor_secret is not None:
                    use_cursor_secret(config.server.cursor_secret.get_secret_value())
                app.state.memio = memio
                _log_summary(config, memio, limiter)
                yield
                return
            use_cursor_secret(await asyncio.to_thread(cursor_secret, config))
            embedder = build_embedder(config.embedder)
            app.state.memio = stores = build_memio(config, embedder)
            try:
                await claim_data(stores)
            except BaseException:
                await stores.aclose()
                await embedder.aclose()
                raise
            _log_summary(config, stores, limiter)
            warming = asyncio.create_task(_warm_up(stores, embedder, key_store))
            try:
                yield
            finally:
                try:
                    await warming  # never close a store while it is still opening
                finally:
                    try:
                        await stores.aclose()
                    finally:
                        await embedder.aclose()
        finally:
            try:
                await entity_registry.aclose()
            finally:
                if key_store is not None:
                    await key_store.aclose()

    app = FastAPIOffline(
        title="memio",
        version=__version__,
        description="Memory gateway for AI agents: facts, history, documents and graph.",
        lifespan=lifespan,
        middleware=_middleware(config, limiter, metrics, routers, authenticator, counters),
        static_url=STATIC_DOCS,
        # validatorUrl None: Swagger UI must not call validator.swagger.io (offline, private).
        swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
    )
    app.state.config = config
    app.state.extraction_llm = extraction_llm
    app.state.metrics = metrics
    app.state.key_store = key_store
    app.state.entity_registry = entity_registry
    app.state.authenticator = authenticator
    app.state.route_finder = RouteFinder(routers)  # whose error style a refusal takes
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    app.router.routes.append(mcp.route())
    install_openapi(app, routers, auth=config.auth_enabled, rate_limited=limiter is not None)
    return app


async def claim_data(stores: Memio) -> None:
    """Take the process lock of every embedded store (`path_lock`, see `shared.PathLock`)
    before serving: a second server on the same data directory then fails to start, saying which
    process holds it, instead of corrupting it or failing request after request. Stores whose
    data records its embedder (`check_embedder`: PostgreSQL's pgvector stores) are opened too,
    so vectors of another model refuse the start the same way."""
    for kind, store in stores.stores.items():
        lock = getattr(store, "path_lock", None)
        check = getattr(store, "check_embedder", None)
        try:
            if lock is not None:
                await asyncio.to_thread(lock.acquire)
            if check is not None:
                await check()
        except (DataLockedError, EmbedderMismatchError) as exc:
            logger.error("cannot serve the %s store: %s", kind, exc.message)
            raise


async def _warm_up(stores: Memio, embedder: Embedder, key_store: KeyStore | None) -> None:
    """Open every store and load a local model while the server already answers, so the first
    request does not pay for them (bench/: up to 1 s before the first search on an empty data
    dir). A failure here is only logged: the request that meets it reports it properly."""
    steps = {f"{kind} store": store.ping() for kind, store in stores.stores.items()}
    if key_store is not None and key_store.shared:  # a local key file is made on first use
        steps["key store"] = key_store.open()
    load = getattr(embedder, "load", None)  # local models only; a remote one is not called
    if load is not None:
        steps["embedder"] = asyncio.to_thread(load)
    results = await asyncio.gather(*steps.values(), return_exceptions=True)
    for name, result in zip(steps, results, strict=True):
        if isinstance(result, Exception):
            logger.warning("warm-up: %s not ready yet: %s", name, redacted(str(result)))
        elif name == "embedder" and result:
            logger.info("embedder: %s", result)


def _rate_limiter(config: ServerConfig, counters: Counters | None) -> RateLimiter | None:
    if not config.rate_limit_enabled or counters is None:
        return None
    settings = config.server.rate_limit
    return RateLimiter(counters, limits=settings.limits, operator_limits=settings.operator_limits)


def _key_store(config: ServerConfig) -> KeyStore | None:
    """Runtime keys (POST /v1/keys) only mean something when credentials are checked."""
    if not config.auth_enabled:
        return None
    auth = config.auth
    return build_key_store(auth.key_store, auth.key_store_schema, config.data_dir)


def _authenticator(config: ServerConfig, key_store: KeyStore | None) -> Authenticator | None:
    if not config.auth_enabled:
        return None
    tokens = TokenVerifier(config.auth.jwt) if config.auth.jwt is not None else None
    return Authenticator(config.auth.api_keys, tokens=tokens, key_store=key_store)


def _middleware(
    config: ServerConfig,
    limiter: RateLimiter | None,
    metrics: Metrics,
    routers: list[APIRouter],
    authenticator: Authenticator | None,
    counters: Counters | None,
) -> list[Middleware]:
    cors = config.server.cors
    limits = config.server.limits
    stack = [
        Middleware(RequestIdMiddleware),
        Middleware(MetricsMiddleware, metrics=metrics, routers=routers),
    ]
    if cors.allow_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors.allow_origins,
                allow_credentials=cors.allow_credentials,
                allow_methods=cors.allow_methods,
                allow_headers=cors.allow_headers,
                expose_headers=EXPOSED_HEADERS,
                max_age=cors.max_age,
            )
        )
    stack.append(Middleware(UnhandledErrorMiddleware))
    stack.append(Middleware(TimeoutMiddleware, seconds=limits.request_timeout_seconds))
    if authenticator is not None:
        docs_public = config.auth.public_docs
        failures = config.auth.failure_limit
        throttle = FailureThrottle(counters, failures) if counters and failures else None
        stack.append(
            Middleware(
                AuthMiddleware,
                authenticator=authenticator,
                throttle=throttle,
                public_paths=ALWAYS_PUBLIC | (DOCS_PATHS if docs_public else frozenset()),
                public_prefixes=(f"{STATIC_DOCS}/",) if docs_public else (),
            )
        )
    if limiter is not None:
        stack.append(Middleware(RateLimitMiddleware, limiter=limiter))
    stack.append(
        Middleware(
            BodyLimitMiddleware,
            max_body_bytes=limits.max_body_bytes,
            max_batch_body_bytes=limits.max_batch_body_bytes,
        )
    )
    return stack


def _log_summary(config: ServerConfig, stores: Memio, limiter: RateLimiter | None) -> None:
    served = ", ".join(f"{kind}={store.provider}" for kind, store in stores.stores.items())
    keys = len(config.auth.api_keys)
    auth = "off"
    if config.auth_enabled:
        auth = f"on ({keys} key{'s' if keys != 1 else ''}{', tokens' if config.auth.jwt else ''})"
    limits = "off"
    if limiter is not None:
        limits = f"{', '.join(map(describe, limiter.default))} per bound credential"
        if limiter.operator:
            limits += f", {', '.join(map(describe, limiter.operator))} per operator key"
    logger.info("stores: %s; auth: %s; rate limit: %s", served or "none", auth, limits)
    logger.info("extraction LLM: %s", ExtractionLLM.summary(config))
