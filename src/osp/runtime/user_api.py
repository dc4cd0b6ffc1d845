"""Tenant users' view of their own runtime: ``/api/v1/tenants/{tenant}/runtime``.

A user acts only on the tenant their credential belongs to (any other name looks
unknown), needs ``tenant:write`` to start/stop/restart, and can never start a suspended
tenant: suspension is lifted only by an operator's resume.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from osp.errors import NotFound
from osp.runtime.service import RuntimeService
from osp.web.deps import TenantAccess, tenant_access


def build_tenant_runtime_router(runtime: RuntimeService) -> APIRouter:
    # start/restart answer once the container runs; clients poll GET for the agent's health.
    router = APIRouter(prefix="/api/v1/tenants/{tenant}/runtime", tags=["runtime"])

    @router.get("")
    async def show(access: Annotated[TenantAccess, tenant_access("tenant:read")]
                   ) -> dict[str, Any]:
        status = await run_in_threadpool(runtime.status, access.info)
        return status.as_dict()

    @router.post("/{action}")
    async def act(action: str, access: Annotated[TenantAccess, tenant_access("tenant:write")]
                  ) -> dict[str, Any]:
        tenant, principal = access.info, access.principal
        if action == "start":
            status = await run_in_threadpool(
                lambda: runtime.start(tenant, principal.actor, operator=False, wait=False))
        elif action == "restart":
            status = await run_in_threadpool(
                lambda: runtime.restart(tenant, principal.actor, operator=False, wait=False))
        elif action == "stop":
            status = await run_in_threadpool(runtime.stop, tenant, principal.actor)
        else:
            raise NotFound(f"unknown action {action[:20]!r}")
        return status.as_dict()

    return router
