"""Request authentication: session cookie (+ CSRF double-submit) or per-tenant API token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from osp.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from osp.identity.secrets import same, sha256_hex
from osp.identity.service import Principal
from osp.platform import Platform
from osp.tenancy.service import TenantInfo

SESSION_COOKIE = "osp_session"
CSRF_COOKIE = "osp_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def csrf_ok(principal: Principal, sent: str) -> bool:
    """Whether ``sent`` is the session's CSRF token (the API's header, the console's form
    field): only its hash is stored, compared in constant time."""
    return bool(sent) and principal.csrf_hash is not None and \
        same(sha256_hex(sent), principal.csrf_hash)


def _principal(request: Request, platform: Platform, *, allow_partial: bool) -> Principal:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return platform.identity.authenticate_token(auth[7:].strip())
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("sign in or send an API token")
    principal = platform.identity.authenticate_session(token)
    # Cookies ride along on cross-site requests; the header cannot be set cross-site,
    # so a state-changing request must echo the CSRF token.
    if request.method not in SAFE_METHODS and \
            not csrf_ok(principal, request.headers.get(CSRF_HEADER, "")):
        raise Forbidden("missing or wrong CSRF token")
    if principal.stage != "full" and not allow_partial:
        raise Forbidden("finish two-factor authentication first")
    return principal


def current_principal(request: Request, platform: PlatformDep) -> Principal:
    return _principal(request, platform, allow_partial=False)


def partial_principal(request: Request, platform: PlatformDep) -> Principal:
    """Also accepts a session still in its 2FA step (for the endpoints that finish it)."""
    return _principal(request, platform, allow_partial=True)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
PartialPrincipalDep = Annotated[Principal, Depends(partial_principal)]


def tenant_of(platform: Platform, principal: Principal, tenant: str) -> TenantInfo:
    """The path's tenant must be the caller's own; any other name looks like it doesn't exist."""
    try:
        info = platform.tenants.get(tenant)
    except (NotFound, InvalidInput):
        raise NotFound(f"unknown tenant {tenant[:60]!r}") from None
    if info.id != principal.tenant_id:
        raise NotFound(f"unknown tenant {tenant[:60]!r}")
    return info


@dataclass(frozen=True)
class TenantAccess:
    """The path's tenant, resolved once at the edge, and the caller allowed to act on it."""

    info: TenantInfo
    principal: Principal


def tenant_access(*scopes: str) -> Any:
    """The one dependency of every ``/tenants/{tenant}/...`` route: the caller must hold each
    scope (403 otherwise), then the path's tenant must be the caller's own (any other name
    answers as unknown, 404). Handlers and the services below them get the TenantInfo and
    never look the name up again."""

    def resolve(tenant: str, platform: PlatformDep, principal: PrincipalDep) -> TenantAccess:
        for scope in scopes:
            principal.require(scope)
        return TenantAccess(tenant_of(platform, principal, tenant), principal)

    return Depends(resolve)
