"""Secret routes: write, list (names and versions only), delete. Values are never returned."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, SecretStr

from osp.inputs import InputModel
from osp.vault.service import MAX_VALUE_BYTES
from osp.web.deps import PlatformDep, TenantAccess, tenant_access

router = APIRouter(prefix="/api/v1", tags=["secrets"])


class SecretIn(InputModel):
    # SecretStr: the value never shows up in a repr, a validation error or a log line.
    value: SecretStr = Field(max_length=MAX_VALUE_BYTES)


class SecretOut(BaseModel):
    name: str
    version: int
    versions: int
    created_at: datetime
    updated_at: datetime


class SecretWritten(BaseModel):
    name: str
    version: int


@router.get("/tenants/{tenant}/secrets", response_model=list[SecretOut])
def list_secrets(platform: PlatformDep,
                 access: Annotated[TenantAccess, tenant_access("secrets:read")]
                 ) -> list[SecretOut]:
    tenant_id = access.info.id
    with platform.db.tenant(tenant_id) as s:
        return [SecretOut(**i.__dict__) for i in platform.vault.list(s, tenant_id)]


@router.put("/tenants/{tenant}/secrets/{name}", response_model=SecretWritten)
def put_secret(name: str, body: SecretIn, platform: PlatformDep,
               access: Annotated[TenantAccess, tenant_access("secrets:write")]
               ) -> SecretWritten:
    tenant_id = access.info.id
    with platform.db.tenant(tenant_id) as s:
        version = platform.vault.put(s, tenant_id, name,
                                     body.value.get_secret_value().encode(),
                                     access.principal.actor)
    return SecretWritten(name=name, version=version)


@router.delete("/tenants/{tenant}/secrets/{name}", status_code=204)
def delete_secret(name: str, platform: PlatformDep,
                  access: Annotated[TenantAccess, tenant_access("secrets:write")]) -> None:
    tenant_id = access.info.id
    with platform.db.tenant(tenant_id) as s:
        platform.vault.delete(s, tenant_id, name, access.principal.actor)
