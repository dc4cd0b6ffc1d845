"""Secret routes: write, list (names and versions only), delete. Values are never returned."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field, SecretStr

from osp.inputs import InputModel
from osp.vault.service import MAX_VALUE_BYTES
from osp.web.deps import PlatformDep, PrincipalDep, tenant_of

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
def list_secrets(tenant: str, platform: PlatformDep, principal: PrincipalDep) -> list[SecretOut]:
    principal.require("secrets:read")
    tenant_of(platform, principal, tenant)
    with platform.db.tenant(principal.tenant_id) as s:
        return [SecretOut(**i.__dict__) for i in platform.vault.list(s, principal.tenant_id)]


@router.put("/tenants/{tenant}/secrets/{name}", response_model=SecretWritten)
def put_secret(tenant: str, name: str, body: SecretIn, platform: PlatformDep,
               principal: PrincipalDep) -> SecretWritten:
    principal.require("secrets:write")
    tenant_of(platform, principal, tenant)
    with platform.db.tenant(principal.tenant_id) as s:
        version = platform.vault.put(s, principal.tenant_id, name,
                                     body.value.get_secret_value().encode(), principal.actor)
    return SecretWritten(name=name, version=version)


@router.delete("/tenants/{tenant}/secrets/{name}", status_code=204)
def delete_secret(tenant: str, name: str, platform: PlatformDep, principal: PrincipalDep) -> None:
    principal.require("secrets:write")
    tenant_of(platform, principal, tenant)
    with platform.db.tenant(principal.tenant_id) as s:
        platform.vault.delete(s, principal.tenant_id, name, principal.actor)
