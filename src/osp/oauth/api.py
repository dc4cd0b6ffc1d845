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
from osp.web.deps import PlatformDep, PrincipalDep, TenantAccess, tenant_access

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
def list_providers(access: Annotated[TenantAccess, tenant_access("secrets:read")],
                   broker: BrokerDep) -> list[ProviderOut]:
    return [ProviderOut(**p.__dict__) for p in broker.list_providers(access.info.id)]


@router.post("/tenants/{tenant}/oauth/providers", response_model=ProviderOut, status_code=201)
def add_provider(body: ProviderIn, broker: BrokerDep,
                 # Registering a client stores its secret: the same right as writing a secret.
                 access: Annotated[TenantAccess, tenant_access("secrets:write")]
                 ) -> ProviderOut:
    principal = access.principal
    info = broker.add_provider(access.info.id, body.name, client_id=body.client_id,
                               client_secret=body.client_secret.get_secret_value(),
                               redirect_uri=body.redirect_uri, actor=principal.actor,
                               issuer=body.issuer, catalog_key=body.catalog)
    return ProviderOut(**info.__dict__)


@router.post("/tenants/{tenant}/oauth/connect", response_model=ConnectOut)
def connect(body: ConnectIn, response: Response, platform: PlatformDep,
            access: Annotated[TenantAccess, tenant_access("secrets:write")],
            broker: BrokerDep) -> ConnectOut:
    principal = access.principal
    # A signed-in browser gets a binding cookie; its callback must bring it back. Lax, not
    # Strict: the callback is a top-level navigation coming from the provider's site.
    browser = principal.kind == "session"
    start = broker.start(access.info.id, body.provider, actor=principal.actor,
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
def list_connections(access: Annotated[TenantAccess, tenant_access("secrets:read")],
                     broker: BrokerDep) -> list[ConnectionOut]:
    return [ConnectionOut(**c.__dict__) for c in broker.list_connections(access.info.id)]


@router.delete("/tenants/{tenant}/connections/{provider}", response_model=RevokeOut)
def revoke(provider: str, access: Annotated[TenantAccess, tenant_access("secrets:write")],
           broker: BrokerDep) -> RevokeOut:
    result = broker.revoke(access.info.id, provider, access.principal.actor)
    return RevokeOut(**result.__dict__)
