from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel

from osp.web.deps import PlatformDep, PrincipalDep, tenant_of

router = APIRouter(prefix="/api/v1", tags=["tenants"])


class TenantOut(BaseModel):
    id: uuid.UUID
    name: str
    state: str
    require_2fa: bool


class TenantPatch(BaseModel):
    require_2fa: bool


@router.get("/tenants/{tenant}", response_model=TenantOut)
def show_tenant(tenant: str, platform: PlatformDep, principal: PrincipalDep) -> TenantOut:
    principal.require("tenant:read")
    t = tenant_of(platform, principal, tenant)
    return TenantOut(id=t.id, name=t.name, state=t.state, require_2fa=t.require_2fa)


@router.patch("/tenants/{tenant}", response_model=TenantOut)
def update_tenant(tenant: str, body: TenantPatch, platform: PlatformDep,
                  principal: PrincipalDep) -> TenantOut:
    principal.require("tenant:write")
    tenant_of(platform, principal, tenant)
    t = platform.tenants.set_require_2fa(principal.tenant_id, body.require_2fa, principal.actor)
    return TenantOut(id=t.id, name=t.name, state=t.state, require_2fa=t.require_2fa)
