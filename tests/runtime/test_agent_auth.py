"""Agent authentication on the internal API: key, current instance and source address.

The engine is the in-memory FakeBackend (its container "address" is the test client's);
tokens, tenants, the vault and the audit trail are real. The same checks run against real
containers in tests/agent/test_connected_apps.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from osp.app.agent import build_agent, connected_app_router
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.runtime.wiring import RuntimeParts, internal_app
from osp.tenancy.service import TenantInfo
from tests.runtime.conftest import FakeBackend

CONNECTIONS = "/internal/v1/oauth/connections"
PEER = "testclient"  # the address TestClient's requests come from


def make_client(platform: Platform, parts: RuntimeParts, cache_s: float) -> TestClient:
    agent = build_agent(platform, parts)
    broker = OAuthBroker(platform.db, platform.vault, platform.audit)
    return TestClient(internal_app(parts, [connected_app_router(platform, parts, agent, broker,
                                                                cache_s=cache_s)]))


@pytest.fixture
def client(platform: Platform, fake_parts: RuntimeParts) -> Iterator[TestClient]:
    # No memory of passed checks: every request asks the engine (the strict semantics).
    with make_client(platform, fake_parts, cache_s=0) as c:
        yield c


def start(parts: RuntimeParts, backend: FakeBackend, tenant: TenantInfo,
          ip: str = PEER) -> str:
    parts.service.start(tenant, "test", wait=False)  # nothing to wait for: no container
    backend.ips[tenant.name] = ip
    return backend.running[tenant.name].instance_id


def headers(parts: RuntimeParts, tenant: str, instance: str, key: str | None = None
            ) -> dict[str, str]:
    return {"Authorization": f"Bearer {key or parts.bootstrap.agent_key(tenant, instance)}",
            "X-OSP-Tenant": tenant, "X-OSP-Instance": instance}


def refusals(platform: Platform, tenant: TenantInfo) -> list[object]:
    with platform.db.tenant(tenant.id) as s:
        return [e.details["reason"] for e in platform.audit.list(s, tenant.id, 200)
                if e.kind == "runtime.agent_auth.refused"]


def test_the_running_instance_is_recognised(
        client: TestClient, fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("aa")
    instance = start(fake_parts, fake_backend, tenant)
    r = client.get(CONNECTIONS, headers=headers(fake_parts, tenant.name, instance))
    assert r.status_code == 200, r.text
    assert r.json() == []


def test_missing_or_forged_keys_are_refused_without_touching_the_named_trail(
        client: TestClient, fake_parts: RuntimeParts, fake_backend: FakeBackend,
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("aa")
    instance = start(fake_parts, fake_backend, tenant)
    assert client.get(CONNECTIONS).status_code == 401
    forged = headers(fake_parts, tenant.name, instance, key="0" * 64)
    assert client.get(CONNECTIONS, headers=forged).status_code == 401
    # The status key travels the other way; it is not an agent key.
    status_key = fake_parts.bootstrap.status_key(instance)
    r = client.get(CONNECTIONS, headers=headers(fake_parts, tenant.name, instance, status_key))
    assert r.status_code == 401
    assert r.json() == {"error": "agent not recognised"}
    # Unproven callers cannot write into the trail of the tenant they name; the platform
    # trail keeps their refusals, naming the tenant only as a claim.
    assert refusals(platform, tenant) == []
    claimed = [e.details for e in platform.unproven.list(500)
               if e.kind == "runtime.agent_auth.refused"
               and e.details.get("claimed_tenant") == tenant.name]
    assert [d["reason"] for d in claimed] == ["bad_key"] * 2  # forged, status key


def test_another_tenants_key_cannot_claim_this_tenant(
        client: TestClient, fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo]) -> None:
    victim, attacker = make_tenant("av"), make_tenant("at")
    victim_instance = start(fake_parts, fake_backend, victim)
    attacker_instance = start(fake_parts, fake_backend, attacker)
    own_key = fake_parts.bootstrap.agent_key(attacker.name, attacker_instance)
    for instance in (victim_instance, attacker_instance):
        r = client.get(CONNECTIONS, headers=headers(fake_parts, victim.name, instance, own_key))
        assert r.status_code == 401


def test_a_replaced_instance_and_a_foreign_address_are_refused_and_audited(
        client: TestClient, fake_parts: RuntimeParts, fake_backend: FakeBackend,
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("aa")
    old = start(fake_parts, fake_backend, tenant)
    old_headers = headers(fake_parts, tenant.name, old)
    new = start(fake_parts, fake_backend, tenant)  # a restart: a new instance, a new key
    assert new != old
    assert client.get(CONNECTIONS, headers=old_headers).status_code == 401
    fake_backend.ips[tenant.name] = "10.99.0.2"  # the right key, sent from elsewhere
    assert client.get(CONNECTIONS, headers=headers(fake_parts, tenant.name, new)) \
        .status_code == 401
    fake_parts.service.stop(tenant, "test")
    assert client.get(CONNECTIONS, headers=headers(fake_parts, tenant.name, new)) \
        .status_code == 401
    assert refusals(platform, tenant) == ["stale_instance", "wrong_peer", "stale_instance"]


def test_a_passed_check_is_remembered_briefly_but_never_for_a_new_instance(
        platform: Platform, fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo], monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = make_tenant("ac")
    old = start(fake_parts, fake_backend, tenant)
    asked: list[str] = []
    status = fake_backend.status
    monkeypatch.setattr(fake_backend, "status", lambda t: asked.append(t) or status(t))
    with make_client(platform, fake_parts, cache_s=60) as c:
        for _ in range(3):
            assert c.get(CONNECTIONS, headers=headers(fake_parts, tenant.name, old)) \
                .status_code == 200
        assert asked == [tenant.name]  # one engine lookup for three requests
        new = start(fake_parts, fake_backend, tenant)
        asked.clear()
        assert c.get(CONNECTIONS, headers=headers(fake_parts, tenant.name, new)) \
            .status_code == 200  # the new instance is looked up, not refused from memory
        assert asked == [tenant.name]
        assert c.get(CONNECTIONS, headers=headers(fake_parts, tenant.name, old)) \
            .status_code == 401  # and the old one's key no longer passes
