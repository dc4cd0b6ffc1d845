"""Request ids (log lines and a response header) and Prometheus metrics on the admin app."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from fastapi.testclient import TestClient

from osp.logs import configure_logging, get_logger
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.apps import admin_app


def test_every_answer_carries_a_request_id_and_a_safe_incoming_one_is_kept(
        platform: Platform) -> None:
    with TestClient(admin_app(platform)) as client:
        first, second = client.get("/healthz"), client.get("/healthz")
        kept = client.get("/healthz", headers={"X-Request-ID": "proxy-id-0123456789"})
        replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
        refused = client.post("/api/v1/auth/login", content=b"x" * 16,
                              headers={"content-length": str(10**9)})
    ids = [r.headers["x-request-id"] for r in (first, second)]
    assert len(set(ids)) == 2 and all(len(i) >= 16 for i in ids)
    assert kept.headers["x-request-id"] == "proxy-id-0123456789"
    assert "\n" not in replaced.headers["x-request-id"]
    assert refused.status_code == 413 and refused.headers["x-request-id"]


def test_log_lines_written_during_a_request_carry_its_id(platform: Platform) -> None:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    app = admin_app(platform)

    @app.get("/logs-something")
    def logs_something() -> dict[str, str]:
        get_logger("test").info("inside_the_request")
        return {}

    try:
        with TestClient(app) as client:
            response = client.get("/logs-something")
    finally:
        configure_logging("info")
    lines = [json.loads(ln) for ln in stream.getvalue().splitlines() if ln.startswith("{")]
    inside = [ln for ln in lines if ln.get("event") == "inside_the_request"]
    assert inside and inside[0]["request_id"] == response.headers["x-request-id"]


def test_metrics_count_requests_by_route_template_and_tenants_by_state(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("metrics")
    with TestClient(admin_app(platform)) as client:
        client.get("/healthz")
        client.get(f"/api/v1/tenants/{tenant.name}")  # 401: no session, still counted
        text = client.get("/metrics").text
    assert 'osp_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="/api/v1/tenants/{tenant}",status="401"' in text
    assert tenant.name not in text  # route templates only: no tenant names in labels
    assert "osp_http_request_duration_seconds_bucket" in text
    assert 'osp_tenants{state="' in text


def test_metrics_are_not_served_to_remote_clients(platform: Platform) -> None:
    with TestClient(admin_app(platform), client=("203.0.113.9", 5555)) as client:
        assert client.get("/metrics").status_code == 404
