from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from osp.web.deps import PlatformDep, TenantAccess, tenant_access

router = APIRouter(prefix="/api/v1", tags=["tenants"])


class TenantOut(BaseModel):
    id: uuid.UUID
    name: str
    state: str
    require_2fa: bool


class TenantPatch(BaseModel):
    require_2fa: bool


@router.get("/tenants/{tenant}", response_model=TenantOut)
def show_tenant(access: Annotated[TenantAccess, tenant_access("tenant:read")]) -> TenantOut:
    t = access.info
    return TenantOut(id=t.id, name=t.name, state=t.state, require_2fa=t.require_2fa)


@router.patch("/tenants/{tenant}", response_model=TenantOut)
def update_tenant(body: TenantPatch, platform: PlatformDep,
                  access: Annotated[TenantAccess, tenant_access("tenant:write")]) -> TenantOut:
    t = platform.tenants.set_require_2fa(access.info.id, body.require_2fa,
                                         access.principal.actor)
    return TenantOut(id=t.id, name=t.name, state=t.state, require_2fa=t.require_2fa)
