"""OAuth routes under /api/v1 (thin: each calls the broker), plus the agent token route builder."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from osp.oauth.catalog import load_catalog
from osp.oauth.schemas import (
    CatalogOut,
    ConnectIn,
    ConnectionOut,
    ConnectOut,
    IntegrationOut,
    ProviderIn,
    ProviderOut,
    RevokeOut,
    ToolOut,
)
from osp.oauth.service import OAuthBroker
from osp.oauth.tools import load_tools
from osp.web.deps import PlatformDep, PrincipalDep, tenant_of

router = APIRouter(prefix="/api/v1", tags=["oauth"])
CALLBACK_PATH = "/api/v1/oauth/callback"
BINDING_COOKIE = "osp_oauth_binding"


def get_broker(request: Request) -> OAuthBroker:
    # The composition root puts its one broker here (osp.app.App.admin_app).
    broker: OAuthBroker = request.app.state.oauth_broker
    return broker


BrokerDep = Annotated[OAuthBroker, Depends(get_broker)]


@router.get("/oauth/catalog", response_model=list[CatalogOut])
def catalog(principal: PrincipalDep) -> list[CatalogOut]:
    return [CatalogOut(key=e.key, title=e.title, openid=e.openid, pkce=e.pkce,
                       revocation=e.revocation_style, refresh_rotates=e.refresh_rotates,
                       refresh_note=e.refresh_note,
                       integrations=[IntegrationOut(key=i.key, title=i.title, scopes=list(i.scopes))
                                     for i in e.integrations.values()])
            for e in load_catalog().values()]


@router.get("/oauth/tools", response_model=list[ToolOut])
def tools(principal: PrincipalDep) -> list[ToolOut]:
    """Connected-app tools an agent can be allowed to use (enable them in the policy)."""
    return [ToolOut.model_validate(t, from_attributes=True) for t in load_tools().values()]


@router.get("/tenants/{tenant}/oauth/providers", response_model=list[ProviderOut])
def list_providers(tenant: str, platform: PlatformDep, principal: PrincipalDep,
                   broker: BrokerDep) -> list[ProviderOut]:
    principal.require("secrets:read")
    tenant_of(platform, principal, tenant)
    return [ProviderOut(**p.__dict__) for p in broker.list_providers(principal.tenant_id)]


@router.post("/tenants/{tenant}/oauth/providers", response_model=ProviderOut, status_code=201)
def add_provider(tenant: str, body: ProviderIn, platform: PlatformDep, principal: PrincipalDep,
                 broker: BrokerDep) -> ProviderOut:
    # Registering a client stores its secret: the same right as writing a secret.
    principal.require("secrets:write")
    tenant_of(platform, principal, tenant)
    info = broker.add_provider(principal.tenant_id, body.name, client_id=body.client_id,
                               client_secret=body.client_secret.get_secret_value(),
                               redirect_uri=body.redirect_uri, actor=principal.actor,
                               issuer=body.issuer, catalog_key=body.catalog)
    return ProviderOut(**info.__dict__)


@router.post("/tenants/{tenant}/oauth/connect", response_model=ConnectOut)
def connect(tenant: str, body: ConnectIn, response: Response, platform: PlatformDep,
            principal: PrincipalDep, broker: BrokerDep) -> ConnectOut:
    principal.require("secrets:write")
    tenant_of(platform, principal, tenant)
    # A signed-in browser gets a binding cookie; its callback must bring it back. Lax, not
    # Strict: the callback is a top-level navigation coming from the provider's site.
    browser = principal.kind == "session"
    start = broker.start(principal.tenant_id, body.provider, actor=principal.actor,
                         user_id=principal.user_id, scopes=body.scopes,
                         integrations=body.integrations, bind_browser=browser)
    if start.binding:
        response.set_cookie(BINDING_COOKIE, start.binding, max_age=600, httponly=True,
                            secure=platform.settings.cookie_secure, samesite="lax",
                            path=CALLBACK_PATH)
    return ConnectOut(authorization_url=start.authorization_url, expires_at=start.expires_at)


@router.get("/oauth/callback", response_model=ConnectionOut)
def callback(request: Request, response: Response, broker: BrokerDep) -> ConnectionOut:
    """Where the provider sends the browser back. The state authenticates the request."""
    binding = request.cookies.get(BINDING_COOKIE)
    response.delete_cookie(BINDING_COOKIE, path=CALLBACK_PATH)
    info = broker.complete(str(request.url), binding=binding)
    return ConnectionOut(**info.__dict__)


@router.get("/tenants/{tenant}/connections", response_model=list[ConnectionOut])
def list_connections(tenant: str, platform: PlatformDep, principal: PrincipalDep,
                     broker: BrokerDep) -> list[ConnectionOut]:
    principal.require("secrets:read")
    tenant_of(platform, principal, tenant)
    return [ConnectionOut(**c.__dict__) for c in broker.list_connections(principal.tenant_id)]


@router.delete("/tenants/{tenant}/connections/{provider}", response_model=RevokeOut)
def revoke(tenant: str, provider: str, platform: PlatformDep, principal: PrincipalDep,
           broker: BrokerDep) -> RevokeOut:
    principal.require("secrets:write")
    tenant_of(platform, principal, tenant)
    result = broker.revoke(principal.tenant_id, provider, principal.actor)
    return RevokeOut(**result.__dict__)
