"""The operations routes: /, /health, /ready, /status, /metrics and the offline docs."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from memio import __version__
from memio.client import Memio
from memio.errors import NotFoundError, ProviderError
from memio.server.app import create_app
from tests.server.conftest import AUTH, USER_KEY, ProbeStore, bearer, make_config
from tests.support.server_process import free_port


def test_root_redirects_to_the_docs(serve):
    response = serve({}).get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/docs"


def test_health_lists_the_configured_stores(serve):
    client = serve({}, memio=Memio(facts=ProbeStore(), graph=ProbeStore()))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "stores": {"facts": True, "history": False, "documents": False, "graph": True},
    }


def test_health_never_calls_a_backend(serve):
    hold = threading.Event()  # never set: any call into the store would hang
    store = ProbeStore(hold=hold)
    try:
        assert serve({}, memio=Memio(facts=store)).get("/health").status_code == 200
        assert not store.entered.is_set()
    finally:
        hold.set()


def test_ready_when_every_store_answers(serve):
    response = serve({}).get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "stores": {
            kind: {"provider": "memory", "status": "ok", "detail": None}
            for kind in ("facts", "history", "documents", "graph")
        },
    }


def test_ready_is_503_when_a_store_fails(serve):
    failing = ProbeStore(
        provider="postgres",
        ping_error=ProviderError("connection refused", provider="postgres", operation="ping"),
    )
    client = serve({}, memio=Memio(facts=ProbeStore(), history=failing))
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "stores": {
            "facts": {"provider": "probe", "status": "ok", "detail": None},
            "history": {
                "provider": "postgres",
                "status": "error",
                "detail": "postgres.ping failed: connection refused",
            },
        },
    }
    metrics = client.get("/metrics").text
    assert 'memio_provider_errors_total{operation="ping",provider="postgres"} 1.0' in metrics


def test_ready_is_503_when_chroma_is_unreachable(serve):
    closed = free_port()  # nothing listens there
    stores = {
        "facts": {"provider": "chroma", "config": {"url": f"http://127.0.0.1:{closed}"}},
        "history": {"provider": "memory"},
    }
    # a generous deadline: the first ping also imports chromadb, slow on a busy machine
    response = serve({"stores": stores, "server": {"ready_timeout_seconds": 120}}).get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["stores"]["history"]["status"] == "ok"
    facts = body["stores"]["facts"]
    assert (facts["provider"], facts["status"]) == ("chroma", "error")
    assert facts["detail"].startswith("chroma.ping failed")


def test_ready_does_not_wait_for_a_hung_store(serve):
    hold = threading.Event()
    try:
        client = serve(
            {"server": {"ready_timeout_seconds": 0.2}},
            memio=Memio(facts=ProbeStore(hold=hold), graph=ProbeStore()),
        )
        response = client.get("/ready")
    finally:
        hold.set()
    assert response.status_code == 503
    stores = response.json()["stores"]
    assert stores["facts"] == {
        "provider": "probe",
        "status": "error",
        "detail": "no answer within 0.2 s",
    }
    assert stores["graph"]["status"] == "ok"


def test_ops_routes_need_auth_when_it_is_on(serve):
    client = serve({"auth": AUTH})
    for path in ("/ready", "/status", "/metrics"):
        assert client.get(path).status_code == 401
    assert client.get("/ready", headers=bearer(USER_KEY)).status_code == 200


def test_status_reports_providers_versions_and_counts(serve):
    broken = ProbeStore(provider="chroma")

    async def count_fails() -> int:
        raise ProviderError("timed out", provider="chroma", operation="count")

    broken.count = count_fails  # type: ignore[method-assign]
    client = serve(
        {"auth": AUTH}, memio=Memio(facts=ProbeStore(items=3, expired=2), documents=broken)
    )
    body = client.get("/status", headers=bearer(USER_KEY)).json()
    assert body["status"] == "ok"
    assert body["auth"] is True
    assert body["versions"]["memio"] == __version__
    assert set(body["versions"]) == {"memio", "python", "fastapi", "pydantic"}
    assert body["stores"] == {
        "facts": {"provider": "probe", "count": 3, "expired": 2, "error": None},
        "documents": {
            "provider": "chroma",
            "count": None,
            "expired": None,
            "error": "chroma.count failed: timed out",
        },
    }


def test_status_counts_real_items(serve):
    client = serve({})
    client.post("/v1/facts", json={"content": "likes tea", "user_id": "u1"})
    assert client.get("/status").json()["stores"]["facts"] == {
        "provider": "memory",
        "count": 1,
        "expired": 0,
        "error": None,
    }


def metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_requests_by_route_template(serve):
    client = serve({})
    client.get("/health")
    client.get("/health")
    client.get("/v1/facts/f-404")
    client.get("/v1/facts/f-405")
    client.get("/not/a/route")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = metric_samples(response.text)

    def requests(route: str, status: str) -> float:
        key = (("method", "GET"), ("route", route), ("status", status))
        return samples[("memio_http_requests_total", key)]

    assert requests("/health", "200") == 2
    assert requests("/v1/facts/{fact_id}", "404") == 2
    assert requests("unmatched", "404") == 1
    buckets = (("le", "+Inf"), ("method", "GET"), ("route", "/health"))
    assert samples[("memio_http_request_duration_seconds_bucket", buckets)] == 2
    assert not any("f-404" in name or "f-404" in str(labels) for name, labels in samples)


def test_refused_requests_are_counted_under_their_route(serve):
    client = serve({"auth": AUTH})
    client.get("/v1/facts/abc")
    client.post("/v1/facts/search")
    text = client.get("/metrics", headers=bearer("server-tests-admin-key")).text
    assert (
        'memio_http_requests_total{method="GET",route="/v1/facts/{fact_id}",status="401"}' in text
    )
    assert 'memio_http_requests_total{method="POST",route="/v1/facts/search",status="401"}' in text


def test_each_app_has_its_own_registry(serve):
    first, second = serve({}), serve({})
    first.get("/health")
    text = second.get("/metrics").text
    assert 'route="/health"' not in text


def test_docs_render_from_local_assets_only(serve):
    client = serve({})
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, html
        assert "http://" not in html and "https://" not in html and "//cdn" not in html
        for asset in assets:
            assert asset.startswith("/static-offline-docs/"), asset
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert len(response.content) > 0
    assert "url: '/openapi.json'" in client.get("/docs").text
    assert client.get("/openapi.json").json()["info"]["title"] == "memio"


def test_swagger_ui_does_not_call_the_online_validator(serve):
    assert '"validatorUrl": null' in serve({}).get("/docs").text


class HeldFacts(ProbeStore):
    async def get(self, *, fact_id: str, include_expired: bool = False) -> None:
        await self._maybe_hold()
        raise NotFoundError("fact", fact_id)


@pytest.mark.parametrize("path", ["/status", "/ready", "/v1/facts/f-1"])
async def test_health_answers_while_a_request_waits_in_a_store(path):
    """A store call blocked in a worker thread must not stop the event loop serving others."""
    hold = threading.Event()
    store = HeldFacts(hold=hold)
    app = create_app(make_config({}), memio=Memio(facts=store))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        held = asyncio.create_task(client.get(path))
        try:
            assert await asyncio.to_thread(store.entered.wait, 30), "the store was never called"
            health = await client.get("/health")
            assert health.status_code == 200
            assert not held.done()  # /health finished while the other request was still held
        finally:
            hold.set()
        assert (await held).status_code in (200, 404)


def _eventually(check, seconds: float = 60.0) -> bool:
    """Poll `check` until it holds or `seconds` pass (a bound, not a speed assertion)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_stores_open_in_the_background_at_startup(serve, tmp_path):
    history = tmp_path / "history.sqlite3"
    serve({"stores": {"history": {"provider": "sqlite", "config": {"path": str(history)}}}})
    assert _eventually(history.exists)  # no request was made: the warm-up opened it


def test_a_store_down_at_startup_is_logged_and_the_server_answers(serve, caplog):
    closed = free_port()  # nothing listens there
    stores = {"facts": {"provider": "chroma", "config": {"url": f"http://127.0.0.1:{closed}"}}}
    with caplog.at_level(logging.WARNING, logger="memio.server"):
        client = serve({"stores": stores})
        assert client.get("/health").status_code == 200
        assert _eventually(lambda: "warm-up: facts store not ready yet" in caplog.text)
