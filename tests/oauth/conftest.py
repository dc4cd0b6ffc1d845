"""OAuth broker fixtures around the real OpenID provider (tests/oidc.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from osp.oauth.service import OAuthBroker, ProviderInfo
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.oidc import REDIRECT_URI, OidcServer, follow

__all__ = ["REDIRECT_URI", "OidcServer", "Setup", "audit_events", "audit_kinds", "follow"]


@pytest.fixture(autouse=True)
def _loopback_servers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test provider listens on 127.0.0.1 over http: allowed only when asked for.
    monkeypatch.setenv("OSP_OAUTH_ALLOW_LOOPBACK", "1")


@pytest.fixture
def broker(platform: Platform) -> Iterator[OAuthBroker]:
    b = OAuthBroker(platform.db, platform.vault, platform.audit, allow_loopback=True)
    yield b
    b.close()


@dataclass(frozen=True)
class Setup:
    tenant: TenantInfo
    provider: ProviderInfo

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.tenant.id


@pytest.fixture
def connected_tenant(broker: OAuthBroker, oidc: OidcServer,
                     make_tenant: Callable[..., TenantInfo]) -> Setup:
    tenant = make_tenant("oauth")
    provider = broker.add_provider(tenant.id, "idp", issuer=oidc.issuer,
                                   client_id=oidc.client_id, client_secret=oidc.client_secret,
                                   redirect_uri=oidc.redirect_uri, actor="test")
    return Setup(tenant, provider)


def audit_kinds(platform: Platform, tenant_id: uuid.UUID) -> list[str]:
    with platform.db.tenant(tenant_id) as s:
        return [e.kind for e in platform.audit.list(s, tenant_id, limit=1000)]


def audit_events(platform: Platform, tenant_id: uuid.UUID, kind: str) -> list[dict[str, object]]:
    with platform.db.tenant(tenant_id) as s:
        return [dict(e.details) for e in platform.audit.list(s, tenant_id, limit=1000)
                if e.kind == kind]
