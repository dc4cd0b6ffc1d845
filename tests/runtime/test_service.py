"""Lifecycle service against real Postgres and an in-memory engine."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from osp.errors import Conflict, Forbidden, InvalidInput, NotFound
from osp.platform import Platform
from osp.runtime.billing import KEY_NAME, sign
from osp.runtime.service import EngineError
from osp.runtime.wiring import RuntimeParts, billing_router
from osp.tenancy.service import TenantInfo
from osp.terminal import tenant_arg
from osp.web.app import install_error_handlers
from tests.runtime.conftest import FakeBackend

ACTOR = "test:operator"


def audit_kinds(platform: Platform, tenant: TenantInfo) -> list[tuple[str, dict[str, Any]]]:
    with platform.db.tenant(tenant.id) as s:
        return [(e.kind, e.details) for e in platform.audit.list(s, tenant.id, limit=500)]


def test_start_records_desired_state_and_audits(fake_parts: RuntimeParts,
                                                make_tenant: Callable[..., TenantInfo],
                                                platform: Platform) -> None:
    t = make_tenant()
    status = fake_parts.service.start(t, ACTOR, wait=False)
    assert status.state == "running" and status.desired == "running"
    assert status.image_digest.startswith("sha256:")
    assert ("runtime.started" in [k for k, _ in audit_kinds(platform, t)])
    fake_parts.service.stop(t, ACTOR)
    assert fake_parts.service.status(t).desired == "stopped"


def test_a_start_kills_the_untraded_token_of_the_instance_it_replaces(
        fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo]) -> None:
    """The old container is replaced in the same engine call that creates the new one; the
    token handed to the old instance, if never traded, must not outlive it."""
    from osp.runtime.bootstrap import ExchangeRefused

    t = make_tenant()
    fake_parts.service.start(t, ACTOR, wait=False)
    first = fake_backend.running[t.name]
    fake_parts.service.stop(t, ACTOR)
    fake_parts.service.start(t, ACTOR, wait=False)
    second = fake_backend.running[t.name]
    assert second.instance_id != first.instance_id  # every start is a new instance
    assert first.instance_id in fake_backend.discarded  # its token file is wiped
    with pytest.raises(ExchangeRefused, match="replay"):  # and the token is spent
        fake_parts.bootstrap.exchange(first.bootstrap_token, t.name, first.instance_id)
    traded = fake_parts.bootstrap.exchange(second.bootstrap_token, t.name, second.instance_id)
    assert traded.instance_id == second.instance_id


def test_unknown_and_invalid_tenant_names_are_clear_errors(platform: Platform) -> None:
    # The edge (CLI argument, API dependency) resolves the name once; the service gets a
    # TenantInfo and never sees a name.
    with pytest.raises(NotFound, match="unknown tenant"):
        tenant_arg(platform, "no-such-tenant")
    for bad in ("Bad_Name", "-x", "a" * 41, "x", "a b", "../etc"):
        with pytest.raises(InvalidInput, match="invalid tenant name"):
            tenant_arg(platform, bad)


def test_engine_down_is_a_clear_error_and_changes_nothing(
        fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo], platform: Platform) -> None:
    t = make_tenant()
    fake_backend.down = True
    before = audit_kinds(platform, t)
    for op in (lambda: fake_parts.service.start(t, ACTOR),
               lambda: fake_parts.service.suspend(t, ACTOR, "x"),
               lambda: fake_parts.service.stop(t, ACTOR)):
        with pytest.raises(EngineError, match="podman is not working"):
            op()
    assert platform.tenants.get(t.name).state == "active"
    assert fake_parts.service.repo.get(t.id).desired == "stopped"
    assert audit_kinds(platform, t) == before


def test_suspended_tenant_cannot_be_started_by_its_users(
        fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo], platform: Platform) -> None:
    a, b = make_tenant(), make_tenant()
    fake_parts.service.start(a, ACTOR, wait=False)
    fake_parts.service.start(b, ACTOR, wait=False)
    fake_parts.service.suspend(a, ACTOR, "subscription.canceled")
    assert a.name not in fake_backend.running and b.name in fake_backend.running
    a = platform.tenants.get(a.name)  # what the edge resolves for the next request
    with pytest.raises(Forbidden, match="suspended"):
        fake_parts.service.start(a, "session:user", operator=False)
    with pytest.raises(Forbidden, match="suspended"):
        fake_parts.service.restart(a, "session:user", operator=False)
    with pytest.raises(Conflict, match="osp tenant resume"):
        fake_parts.service.start(a, ACTOR)
    assert a.name not in fake_backend.running
    kinds = [k for k, _ in audit_kinds(platform, a)]
    assert "runtime.start_refused" in kinds and "tenant.suspended" in kinds
    fake_parts.service.resume(a, ACTOR, "operator", wait=False)
    assert a.name in fake_backend.running
    assert platform.tenants.get(a.name).state == "active"


def test_reconcile_starts_what_should_run_and_reports_orphans(
        fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo]) -> None:
    run, stay = make_tenant(), make_tenant()
    fake_parts.service.start(run, ACTOR, wait=False)
    fake_parts.service.start(stay, ACTOR, wait=False)
    fake_parts.service.stop(stay, ACTOR)
    fake_backend.running.clear()  # the host rebooted
    fake_backend.stopped.clear()
    fake_backend.start(fake_backend_spec("ghost-tenant"))
    report = fake_parts.service.reconcile()
    assert run.name in report.started and stay.name not in report.started
    assert report.orphans == ["ghost-tenant"]
    assert fake_backend.prepared == 1
    assert not report.failed


def fake_backend_spec(tenant: str) -> Any:
    from osp.runtime.interfaces import ContainerSpec

    return ContainerSpec(tenant, "sha256:" + "0" * 64, "0", "i", "t")


# -- billing events -------------------------------------------------------------------------
@pytest.fixture
def billing(fake_parts: RuntimeParts, platform: Platform) -> tuple[TestClient, bytes]:
    key = b"k" * 40
    fake_parts.secrets.put(KEY_NAME, key)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(billing_router(fake_parts))
    return TestClient(app), key


def post_event(client: TestClient, key: bytes | None, event: dict[str, Any],
               ts: int | None = None) -> Any:
    body = json.dumps(event).encode()
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["x-osp-signature"] = sign(key, body, ts if ts is not None else int(time.time()))
    return client.post("/api/v1/billing/events", content=body, headers=headers)


def test_billing_cancel_suspends_exactly_that_tenant_and_reactivate_resumes(
        billing: tuple[TestClient, bytes], fake_parts: RuntimeParts,
        fake_backend: FakeBackend, make_tenant: Callable[..., TenantInfo],
        platform: Platform) -> None:
    client, key = billing
    a, b = make_tenant(), make_tenant()
    fake_parts.service.start(a, ACTOR, wait=False)
    fake_parts.service.start(b, ACTOR, wait=False)
    r = post_event(client, key, {"id": "evt_1", "type": "subscription.canceled",
                                 "tenant": a.name})
    assert r.status_code == 200, r.text
    assert platform.tenants.get(a.name).state == "suspended"
    assert a.name not in fake_backend.running and b.name in fake_backend.running
    r = post_event(client, key, {"id": "evt_2", "type": "subscription.reactivated",
                                 "tenant": a.name})
    assert r.status_code == 200, r.text
    assert platform.tenants.get(a.name).state == "active" and a.name in fake_backend.running


def test_billing_refuses_unsigned_bad_stale_replayed_and_audits(
        billing: tuple[TestClient, bytes], fake_parts: RuntimeParts,
        make_tenant: Callable[..., TenantInfo], platform: Platform) -> None:
    client, key = billing
    a = make_tenant()
    event = {"id": "evt_x", "type": "subscription.canceled", "tenant": a.name}
    assert post_event(client, None, event).status_code == 401
    assert post_event(client, b"w" * 40, event).status_code == 401
    assert post_event(client, key, event, ts=int(time.time()) - 3600).status_code == 401
    assert platform.tenants.get(a.name).state == "active"
    assert post_event(client, key, event).status_code == 200
    replay = post_event(client, key, event)
    assert replay.status_code == 409
    reasons = [d["reason"] for k, d in audit_kinds(platform, a) if k == "billing.event_refused"]
    assert reasons == ["replay"]  # only the signed, fresh event speaks for tenant a ...
    unproven = [(e.details["reason"], e.details["claimed_tenant"])
                for e in platform.unproven.list(500) if e.kind == "billing.event_refused"]
    # ... the others proved nothing and are in the platform trail, naming a only as a claim.
    assert unproven[-3:] == [("unsigned", a.name), ("bad_signature", a.name), ("stale", a.name)]
    malformed = post_event(client, key, {"id": "../../x", "type": 1, "tenant": a.name})
    assert malformed.status_code == 422
    assert post_event(client, key, {"id": "evt_y", "type": "subscription.canceled",
                                    "tenant": "nobody-here"}).status_code == 404


def test_billing_without_a_key_refuses_everything(fake_parts: RuntimeParts,
                                                  make_tenant: Callable[..., TenantInfo],
                                                  platform: Platform,
                                                  superuser_sql: Callable[..., Any]) -> None:
    superuser_sql("DELETE FROM platform_secrets WHERE name = 'billing_webhook'")
    app = FastAPI()
    app.include_router(billing_router(fake_parts))
    a = make_tenant()
    r = post_event(TestClient(app), b"k" * 40,
                   {"id": "evt_z", "type": "subscription.canceled", "tenant": a.name})
    assert r.status_code == 503
    assert platform.tenants.get(a.name).state == "active"
