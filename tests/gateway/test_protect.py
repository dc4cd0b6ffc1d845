"""Messages at rest: the database holds ciphertext only (text, reply, error), under a data key
of the tenant's own; a ciphertext moved to another row does not open; messages older than the
tenant's retention are deleted by the job, and the deletion is audited."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from osp.app.agent import build_agent
from osp.errors import IntegrityFailure
from osp.gateway.protect import PREFIX, MessageProtection
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.gateway.fixtures import ScriptedAgent
from tests.gateway.test_gateway import auth, token_for

SQL = Callable[[str], list[tuple[object, ...]]]


def _stored(superuser_sql: SQL, tenant: TenantInfo) -> list[tuple[object, ...]]:
    return superuser_sql(f"SELECT id, text, reply, error FROM agent_messages "
                         f"WHERE tenant_id = '{tenant.id}' ORDER BY created_at")


def test_the_database_holds_only_ciphertext(
        platform: Platform, client: TestClient, superuser_sql: SQL,
        make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    reply = "Your order A-77 ships to 12 Baker Street."
    fake = ScriptedAgent.answering(reply)
    parts = build_agent(platform, locator=fake, transport=fake)
    token = token_for(platform, tenant, ["chat"], role="member")

    answered = parts.gateway.send(tenant, "api", "u1", "Where does order A-77 ship to?")
    # No agent behind the client fixture: this one fails visibly, with a stored reason.
    assert client.post(f"/api/v1/tenants/{tenant.name}/messages",
                       json={"text": "Baker Street?"}, headers=auth(token)).status_code == 503

    rows = _stored(superuser_sql, tenant)
    assert len(rows) >= 2
    dump = repr(rows)
    for plain in ("A-77", "Baker Street", "not running"):
        assert plain not in dump, dump
    assert all(str(text).startswith(PREFIX) for _id, text, _r, _e in rows)
    # ...and the owner of the data reads it back through the service.
    assert parts.gateway.get(tenant, answered.message_id).reply == reply
    failed = next(r for r in rows if r[3] is not None)
    assert "not running" in str(parts.gateway.get(tenant, uuid.UUID(str(failed[0]))).error)


def test_a_ciphertext_moved_to_another_message_does_not_open(
        platform: Platform, superuser_sql: SQL, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    fake = ScriptedAgent.answering("the secret plan")
    parts = build_agent(platform, locator=fake, transport=fake)
    first = parts.gateway.send(tenant, "api", "u1", "one").message_id
    fake.outcome = ScriptedAgent.answering("harmless").outcome
    second = parts.gateway.send(tenant, "api", "u1", "two").message_id

    superuser_sql(f"UPDATE agent_messages SET reply = (SELECT reply FROM agent_messages "
                  f"WHERE id = '{first}') WHERE id = '{second}'")

    with pytest.raises(IntegrityFailure):
        parts.gateway.get(tenant, second)


def test_messages_past_the_retention_are_deleted_and_the_deletion_audited(
        platform: Platform, client: TestClient, superuser_sql: SQL,
        make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    fake = ScriptedAgent.answering("ok")
    parts = build_agent(platform, locator=fake, transport=fake)
    old = parts.gateway.send(tenant, "api", "u1", "old message").message_id
    new = parts.gateway.send(tenant, "api", "u1", "new message").message_id
    in_flight = parts.gateway.enqueue(tenant, "api", "u1", "still queued")
    superuser_sql(f"UPDATE agent_messages SET created_at = now() - interval '3 days' "
                  f"WHERE id IN ('{old}', '{in_flight}')")
    owner = token_for(platform, tenant, ["tenant:read", "tenant:write"])
    member = token_for(platform, tenant, ["chat", "tenant:read"], role="member")
    url = f"/api/v1/tenants/{tenant.name}/messages-retention"

    assert parts.gateway.protection.expire(tenant.id) == 0  # no retention set: kept
    assert client.put(url, json={"days": 2}, headers=auth(member)).status_code == 403
    assert client.put(url, json={"days": 0}, headers=auth(owner)).status_code == 422
    assert client.put(url, json={"days": 2}, headers=auth(owner)).json() == {"days": 2}
    assert client.get(url, headers=auth(member)).json() == {"days": 2}

    assert parts.gateway.protection.expire(tenant.id) == 1

    left = {uuid.UUID(str(r[0])) for r in _stored(superuser_sql, tenant)}
    assert left == {new, in_flight}  # a message still in flight is never deleted
    with platform.db.tenant(tenant.id) as s:
        events = {e.kind: e.details for e in platform.audit.list(s, tenant.id, 100)}
    assert events["messages.expired"]["deleted"] == 1
    assert events["messages.retention_set"] == {"retention_days": 2}


def test_the_data_key_outlives_a_first_transaction_that_rolled_back(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    protection = MessageProtection(platform.db, platform.vault, platform.audit)
    message_id = uuid.uuid4()
    with pytest.raises(RuntimeError), platform.db.tenant(tenant.id) as s:
        protection.seal(s, tenant.id, message_id, "text", "first")
        raise RuntimeError("the message could not be stored")
    with platform.db.tenant(tenant.id) as s:
        sealed = protection.seal(s, tenant.id, message_id, "text", "second")

    restarted = MessageProtection(platform.db, platform.vault, platform.audit)  # no cache
    with platform.db.tenant(tenant.id) as s:
        assert restarted.open(s, tenant.id, message_id, "text", sealed) == "second"
