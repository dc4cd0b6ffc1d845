"""Observability at the edge: a request id on every request, and Prometheus metrics.

* Every request gets an id: the caller's ``X-Request-ID`` when it is a short token of safe
  characters (so a proxy's id carries through), otherwise a new one. It is bound into the
  logging context (every log line written while the request runs carries ``request_id``)
  and returned in the ``X-Request-ID`` response header, so a user's report of a failure can
  be matched to the log lines of exactly that request.
* ``GET /metrics`` on the admin listener, in the Prometheus text format (prometheus-client):
  request counts and latency by route *template* (``/api/v1/tenants/{tenant}``, never the
  raw path: no tenant names or ids in labels, and bounded cardinality), and tenants by
  lifecycle state, read from the database at scrape time. Answered only to clients on
  loopback: the admin listener may be reachable from elsewhere, and the figures describe
  every tenant.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from osp import telemetry
from osp.web.limits import ASGIApp, Message, Receive, Scope, Send

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("osp_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("osp_http_request_duration_seconds",
                                 "Time to answer an HTTP request", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        # This app's HTTP figures, then the process's service counters (osp.telemetry).
        return generate_latest(self.registry) + generate_latest(telemetry.REGISTRY)


class TenantStates(Collector):
    """``osp_tenants{state}``: how many tenants are in each lifecycle state, at scrape time."""

    def __init__(self, list_states: Callable[[], Iterable[str]]) -> None:
        self.list_states = list_states

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("osp_tenants", "Tenants by lifecycle state", labels=["state"])
        counts: dict[str, int] = {}
        for state in self.list_states():
            counts[state] = counts.get(state, 0) + 1
        for state, n in sorted(counts.items()):
            family.add_metric([state], n)
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())  # states are only known at scrape time (no database call at startup)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


class Observe:
    """Pure ASGI middleware: request id (log context + header) and request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope.get("headers") or []
                         if k.lower() == b"x-request-id"), "")
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers") or []
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        began = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = _route_of(scope)
                method = str(scope.get("method", ""))
                self.metrics.requests.labels(method, route, str(status[0])).inc()
                self.metrics.latency.labels(method, route).observe(
                    time.perf_counter() - began)


def _from_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "testclient"  # Starlette's TestClient


def install_observability(app: FastAPI, tenant_states: Callable[[], Iterable[str]] | None = None
                          ) -> Metrics:
    metrics = Metrics()
    if tenant_states is not None:
        metrics.add_collector(TenantStates(tenant_states))
    app.state.metrics = metrics

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request) -> Any:
        if not _from_loopback(request):
            return Response('{"error":"not found"}', status_code=404,
                            media_type="application/json")
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.add_middleware(Observe, metrics=metrics)
    return metrics
