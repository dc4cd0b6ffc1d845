"""Tenant users' runtime routes (HTTP), with a real database and an in-memory engine."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.platform import Platform
from osp.runtime.wiring import RuntimeParts, tenant_router
from osp.tenancy.service import TenantInfo
from osp.web.deps import current_principal
from tests.apps import admin_app
from tests.runtime.conftest import FakeBackend


def client_as(platform: Platform, parts: RuntimeParts, tenant: TenantInfo,
              role: str) -> TestClient:
    app = admin_app(platform, tenant_router(parts))
    principal = Principal(tenant_id=tenant.id, user_id=None, role=role, kind="token",
                          scopes=ROLE_SCOPES[role])
    app.dependency_overrides[current_principal] = lambda: principal
    return TestClient(app)


def test_owner_starts_and_stops_own_tenant(platform: Platform, fake_parts: RuntimeParts,
                                           fake_backend: FakeBackend,
                                           make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    client = client_as(platform, fake_parts, t, "owner")
    r = client.post(f"/api/v1/tenants/{t.name}/runtime/start")
    assert r.status_code == 200, r.text
    assert t.name in fake_backend.running
    assert client.get(f"/api/v1/tenants/{t.name}/runtime").json()["state"] == "running"
    assert client.post(f"/api/v1/tenants/{t.name}/runtime/stop").status_code == 200
    assert t.name not in fake_backend.running
    assert client.post(f"/api/v1/tenants/{t.name}/runtime/explode").status_code == 404


def test_user_cannot_touch_another_tenant_or_start_without_write_scope(
        platform: Platform, fake_parts: RuntimeParts, fake_backend: FakeBackend,
        make_tenant: Callable[..., TenantInfo]) -> None:
    mine, other = make_tenant(), make_tenant()
    owner = client_as(platform, fake_parts, mine, "owner")
    assert owner.post(f"/api/v1/tenants/{other.name}/runtime/start").status_code == 404
    assert owner.get(f"/api/v1/tenants/{other.name}/runtime").status_code == 404
    member = client_as(platform, fake_parts, mine, "member")
    assert member.post(f"/api/v1/tenants/{mine.name}/runtime/start").status_code == 403
    assert member.get(f"/api/v1/tenants/{mine.name}/runtime").status_code == 200
    assert not fake_backend.running


def test_users_of_a_suspended_tenant_cannot_start_it(platform: Platform,
                                                     fake_parts: RuntimeParts,
                                                     fake_backend: FakeBackend,
                                                     make_tenant: Callable[..., TenantInfo]
                                                     ) -> None:
    t = make_tenant()
    fake_parts.service.suspend(t, "billing:evt", "subscription.canceled")
    client = client_as(platform, fake_parts, t, "owner")
    for action in ("start", "restart"):
        r = client.post(f"/api/v1/tenants/{t.name}/runtime/{action}")
        assert r.status_code == 403 and "suspended" in r.json()["error"]
    assert t.name not in fake_backend.running


def test_the_tenant_is_looked_up_once_per_request(platform: Platform, fake_parts: RuntimeParts,
                                                  make_tenant: Callable[..., TenantInfo],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The edge resolves the path's tenant once; the service below takes the TenantInfo
    # (before, a stop looked the name up three times: route, stop, and the status it returns).
    t = make_tenant()
    client = client_as(platform, fake_parts, t, "owner")
    lookups: list[str] = []
    real_get = platform.tenants.get

    def counted(name: str) -> TenantInfo:
        # The bootstrap token store (osp/runtime/store.py) is keyed by the name an agent
        # claims over the internal API; it is a named edge and not counted here.
        if not sys._getframe(1).f_code.co_filename.endswith("osp/runtime/store.py"):
            lookups.append(name)
        return real_get(name)

    monkeypatch.setattr(platform.tenants, "get", counted)
    for method, path in (("post", "start"), ("get", ""), ("post", "restart"), ("post", "stop")):
        lookups.clear()
        url = f"/api/v1/tenants/{t.name}/runtime" + (f"/{path}" if path else "")
        assert getattr(client, method)(url).status_code == 200
        assert lookups == [t.name], (path, lookups)
