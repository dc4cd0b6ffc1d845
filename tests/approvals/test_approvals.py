"""The approval queue on the control plane (the container side is in tests/agent)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from osp.app.agent import AgentParts
from osp.approvals.models import Approval
from osp.errors import Conflict, InvalidInput, NotFound, OspError
from osp.gateway.models import AgentMessage
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.gateway.test_gateway import auth, token_for


def _pending(platform: Platform, tenant: TenantInfo, expires_in_s: float) -> uuid.UUID:
    now = datetime.now(UTC)
    message = AgentMessage(id=uuid.uuid4(), tenant_id=tenant.id, channel="api",
                           channel_user="u", text="pay the invoice", status="awaiting_approval",
                           reply_to={})
    approval_id = uuid.uuid4()
    with platform.db.tenant(tenant.id) as s:
        s.add(message)
        s.flush()
        s.add(Approval(id=approval_id, tenant_id=tenant.id, message_id=message.id,
                       tool="pay", arguments={"amount": 10}, status="pending",
                       created_at=now - timedelta(hours=1),
                       expires_at=now + timedelta(seconds=expires_in_s)))
    return approval_id


def test_listing_validates_status_and_expires_overdue_calls(
        platform: Platform, parts: AgentParts, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    live = _pending(platform, tenant, 3600)
    overdue = _pending(platform, tenant, -1)

    with pytest.raises(InvalidInput):
        parts.approvals.list(tenant, "maybe")
    pending = parts.approvals.list(tenant)

    assert [a.id for a in pending] == [live]
    assert [a.id for a in parts.approvals.list(tenant, "expired")] == [overdue]
    with pytest.raises(Conflict, match="already expired"):
        parts.approvals.decide(tenant, overdue, True, "user:x")
    with pytest.raises(NotFound):
        parts.approvals.decide(tenant, uuid.uuid4(), True, "user:x")


def test_an_approval_of_another_tenant_is_not_found(
        platform: Platform, parts: AgentParts, make_tenant: Callable[..., TenantInfo]) -> None:
    owner, other = make_tenant(), make_tenant()
    approval_id = _pending(platform, owner, 3600)

    with pytest.raises(NotFound):
        parts.approvals.decide(other, approval_id, True, "user:x")
    assert parts.approvals.list(other) == []


def test_deciding_over_the_api_needs_the_approvals_scope(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    approval_id = _pending(platform, tenant, 3600)
    member = token_for(platform, tenant, ["chat", "tenant:read"], role="member")
    base = f"/api/v1/tenants/{tenant.name}/approvals"

    listed = client.get(base, headers=auth(member))
    decided = client.post(f"{base}/{approval_id}/approve", headers=auth(member))

    assert listed.json() == []  # another person's call (see test_scoping.py)
    assert decided.status_code == 403 and "approvals:write" in decided.json()["error"]


def test_a_decision_the_agent_never_received_can_be_handed_over_again(
        platform: Platform, parts: AgentParts, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    approval_id = _pending(platform, tenant, 3600)

    with pytest.raises(OspError, match="the agent is not running"):
        parts.approvals.decide(tenant, approval_id, True, "user:x")  # no agent: not delivered
    assert parts.approvals.list(tenant, "approved")[0].id == approval_id
    with pytest.raises(OspError, match="the agent is not running"):
        parts.approvals.decide(tenant, approval_id, True, "user:x")  # the same yes, again
    with pytest.raises(Conflict, match="already approved"):
        parts.approvals.decide(tenant, approval_id, False, "user:x")  # never a change of mind
    with platform.db.tenant(tenant.id) as s:
        kinds = [e.kind for e in platform.audit.list(s, tenant.id)]
    assert kinds.count("approval.approved") == 1 and "approval.redelivered" in kinds
