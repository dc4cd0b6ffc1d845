"""OAuth tables under row-level security, sealed values, and KEK rotation of sealed values."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from osp.errors import IntegrityFailure
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.oauth.conftest import OidcServer, follow

TABLES = ("oauth_providers", "oauth_attempts", "oauth_connections", "oauth_secrets")


@pytest.fixture
def two_connected(broker: OAuthBroker, oidc: OidcServer,
                  make_tenant: Callable[..., TenantInfo]) -> tuple[TenantInfo, TenantInfo]:
    tenants = make_tenant("a"), make_tenant("b")
    for t in tenants:
        broker.add_provider(t.id, "idp", issuer=oidc.issuer, client_id=oidc.client_id,
                            client_secret=oidc.client_secret, redirect_uri=oidc.redirect_uri,
                            actor="test")
        broker.complete(follow(broker.start(t.id, "idp", scopes=["calendar.read"],
                                            actor="t").authorization_url))
        broker.start(t.id, "idp", scopes=["calendar.read"], actor="t")  # one pending attempt
    return tenants


def test_each_tenant_sees_only_its_own_oauth_rows(
        platform: Platform, two_connected: tuple[TenantInfo, TenantInfo]) -> None:
    a, _ = two_connected
    with platform.db.tenant(a.id) as s:
        for table in TABLES:
            owners = set(s.execute(text(f"SELECT tenant_id FROM {table}")).scalars())
            assert owners == {a.id}, table
    with platform.db.unscoped() as s:
        for table in TABLES:
            assert s.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_rls_is_forced_on_every_oauth_table(
        superuser_sql: Callable[[str], list[tuple[object, ...]]]) -> None:
    rows = superuser_sql("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                         "WHERE relname LIKE 'oauth_%' AND relkind = 'r' ORDER BY relname")
    assert rows == [(t, True, True) for t in sorted(TABLES)]


def test_a_tenant_cannot_plant_rows_for_another(
        platform: Platform, two_connected: tuple[TenantInfo, TenantInfo]) -> None:
    a, b = two_connected
    with pytest.raises(ProgrammingError, match="row-level security"), \
            platform.db.tenant(a.id) as s:
        s.execute(text("UPDATE oauth_connections SET tenant_id = :b"), {"b": b.id})


def test_a_sealed_token_moved_to_another_connection_does_not_open(
        platform: Platform, broker: OAuthBroker,
        two_connected: tuple[TenantInfo, TenantInfo],
        superuser_sql: Callable[[str], list[tuple[object, ...]]]) -> None:
    a, _ = two_connected
    [conn] = broker.list_connections(a.id)
    fake_owner = uuid.uuid4()
    # The attacker with database access copies the sealed refresh token under another owner.
    superuser_sql(f"INSERT INTO oauth_secrets (id, tenant_id, owner_id, kind, version, "
                  f"kek_version, wrapped_dek, nonce, ciphertext) SELECT gen_random_uuid(), "
                  f"tenant_id, '{fake_owner}', kind, version, kek_version, wrapped_dek, nonce, "
                  f"ciphertext FROM oauth_secrets WHERE owner_id = '{conn.id}' "
                  f"AND kind = 'refresh'")
    with platform.db.tenant(a.id) as s:
        assert broker.store.find(s, conn.id, "refresh")
        with pytest.raises(IntegrityFailure):
            broker.store.find(s, fake_owner, "refresh")


def test_kek_rotation_reseals_oauth_values(
        platform: Platform, broker: OAuthBroker,
        two_connected: tuple[TenantInfo, TenantInfo]) -> None:
    a, _ = two_connected
    [conn] = broker.list_connections(a.id)
    with platform.db.tenant(a.id) as s:
        before = broker.store.get(s, conn.id, "access")
    new = platform.vault.kek.rotate()
    with platform.db.tenant(a.id) as s:
        assert broker.store.rewrap_tenant(s, a.id) >= 3  # client secret, access, refresh, ...
        versions = set(s.execute(text("SELECT kek_version FROM oauth_secrets")).scalars())
        assert versions == {new}
    with platform.db.tenant(a.id) as s:
        assert broker.store.get(s, conn.id, "access") == before
        assert broker.store.rewrap_tenant(s, a.id) == 0
