"""Routes: list paused tool calls, approve or deny one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from osp.approvals.service import ApprovalService, parse_id
from osp.errors import NotFound
from osp.web.deps import TenantAccess, tenant_access

# Deciding is a privileged act (it lets the agent spend money, send mail, delete data).
APPROVE_SCOPE = "approvals:write"


def build_approvals_router(approvals: ApprovalService) -> APIRouter:
    router = APIRouter(prefix="/api/v1/tenants/{tenant}/approvals", tags=["approvals"])

    @router.get("")
    def list_approvals(access: Annotated[TenantAccess, tenant_access("tenant:read")],
                       status: str | None = "pending") -> list[dict[str, Any]]:
        info, principal = access.info, access.principal
        wanted = None if status == "all" else status
        sender = None if principal.sees_all_users else ("api", principal.chat_user)
        return [a.as_dict() for a in approvals.list(info, wanted, sender)]

    @router.post("/{approval_id}/{decision}")
    async def decide(approval_id: str, decision: str,
                     access: Annotated[TenantAccess, tenant_access(APPROVE_SCOPE)]
                     ) -> dict[str, Any]:
        info, principal = access.info, access.principal
        if decision not in ("approve", "deny"):
            raise NotFound(f"unknown decision {decision[:20]!r}: approve or deny")
        wanted = parse_id(approval_id)

        def run() -> dict[str, Any]:
            return approvals.decide(info, wanted, decision == "approve",
                                    principal.actor).as_dict()

        # The agent resumes the turn: the same per-tenant cap as a chat message.
        return await approvals.gateway.limits.run(info.id, run)

    return router
