"""A database outage is reported as an outage (Unavailable / HTTP 503), never as "unknown
tenant", "no such token" or "sign in": callers must not decide anything on its basis."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import Unavailable
from osp.identity.secrets import make_bearer
from osp.identity.service import IdentityService
from osp.platform import Platform
from osp.runtime.store import SqlTokenStore
from osp.tenancy.service import TenantService
from tests.apps import admin_app
from tests.slots import free_port


@pytest.fixture
def down(platform: Platform) -> Iterator[Platform]:
    """The platform's services over a database nobody answers for (a refused port)."""
    db = Database(f"postgresql://osp_app@127.0.0.1:{free_port()}/osp?connect_timeout=2")
    audit = AuditTrail()
    tenants = TenantService(db, audit)
    yield dataclasses.replace(platform, db=db, audit=audit, tenants=tenants,
                              identity=IdentityService(db, tenants, platform.vault, audit))
    db.dispose()


def test_a_tenant_lookup_during_an_outage_is_unavailable(down: Platform) -> None:
    with pytest.raises(Unavailable):
        down.tenants.get("acme")


def test_a_bootstrap_token_lookup_during_an_outage_is_unavailable(down: Platform) -> None:
    from datetime import UTC, datetime

    # Before: "unknown tenant", so the exchange was refused as if the tenant did not exist.
    with pytest.raises(Unavailable):
        SqlTokenStore(down.db, down.tenants).consume("0" * 64, "acme", datetime.now(UTC))


def test_the_api_answers_503_during_an_outage(down: Platform) -> None:
    token, _hash = make_bearer("ospt", uuid.uuid4())  # well formed, so the database is asked
    with TestClient(admin_app(down), base_url="https://testserver") as client:
        for response in (client.get("/api/v1/tenants/acme",
                                    headers={"Authorization": f"Bearer {token}"}),
                         client.post("/api/v1/auth/login", json={
                             "tenant": "acme", "email": "a@b.example",
                             "password": "correct horse battery"})):
            assert response.status_code == 503, response.text
            assert "unavailable" in response.json()["error"]
