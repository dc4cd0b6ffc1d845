"""The authorization code + PKCE flow against a real OpenID provider, and every way it fails."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from osp.oauth.service import CallbackRejected, OAuthBroker
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.oauth.conftest import OidcServer, Setup, audit_events, follow

SCOPES = ["calendar.read", "mail.send"]


def with_params(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    return urlunsplit(parts._replace(query=urlencode(params)))


def test_happy_path_connects_and_token_works_at_the_provider(
        broker: OAuthBroker, connected_tenant: Setup, oidc: OidcServer,
        platform: Platform) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="user:test")
    query = parse_qs(urlsplit(start.authorization_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert "nonce" in query and "state" in query
    assert start.expires_at <= datetime.now(UTC) + timedelta(minutes=10)

    conn = broker.complete(follow(start.authorization_url))

    assert conn.status == "active"
    assert conn.granted_scopes == ["calendar.read", "mail.send", "openid"]
    assert broker.list_connections(connected_tenant.tenant_id)[0].id == conn.id
    with platform.db.tenant(connected_tenant.tenant_id) as s:
        access = broker.store.get(s, conn.id, "access")
        assert broker.store.find(s, conn.id, "refresh")
    me = httpx.get(f"{oidc.issuer}/me", headers={"authorization": f"Bearer {access}"})
    assert me.status_code == 200 and me.json()["sub"] == "alice"
    [event] = audit_events(platform, connected_tenant.tenant_id, "oauth.connected")
    assert event["granted_scopes"] == conn.granted_scopes


def test_partial_consent_records_the_scopes_actually_granted(
        broker: OAuthBroker, connected_tenant: Setup) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    conn = broker.complete(follow(start.authorization_url, hint="grant:calendar.read"))
    assert conn.granted_scopes == ["calendar.read", "openid"]
    assert conn.requested_scopes == ["openid", "calendar.read", "mail.send"]


def test_wrong_state_is_rejected_and_the_real_attempt_still_works(
        broker: OAuthBroker, connected_tenant: Setup) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    forged = state[:-6] + ("AAAAAA" if not state.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(CallbackRejected, match="state"):
        broker.complete(with_params(callback, state=forged))
    with pytest.raises(CallbackRejected, match="state"):
        broker.complete(with_params(callback, state=None))
    assert broker.complete(callback).status == "active"


def test_state_of_one_tenant_does_not_open_another(
        broker: OAuthBroker, connected_tenant: Setup,
        make_tenant: Callable[..., TenantInfo]) -> None:
    other = make_tenant("other")
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    moved = state.replace(connected_tenant.tenant_id.hex, other.id.hex)
    with pytest.raises(CallbackRejected, match="state"):
        broker.complete(with_params(callback, state=moved))
    assert broker.list_connections(other.id) == []


def test_replayed_callback_is_rejected_and_audited(
        broker: OAuthBroker, connected_tenant: Setup, platform: Platform) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url)
    broker.complete(callback)
    with pytest.raises(CallbackRejected, match="already used"):
        broker.complete(callback)
    rejected = audit_events(platform, connected_tenant.tenant_id, "oauth.callback_rejected")
    assert rejected[-1]["reason"] == "unknown, used or expired state"


def test_intercepted_code_is_useless_without_the_right_verifier(
        broker: OAuthBroker, connected_tenant: Setup, oidc: OidcServer) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    missing = oidc.token(**base)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    wrong = oidc.token(**base, code_verifier="x" * 64)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert "access_token" not in wrong.text


REDIRECT = "http://127.0.0.1:9/api/v1/oauth/callback"


def test_broker_refuses_an_iss_that_is_not_the_registered_issuer(
        broker: OAuthBroker, connected_tenant: Setup, platform: Platform) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url)
    with pytest.raises(CallbackRejected, match="iss does not match"):
        broker.complete(with_params(callback, iss="https://attacker.example"))
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url)
    with pytest.raises(CallbackRejected, match="sent none"):
        broker.complete(with_params(callback, iss=None))
    reasons = [e["reason"] for e in audit_events(platform, connected_tenant.tenant_id,
                                                  "oauth.connect_failed")]
    assert len(reasons) == 2
    assert broker.list_connections(connected_tenant.tenant_id) == []


def test_callback_at_another_redirect_uri_is_rejected(
        broker: OAuthBroker, connected_tenant: Setup) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url)
    elsewhere = callback.replace("/api/v1/oauth/callback", "/api/v1/oauth/callback2")
    with pytest.raises(CallbackRejected, match="redirect URI"):
        broker.complete(elsewhere)
    # The attempt is spent by the failed try: the genuine URL no longer works either.
    with pytest.raises(CallbackRejected, match="already used"):
        broker.complete(callback)


def test_expired_code_ends_the_attempt_cleanly(
        broker: OAuthBroker, connected_tenant: Setup, platform: Platform) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url, hint="expire-code")
    time.sleep(2.2)
    with pytest.raises(CallbackRejected, match="code exchange failed"):
        broker.complete(callback)
    [failed] = audit_events(platform, connected_tenant.tenant_id, "oauth.connect_failed")
    assert failed["error"] == "invalid_grant"
    assert broker.list_connections(connected_tenant.tenant_id) == []


def test_provider_error_ends_the_attempt_and_is_audited(
        broker: OAuthBroker, connected_tenant: Setup, platform: Platform) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url, hint="deny")
    assert "error=access_denied" in callback
    with pytest.raises(CallbackRejected, match="access_denied"):
        broker.complete(callback)
    [failed] = audit_events(platform, connected_tenant.tenant_id, "oauth.connect_failed")
    assert failed["error"] == "access_denied"
    with pytest.raises(CallbackRejected, match="already used"):
        broker.complete(callback)


def test_attempt_older_than_ten_minutes_is_refused(
        platform: Platform, connected_tenant: Setup) -> None:
    later = OAuthBroker(platform.db, platform.vault, platform.audit,
                        clock=lambda: datetime.now(UTC) + timedelta(minutes=10, seconds=1))
    early = OAuthBroker(platform.db, platform.vault, platform.audit)
    try:
        start = early.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
        with pytest.raises(CallbackRejected, match="expired"):
            later.complete(follow(start.authorization_url))
    finally:
        later.close()
        early.close()


def test_browser_binding_is_required_when_asked_for(
        broker: OAuthBroker, connected_tenant: Setup) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t",
                         bind_browser=True)
    assert start.binding
    with pytest.raises(CallbackRejected, match="browser"):
        broker.complete(follow(start.authorization_url), binding="not-the-cookie")
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t",
                         bind_browser=True)
    assert broker.complete(follow(start.authorization_url), binding=start.binding).status \
        == "active"


def test_duplicated_callback_parameter_is_rejected(
        broker: OAuthBroker, connected_tenant: Setup) -> None:
    start = broker.start(connected_tenant.tenant_id, "idp", scopes=SCOPES, actor="t")
    callback = follow(start.authorization_url)
    with pytest.raises(CallbackRejected, match="more than once"):
        broker.complete(callback + "&code=injected")


def test_unknown_provider_and_bad_scopes(broker: OAuthBroker, connected_tenant: Setup) -> None:
    from osp.errors import InvalidInput, NotFound

    with pytest.raises(NotFound):
        broker.start(connected_tenant.tenant_id, "nope", scopes=SCOPES, actor="t")
    with pytest.raises(InvalidInput, match="scope"):
        broker.start(connected_tenant.tenant_id, "idp", scopes=["a b"], actor="t")
    assert uuid.UUID(str(connected_tenant.tenant_id))
