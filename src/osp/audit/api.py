from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from osp.web.deps import PlatformDep, PrincipalDep, tenant_of

router = APIRouter(prefix="/api/v1", tags=["audit"])


class EventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    kind: str
    details: dict[str, Any]
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    problems: list[str]


@router.get("/tenants/{tenant}/audit", response_model=list[EventOut])
def list_events(tenant: str, platform: PlatformDep, principal: PrincipalDep,
                limit: int = Query(50, ge=1, le=1000)) -> list[EventOut]:
    principal.require("audit:read")
    tenant_of(platform, principal, tenant)
    with platform.db.tenant(principal.tenant_id) as s:
        return [EventOut.model_validate(e, from_attributes=True)
                for e in platform.audit.list(s, principal.tenant_id, limit)]


@router.get("/tenants/{tenant}/audit/verify", response_model=VerifyOut)
def verify(tenant: str, platform: PlatformDep, principal: PrincipalDep) -> VerifyOut:
    principal.require("audit:read")
    tenant_of(platform, principal, tenant)
    with platform.db.tenant(principal.tenant_id) as s:
        r = platform.audit.verify(s, principal.tenant_id)
    return VerifyOut(ok=r.ok, checked=r.checked, problems=r.problems)
