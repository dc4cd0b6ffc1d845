"""The approval queue: a paused tool call waits here for a person's yes or no.

A decision is recorded (and audited) before the agent hears of it, and is final: the row
lock plus the ``pending`` check make a second decision a conflict, and the agent's own
pending record is consumed by the first resume. A call is never run after its expiry,
after a denial, or without a recorded approval.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from osp.approvals.models import Approval
from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import Conflict, Forbidden, InvalidInput, NotFound, OspError
from osp.gateway.models import AgentMessage
from osp.gateway.protect import MessageProtection
from osp.gateway.service import GatewayService, MessageResult
from osp.tenancy.service import TenantInfo, TenantService

STATUSES = ("pending", "approved", "denied", "expired")
# An approved call runs right after the decision (the agent resumes at once); a yes that
# sat unused for longer than this is not spent any more.
CLAIM_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class ApprovalInfo:
    id: uuid.UUID
    message_id: uuid.UUID
    tool: str
    arguments: dict[str, Any]
    status: str
    created_at: datetime
    expires_at: datetime
    decided_by: str | None
    result: str | None

    @classmethod
    def of(cls, s: Session, a: Approval, protection: MessageProtection) -> ApprovalInfo:
        return cls(a.id, a.message_id, a.tool, open_arguments(s, a, protection), a.status,
                   a.created_at, a.expires_at, a.decided_by,
                   protection.open(s, a.tenant_id, a.id, RESULT, a.result))

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "message_id": str(self.message_id), "tool": self.tool,
                "arguments": self.arguments, "status": self.status,
                "created_at": self.created_at.isoformat(),
                "expires_at": self.expires_at.isoformat(), "decided_by": self.decided_by,
                "result": self.result}


# A paused call's arguments and its result are the person's data (what they asked the agent
# to send, what came back): sealed with the tenant's message key like the message itself,
# bound to the approval id and the column, so the database holds ciphertext only.
ARGUMENTS, RESULT = "approval.arguments", "approval.result"


def seal_arguments(s: Session, tenant_id: uuid.UUID, approval_id: uuid.UUID,
                   arguments: dict[str, Any], protection: MessageProtection) -> dict[str, Any]:
    return {"sealed": protection.seal(s, tenant_id, approval_id, ARGUMENTS,
                                      json.dumps(arguments, sort_keys=True))}


def open_arguments(s: Session, a: Approval, protection: MessageProtection) -> dict[str, Any]:
    stored = a.arguments
    if set(stored) == {"sealed"} and isinstance(stored["sealed"], str):
        opened = protection.open(s, a.tenant_id, a.id, ARGUMENTS, stored["sealed"])
        value = json.loads(opened or "{}")
        return value if isinstance(value, dict) else {}
    return dict(stored)  # written before arguments were sealed


class PendingApprovals:
    """Queues the tool calls an agent paused, in the gateway's transaction (the gateway's
    :class:`~osp.gateway.interfaces.ApprovalRecorder`)."""

    def __init__(self, audit: AuditTrail, protection: MessageProtection) -> None:
        self.audit = audit
        self.protection = protection

    def add(self, s: Session, tenant: TenantInfo, message_id: uuid.UUID,
            approval: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        expires = datetime.fromtimestamp(float(approval["expires_at"]), UTC)
        # The control plane's own ceiling on how long a call may wait, whatever the agent says.
        expires = min(expires, now + timedelta(days=7))
        approval_id = uuid.UUID(hex=str(approval["id"]))
        arguments = seal_arguments(s, tenant.id, approval_id,
                                   dict(approval.get("arguments") or {}), self.protection)
        s.add(Approval(id=approval_id, tenant_id=tenant.id,
                       message_id=message_id, tool=str(approval["tool"])[:100],
                       arguments=arguments, status="pending",
                       created_at=now, expires_at=max(expires, now + timedelta(seconds=1))))
        self.audit.record(s, tenant.id, f"agent:{tenant.name}", "approval.requested",
                          {"approval_id": str(approval["id"]), "tool": approval["tool"],
                           "message_id": str(message_id)})


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidInput("approval ids are UUIDs (see `osp approvals list`)") from None


class ApprovalService:
    def __init__(self, db: Database, tenants: TenantService, audit: AuditTrail,
                 gateway: GatewayService) -> None:
        self.db = db
        self.tenants = tenants
        self.audit = audit
        self.gateway = gateway

    def list(self, tenant: TenantInfo, status: str | None = "pending",
             sender: tuple[str, str] | None = None) -> list[ApprovalInfo]:
        """Approvals of ``tenant``; with ``sender`` (channel, user) only those of the calls
        the agent paused while answering that person (their arguments are that person's)."""
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        self.expire_due(tenant)
        with self.db.tenant(tenant.id) as s:
            q = select(Approval).order_by(Approval.created_at)
            if status is not None:
                q = q.where(Approval.status == status)
            if sender is not None:
                q = q.join(AgentMessage, AgentMessage.id == Approval.message_id).where(
                    AgentMessage.channel == sender[0], AgentMessage.channel_user == sender[1])
            return [ApprovalInfo.of(s, a, self.gateway.protection)
                    for a in s.execute(q).scalars()]

    def _expire(self, s: Session, tenant: TenantInfo, row: Approval) -> None:
        row.status, row.decided_by, row.decided_at = "expired", "system:expiry", datetime.now(UTC)
        self.audit.record(s, tenant.id, "system:expiry", "approval.expired",
                          {"approval_id": str(row.id), "tool": row.tool})

    def expire_due(self, tenant: TenantInfo) -> builtins.list[uuid.UUID]:
        """Marks overdue approvals expired, then tells the agent so the person hears of it."""
        with self.db.tenant(tenant.id) as s:
            rows = [*s.execute(select(Approval).where(
                Approval.status == "pending", Approval.expires_at <= datetime.now(UTC))
                .with_for_update(skip_locked=True)).scalars()]
            for row in rows:
                self._expire(s, tenant, row)
            expired = [(r.id, r.message_id) for r in rows]
        for approval_id, message_id in expired:
            # The expiry itself is recorded; a failed resume shows on the message.
            with contextlib.suppress(OspError):
                self._resume(tenant, approval_id, message_id, "expired")
        return [a for a, _m in expired]

    def decide(self, tenant: TenantInfo, approval_id: uuid.UUID, approve: bool,
               actor: str) -> MessageResult:
        decision = "approved" if approve else "denied"
        expired = retry = False
        with self.db.tenant(tenant.id) as s:
            row = s.get(Approval, approval_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no approval {approval_id}")
            message_id = row.message_id
            if row.status != "pending":
                message = s.get(AgentMessage, message_id)
                # The same decision again, after its hand-over to the agent failed (agent
                # down): hand it over again. The agent acts on a decision at most once.
                if row.status == decision and message is not None and message.status == "failed":
                    retry = True
                else:
                    raise Conflict(f"approval {approval_id} is already {row.status}")
            elif datetime.now(UTC) >= row.expires_at:
                self._expire(s, tenant, row)
                expired = True
            else:
                row.status, row.decided_by, row.decided_at = decision, actor, datetime.now(UTC)
                self.audit.record(s, tenant.id, actor, f"approval.{decision}",
                                  {"approval_id": str(row.id), "tool": row.tool})
            if retry:
                self.audit.record(s, tenant.id, actor, "approval.redelivered",
                                  {"approval_id": str(row.id), "decision": decision})
        if expired:
            with contextlib.suppress(OspError):
                self._resume(tenant, approval_id, message_id, "expired")
            raise Conflict(f"approval {approval_id} expired; the call was not run")
        return self._resume(tenant, approval_id, message_id, decision)

    def _resume(self, tenant: TenantInfo, approval_id: uuid.UUID, message_id: uuid.UUID,
                decision: str) -> MessageResult:
        outcome = self.gateway.call_agent(
            tenant, message_id, f"/v1/approvals/{approval_id.hex}",
            {"decision": decision, "config": self.gateway.settings.document(tenant.id)})

        def store_result(s: Session) -> None:
            row = s.get(Approval, approval_id)
            if row is not None:
                row.result = self.gateway.protection.seal(
                    s, tenant.id, approval_id, RESULT, str(outcome.get("reply", ""))[:4000])

        return self.gateway.apply_outcome(tenant, message_id, outcome, on_session=store_result)

    def claim(self, tenant_id: uuid.UUID, approval_id: uuid.UUID, tool: str,
              arguments: dict[str, Any], actor: str) -> None:
        """Spend an approval on running its call, once: the call must be exactly the one the
        person approved (same tool, same arguments) and ask within CLAIM_WINDOW of the
        decision. Raises otherwise; the refusal is audited with its reason."""
        with self.db.tenant(tenant_id) as s:
            row = s.get(Approval, approval_id, with_for_update=True)
            reason = None
            if row is None:
                raise NotFound("no such approval")
            if row.status != "approved":
                reason = f"the approval is {row.status}"
            elif row.executed_at is not None:
                reason = "the approval was already used"
            elif row.tool != tool or open_arguments(s, row, self.gateway.protection) \
                    != arguments:
                reason = "the call is not the one that was approved"
            elif row.decided_at is None or datetime.now(UTC) - row.decided_at > CLAIM_WINDOW:
                reason = "the approval is too old to be used"
            if reason is None:
                row.executed_at = datetime.now(UTC)
                self.audit.record(s, tenant_id, actor, "approval.executed",
                                  {"approval_id": str(row.id), "tool": tool})
        if reason is not None:
            # Recorded in a unit of work of its own: the refusal must outlive the raise.
            with self.db.tenant(tenant_id) as s:
                self.audit.record(s, tenant_id, actor, "approval.claim_refused",
                                  {"approval_id": str(approval_id), "tool": tool[:100],
                                   "reason": reason})
            raise Forbidden(f"not run: {reason}")

    def expire_all(self) -> int:
        """For a periodic sweep in ``osp up``: every tenant's overdue approvals."""
        count = 0
        for tenant in self.tenants.list():
            count += len(self.expire_due(tenant))
        return count
