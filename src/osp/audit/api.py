from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from osp.web.deps import PlatformDep, TenantAccess, tenant_access

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
def list_events(platform: PlatformDep,
                access: Annotated[TenantAccess, tenant_access("audit:read")],
                limit: int = Query(50, ge=1, le=1000)) -> list[EventOut]:
    tenant_id = access.info.id
    with platform.db.tenant(tenant_id) as s:
        return [EventOut.model_validate(e, from_attributes=True)
                for e in platform.audit.list(s, tenant_id, limit)]


@router.get("/tenants/{tenant}/audit/verify", response_model=VerifyOut)
def verify(platform: PlatformDep,
           access: Annotated[TenantAccess, tenant_access("audit:read")]) -> VerifyOut:
    with platform.db.tenant(access.info.id) as s:
        r = platform.audit.verify(s, access.info.id)
    return VerifyOut(ok=r.ok, checked=r.checked, problems=r.problems)
