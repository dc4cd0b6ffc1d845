"""Revocation reaches the provider (RFC 7009); local tokens are deleted whatever it says."""

from __future__ import annotations

import httpx
import pytest

from osp.errors import NotFound
from osp.oauth.refresh import access_token
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from tests.oauth.conftest import OidcServer, Setup, audit_events, follow


def test_revoke_reaches_the_provider_and_deletes_local_tokens(
        broker: OAuthBroker, connected_tenant: Setup, platform: Platform,
        oidc: OidcServer) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=["calendar.read"], actor="t")
    conn = broker.complete(follow(start.authorization_url))
    with platform.db.tenant(connected_tenant.tenant_id) as s:
        refresh = broker.store.get(s, conn.id, "refresh")
        access = broker.store.get(s, conn.id, "access")

    assert oidc.introspect(refresh).json()["active"] is True

    result = broker.revoke(connected_tenant.tenant_id, "idp", "user:test")

    assert result.at_provider == "revoked"
    after = oidc.token(grant_type="refresh_token", refresh_token=refresh)
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    assert oidc.introspect(refresh).json()["active"] is False
    me = f"{oidc.issuer}/me"
    assert httpx.get(me, headers={"authorization": f"Bearer {access}"}).status_code == 401
    with platform.db.tenant(connected_tenant.tenant_id) as s:
        assert broker.store.find(s, conn.id, "refresh") is None
        assert broker.store.find(s, conn.id, "access") is None
    assert broker.list_connections(connected_tenant.tenant_id) == []
    [info] = broker.list_connections(connected_tenant.tenant_id, include_revoked=True)
    assert info.status == "revoked"
    [event] = audit_events(platform, connected_tenant.tenant_id, "oauth.revoked")
    assert event["at_provider"] == "revoked"
    with pytest.raises(NotFound):
        access_token(broker, connected_tenant.tenant_id, conn.id, "calendar.read", "agent")
    with pytest.raises(NotFound):
        broker.revoke(connected_tenant.tenant_id, "idp", "user:test")
