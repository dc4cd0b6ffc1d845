"""Inside one tenant, a member sees only what was theirs: their own messages and replies and
the approvals of calls the agent paused while answering them. Owners and admins see all.
(The outside test read the owner's pending approval arguments and any message by id as a
member.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from osp.approvals.models import Approval
from osp.gateway.models import AgentMessage
from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.gateway.test_gateway import auth


def _person(platform: Platform, tenant: TenantInfo, role: str) -> tuple[uuid.UUID, str]:
    user_id = platform.identity.create_user(tenant, f"{role}-{uuid.uuid4().hex[:6]}@x.org",
                                            "correct horse battery 9", role, "test")
    principal = Principal(tenant.id, user_id, role, "session", scopes=ROLE_SCOPES[role])
    return user_id, platform.identity.create_token(principal, "t", sorted(ROLE_SCOPES[role]),
                                                   None)[1]


def _sent(platform: Platform, tenant: TenantInfo, user_id: uuid.UUID, text: str,
          tool_args: dict[str, object]) -> tuple[uuid.UUID, uuid.UUID]:
    """A message the person sent over the API, answered, with a paused tool call."""
    now = datetime.now(UTC)
    message = AgentMessage(id=uuid.uuid4(), tenant_id=tenant.id, channel="api",
                           channel_user=str(user_id), text=text, status="awaiting_approval",
                           reply=f"reply to: {text}", reply_to={})
    approval_id = uuid.uuid4()
    with platform.db.tenant(tenant.id) as s:
        s.add(message)
        s.flush()
        s.add(Approval(id=approval_id, tenant_id=tenant.id, message_id=message.id,
                       tool="send_mail", arguments=tool_args, status="pending",
                       created_at=now, expires_at=now + timedelta(hours=1)))
    return message.id, approval_id


def test_a_member_sees_only_their_own_messages_and_approvals(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    owner_id, owner = _person(platform, tenant, "owner")
    _admin_id, admin = _person(platform, tenant, "admin")
    member_id, member = _person(platform, tenant, "member")
    owners_msg, owners_call = _sent(platform, tenant, owner_id, "pay the salaries",
                                    {"to": "bank@example.com", "body": "salaries: 190k"})
    members_msg, members_call = _sent(platform, tenant, member_id, "book a room",
                                      {"to": "desk@example.com", "body": "room 4"})
    base = f"/api/v1/tenants/{tenant.name}"

    # The member: the owner's message is "unknown", their own is shown.
    r = client.get(f"{base}/messages/{owners_msg}", headers=auth(member))
    assert r.status_code == 404 and "salaries" not in r.text
    assert client.get(f"{base}/messages/{members_msg}", headers=auth(member)).json()["reply"] \
        == "reply to: book a room"
    listed = client.get(f"{base}/approvals?status=all", headers=auth(member))
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [str(members_call)]
    assert "190k" not in listed.text

    # Owner and admin see everyone's.
    for token in (owner, admin):
        assert client.get(f"{base}/messages/{members_msg}", headers=auth(token)).status_code \
            == 200
        assert client.get(f"{base}/messages/{owners_msg}", headers=auth(token)).status_code \
            == 200
        ids = {a["id"] for a in client.get(f"{base}/approvals",
                                           headers=auth(token)).json()}
        assert ids == {str(owners_call), str(members_call)}
