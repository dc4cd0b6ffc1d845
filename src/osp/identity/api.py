"""Routes: login with the TOTP step, logout, 2FA enrolment, users, API tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, Response

from osp.identity.schemas import (
    ConfirmIn,
    EnrolOut,
    LoginIn,
    LoginOut,
    MeOut,
    RecoveryCodesOut,
    SecondFactorIn,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from osp.identity.service import LoginResult, check_assignable
from osp.web.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    PartialPrincipalDep,
    PlatformDep,
    TenantAccess,
    client_address,
    tenant_access,
)

router = APIRouter(prefix="/api/v1", tags=["identity"])


def _set_cookies(response: Response, result: LoginResult, secure: bool) -> LoginOut:
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, secure=secure,
                        samesite="strict", path="/")
    # Readable by the page's script on purpose: it is echoed in the X-CSRF-Token header.
    response.set_cookie(CSRF_COOKIE, result.csrf, httponly=False, secure=secure,
                        samesite="strict", path="/")
    return LoginOut(stage=result.stage, csrf_token=result.csrf)


@router.post("/auth/login", response_model=LoginOut)
def login(body: LoginIn, request: Request, response: Response,
          platform: PlatformDep) -> LoginOut:
    result = platform.identity.login(body.tenant, body.email, body.password,
                                     client_address(request))
    return _set_cookies(response, result, platform.settings.cookie_secure)


@router.post("/auth/totp", response_model=LoginOut)
def second_factor(body: SecondFactorIn, request: Request, response: Response,
                  platform: PlatformDep, _p: PartialPrincipalDep) -> LoginOut:
    result = platform.identity.complete_mfa(request.cookies.get(SESSION_COOKIE, ""),
                                            body.code, body.recovery_code)
    return _set_cookies(response, result, platform.settings.cookie_secure)


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, platform: PlatformDep,
           principal: PartialPrincipalDep) -> None:
    if principal.kind == "session":
        platform.identity.logout(principal, request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/auth/me", response_model=MeOut)
def me(principal: PartialPrincipalDep) -> MeOut:
    return MeOut(tenant_id=principal.tenant_id, user_id=principal.user_id, role=principal.role,
                 kind=principal.kind, scopes=sorted(principal.scopes))


@router.post("/auth/totp/enrol", response_model=EnrolOut)
def totp_enrol(platform: PlatformDep, principal: PartialPrincipalDep) -> EnrolOut:
    uri, seed = platform.identity.enrol_totp(principal)
    return EnrolOut(otpauth_uri=uri, secret=seed)


@router.post("/auth/totp/confirm", response_model=RecoveryCodesOut)
def totp_confirm(body: ConfirmIn, platform: PlatformDep,
                 principal: PartialPrincipalDep) -> RecoveryCodesOut:
    return RecoveryCodesOut(recovery_codes=platform.identity.confirm_totp(principal, body.code))


@router.get("/tenants/{tenant}/users", response_model=list[UserOut])
def list_users(platform: PlatformDep,
               access: Annotated[TenantAccess, tenant_access("users:read")]) -> list[UserOut]:
    return [UserOut(id=u.id, email=u.email, role=u.role, totp_enabled=u.totp_enabled,
                    created_at=u.created_at)
            for u in platform.identity.list_users(access.info.id)]


@router.post("/tenants/{tenant}/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, platform: PlatformDep,
                access: Annotated[TenantAccess, tenant_access("users:write")]) -> UserOut:
    principal = access.principal
    check_assignable(principal, body.role)
    user_id = platform.identity.create_user(access.info, body.email, body.password, body.role,
                                            principal.actor)
    user = next(u for u in platform.identity.list_users(access.info.id) if u.id == user_id)
    return UserOut(id=user.id, email=user.email, role=user.role,
                   totp_enabled=user.totp_enabled, created_at=user.created_at)


@router.get("/tenants/{tenant}/tokens", response_model=list[TokenOut])
def list_tokens(platform: PlatformDep,
                access: Annotated[TenantAccess, tenant_access("tokens:write")]
                ) -> list[TokenOut]:
    return [TokenOut.model_validate(t, from_attributes=True)
            for t in platform.identity.list_tokens(access.info.id)]


@router.post("/tenants/{tenant}/tokens", response_model=TokenCreatedOut, status_code=201)
def create_token(body: TokenIn, platform: PlatformDep,
                 access: Annotated[TenantAccess, tenant_access("tokens:write")]
                 ) -> TokenCreatedOut:
    token_id, token = platform.identity.create_token(access.principal, body.name, body.scopes,
                                                     body.expires_days)
    return TokenCreatedOut(id=token_id, token=token)


@router.delete("/tenants/{tenant}/tokens/{token_id}", status_code=204)
def revoke_token(token_id: uuid.UUID, platform: PlatformDep,
                 access: Annotated[TenantAccess, tenant_access("tokens:write")]) -> None:
    platform.identity.revoke_token(access.principal, token_id)
