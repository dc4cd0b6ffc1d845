"""The control plane's *internal* API: the only control-plane port a tenant container reaches.

It is served on its own listener (default port 8401), never on the admin API's app, so the
firewall can let tenants reach this port and nothing else on the host. It exposes the
bootstrap exchange, and whatever routers the wiring adds for booted agents (each of those
authenticates the agent with :class:`osp.runtime.agent_auth.AgentAuthenticator`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

from osp.checks.names import TENANT_NAME_MAX
from osp.runtime.bootstrap import BootstrapService, ExchangeRefused
from osp.web.app import install_error_handlers
from osp.web.limits import BodyLimit

Locate = Callable[[str], str | None]  # tenant -> current container IP (None if not running)
OnExchanged = Callable[[str, str], None]  # (tenant, instance_id) after a successful trade


class ExchangeRequest(BaseModel):
    tenant: str = Field(max_length=TENANT_NAME_MAX)
    instance_id: str = Field(max_length=64)


class ExchangeResponse(BaseModel):
    secrets: dict[str, str]
    status_key: str
    agent_key: str
    memory_key: str


def build_internal_router(
    service: BootstrapService,
    locate: Locate | None = None,
    on_exchanged: OnExchanged | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/internal/v1")

    @router.post("/bootstrap/exchange", response_model=ExchangeResponse)
    def exchange(
        body: ExchangeRequest, request: Request, authorization: str = Header(default="")
    ) -> ExchangeResponse:
        token = authorization.removeprefix("Bearer ").strip()
        peer = request.client.host if request.client else ""

        def peer_ok(tenant: str) -> bool:
            # Network binding: the token only works from that tenant's own container.
            return locate is None or (bool(peer) and locate(tenant) == peer)

        try:
            result = service.exchange(token, body.tenant, body.instance_id, peer_ok)
        except ExchangeRefused:
            # The reason is in the audit trail; the caller only learns "no".
            raise HTTPException(status_code=401, detail="refused") from None
        if on_exchanged is not None:
            on_exchanged(result.tenant, result.instance_id)
        return ExchangeResponse(secrets=dict(result.secrets), status_key=result.status_key,
                                agent_key=result.agent_key,
                                memory_key=result.memory_key)

    return router


def create_internal_app(
    service: BootstrapService,
    locate: Locate | None = None,
    on_exchanged: OnExchanged | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """A separate ASGI app for the internal listener (no docs, no admin routes)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    # Tenant containers are the callers here: a compromised one must not exhaust memory either.
    app.add_middleware(BodyLimit)
    app.include_router(build_internal_router(service, locate, on_exchanged))
    for router in routers:
        app.include_router(router)

    @app.get("/internal/v1/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app
