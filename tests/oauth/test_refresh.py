"""Access tokens for the agent, refresh-ahead, rotation, the lock and invalid_grant."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from osp.db.session import Database
from osp.errors import Forbidden
from osp.oauth.refresh import NeedsReauth, access_token, refresh_due
from osp.oauth.service import ConnectionInfo, OAuthBroker
from osp.platform import Platform
from tests.oauth.conftest import OidcServer, Setup, audit_events, follow


def connect(broker: OAuthBroker, setup: Setup) -> ConnectionInfo:
    start = broker.start(setup.tenant_id, "idp", scopes=["calendar.read"], actor="t")
    return broker.complete(follow(start.authorization_url))


def stored(broker: OAuthBroker, platform: Platform, setup: Setup, conn: ConnectionInfo,
           kind: str) -> str | None:
    with platform.db.tenant(setup.tenant_id) as s:
        return broker.store.find(s, conn.id, kind)


def test_fresh_token_is_handed_out_without_refresh(
        broker: OAuthBroker, connected_tenant: Setup, platform: Platform) -> None:
    conn = connect(broker, connected_tenant)
    grant = access_token(broker, connected_tenant.tenant_id, conn.id, "calendar.read", "agent")
    assert grant.access_token == stored(broker, platform, connected_tenant, conn, "access")
    assert grant.access_token not in repr(grant)
    assert audit_events(platform, connected_tenant.tenant_id, "oauth.refreshed") == []
    assert audit_events(platform, connected_tenant.tenant_id, "oauth.token_issued")[0][
        "scope"] == "calendar.read"


def test_scope_that_was_not_granted_is_refused(
        broker: OAuthBroker, connected_tenant: Setup) -> None:
    conn = connect(broker, connected_tenant)
    with pytest.raises(Forbidden, match=r"mail\.send"):
        access_token(broker, connected_tenant.tenant_id, conn.id, "mail.send", "agent")


def test_refresh_rotates_and_the_old_refresh_token_dies_at_the_provider(
        broker: OAuthBroker, connected_tenant: Setup, platform: Platform,
        oidc: OidcServer) -> None:
    conn = connect(broker, connected_tenant)
    old_access = stored(broker, platform, connected_tenant, conn, "access")
    old_refresh = stored(broker, platform, connected_tenant, conn, "refresh")
    grant = access_token(broker, connected_tenant.tenant_id, conn.id, "calendar.read", "agent",
                         force_refresh=True)
    new_refresh = stored(broker, platform, connected_tenant, conn, "refresh")
    assert grant.access_token != old_access
    assert new_refresh and new_refresh != old_refresh
    [event] = audit_events(platform, connected_tenant.tenant_id, "oauth.refreshed")
    assert event["rotated"] is True
    assert broker.list_connections(connected_tenant.tenant_id)[0].last_refresh_at is not None
    # The provider's view: the rotated-out refresh token no longer works.
    assert oidc.token(grant_type="refresh_token", refresh_token=old_refresh or ""
                      ).json()["error"] == "invalid_grant"


def test_refresh_ahead_on_use(platform: Platform, connected_tenant: Setup) -> None:
    # Access tokens of the test provider live 10 minutes; 15 minutes ahead means "due now".
    eager = OAuthBroker(platform.db, platform.vault, platform.audit,
                        refresh_ahead=timedelta(minutes=15), allow_loopback=True)
    try:
        conn = connect(eager, connected_tenant)
        first = access_token(eager, connected_tenant.tenant_id, conn.id, "calendar.read", "a")
        assert len(audit_events(platform, connected_tenant.tenant_id, "oauth.refreshed")) == 1
        assert first.expires_at is not None
    finally:
        eager.close()


def test_concurrent_users_share_one_refresh(platform: Platform, connected_tenant: Setup) -> None:
    # Two engines stand for two control-plane processes: only the database lock is shared.
    databases = [platform.db, Database(platform.db.url)]
    brokers = [OAuthBroker(db, platform.vault, platform.audit,
                           refresh_ahead=timedelta(minutes=15), allow_loopback=True)
               for db in databases]
    conn = connect(brokers[0], connected_tenant)
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def use(b: OAuthBroker) -> None:
        try:
            barrier.wait(10)
            results.append(access_token(b, connected_tenant.tenant_id, conn.id,
                                        "calendar.read", "agent").access_token)
        except BaseException as exc:
            errors.append(exc)

    # Make the access token due again for both "processes" at once.
    with platform.db.tenant(connected_tenant.tenant_id) as s:
        from osp.oauth.models import OAuthConnection
        row = s.get(OAuthConnection, conn.id)
        assert row is not None
        row.access_expires_at = brokers[0].now()
    threads = [threading.Thread(target=use, args=(b,)) for b in brokers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for b in brokers:
        b.close()
    databases[1].dispose()
    assert errors == []
    # Both got the same fresh token; exactly one refresh spent the (rotating) refresh token.
    assert len(set(results)) == 1
    assert len(audit_events(platform, connected_tenant.tenant_id, "oauth.refreshed")) == 1
    assert broker_status(platform, connected_tenant) == "active"


def broker_status(platform: Platform, setup: Setup) -> str:
    b = OAuthBroker(platform.db, platform.vault, platform.audit)
    try:
        return b.list_connections(setup.tenant_id, include_revoked=True)[0].status
    finally:
        b.close()


def test_token_revoked_at_the_provider_is_detected_on_next_use(
        broker: OAuthBroker, connected_tenant: Setup, platform: Platform,
        oidc: OidcServer) -> None:
    conn = connect(broker, connected_tenant)
    refresh = stored(broker, platform, connected_tenant, conn, "refresh")
    assert oidc.revoke(refresh or "", "refresh_token").status_code == 200
    # The API refused the access token, so the executor asks again with force_refresh.
    with pytest.raises(NeedsReauth):
        access_token(broker, connected_tenant.tenant_id, conn.id, "calendar.read", "agent",
                     force_refresh=True)
    [info] = broker.list_connections(connected_tenant.tenant_id)
    assert info.status == "needs_reauth"
    [event] = audit_events(platform, connected_tenant.tenant_id, "oauth.needs_reauth")
    assert "invalid_grant" in str(event["reason"])
    assert stored(broker, platform, connected_tenant, conn, "refresh") is None
    with pytest.raises(NeedsReauth):
        access_token(broker, connected_tenant.tenant_id, conn.id, "calendar.read", "agent")
    # Connecting again repairs the same connection.
    again = connect(broker, connected_tenant)
    assert again.id == conn.id and again.status == "active"


def test_background_job_refreshes_due_connections_and_purges_attempts(
        platform: Platform, connected_tenant: Setup) -> None:
    job = OAuthBroker(platform.db, platform.vault, platform.audit,
                      refresh_ahead=timedelta(minutes=15), allow_loopback=True)
    try:
        conn = connect(job, connected_tenant)
        job.start(connected_tenant.tenant_id, "idp", scopes=["calendar.read"], actor="t")
        report = refresh_due(job, [connected_tenant.tenant_id])
        assert (report.refreshed, report.failed, report.needs_reauth) == (1, 0, 0)
        assert report.attempts_purged == 0
        later = OAuthBroker(platform.db, platform.vault, platform.audit,
                            clock=lambda: job.now() + timedelta(minutes=11),
                            allow_loopback=True)
        try:
            assert refresh_due(later, [connected_tenant.tenant_id]).attempts_purged == 1
        finally:
            later.close()
        assert conn.id == job.list_connections(connected_tenant.tenant_id)[0].id
    finally:
        job.close()


def test_refresh_job_of_the_app_refreshes_and_stops(
        platform: Platform, connected_tenant: Setup, broker: OAuthBroker) -> None:
    import time

    from osp.app import App, Job
    from osp.app.jobs import JobRunner
    from osp.oauth.models import OAuthConnection

    conn = connect(broker, connected_tenant)
    with platform.db.tenant(connected_tenant.tenant_id) as s:
        row = s.get(OAuthConnection, conn.id)
        assert row is not None
        row.access_expires_at = broker.now()  # due now
    app = App(platform)
    app.broker = broker  # the fixture's broker allows the loopback test provider
    runner = JobRunner([Job("oauth_refresh", 0.2, app.refresh_tokens)])
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not audit_events(
                platform, connected_tenant.tenant_id, "oauth.refreshed"):
            time.sleep(0.2)
    finally:
        runner.stop()
    [event] = audit_events(platform, connected_tenant.tenant_id, "oauth.refreshed")
    assert event["connection_id"] == str(conn.id)
