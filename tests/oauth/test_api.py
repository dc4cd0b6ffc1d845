"""OAuth routes over HTTP: register, connect from a signed-in browser, callback, list, revoke."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from osp.oauth.api import BINDING_COOKIE
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.apps import admin_app
from tests.oauth.conftest import OidcServer, follow

PASSWORD = "correct horse battery staple"


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(admin_app(platform),
                    base_url="https://testserver") as c:
        yield c


@pytest.fixture
def tenant(platform: Platform, make_tenant: Callable[..., TenantInfo]) -> TenantInfo:
    t = make_tenant("api")
    platform.identity.create_user(t, "owner@example.com", PASSWORD, "owner", "test")
    platform.identity.create_user(t, "member@example.com", PASSWORD, "member", "test")
    return t


def login(client: TestClient, t: TenantInfo, email: str = "owner@example.com") -> str:
    r = client.post("/api/v1/auth/login", json={"tenant": t.name, "email": email,
                                                 "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


def test_connect_use_and_revoke_over_the_api(client: TestClient, tenant: TenantInfo,
                                            oidc: OidcServer) -> None:
    csrf = {"x-csrf-token": login(client, tenant)}
    base = f"/api/v1/tenants/{tenant.name}"
    r = client.post(f"{base}/oauth/providers", headers=csrf, json={
        "name": "idp", "issuer": oidc.issuer, "client_id": oidc.client_id,
        "client_secret": oidc.client_secret, "redirect_uri": oidc.redirect_uri})
    assert r.status_code == 201, r.text
    assert oidc.client_secret not in r.text
    assert client.get(f"{base}/oauth/providers").json()[0]["revocation"] == "rfc7009"

    r = client.post(f"{base}/oauth/connect", headers=csrf,
                    json={"provider": "idp", "scopes": ["calendar.read"]})
    assert r.status_code == 200, r.text
    set_cookie = next(h for h in r.headers.get_list("set-cookie")
                      if h.startswith(BINDING_COOKIE))
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
    binding = r.cookies[BINDING_COOKIE]
    callback = follow(r.json()["authorization_url"])

    # Another browser (no binding cookie) cannot finish the person's flow...
    stolen = client.get(callback)
    assert stolen.status_code == 400 and "browser" in stolen.json()["error"]
    # ... and the attempt is spent, so start again and finish from the right browser.
    r = client.post(f"{base}/oauth/connect", headers=csrf,
                    json={"provider": "idp", "scopes": ["calendar.read"]})
    binding = r.cookies[BINDING_COOKIE]
    done = client.get(follow(r.json()["authorization_url"]),
                      headers={"cookie": f"{BINDING_COOKIE}={binding}"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "active"
    assert "calendar.read" in done.json()["granted_scopes"]
    assert "token" not in done.text.replace("token_", "")

    listed = client.get(f"{base}/connections").json()
    assert [c["provider"] for c in listed] == ["idp"]
    tools = {t["name"]: t for t in client.get("/api/v1/oauth/tools").json()}
    assert tools["google_gmail_send"]["approval"] is True
    r = client.delete(f"{base}/connections/idp", headers=csrf)
    assert r.status_code == 200 and r.json()["at_provider"] == "revoked"
    assert client.get(f"{base}/connections").json() == []


def test_members_cannot_register_or_connect(client: TestClient, tenant: TenantInfo,
                                            oidc: OidcServer) -> None:
    csrf = {"x-csrf-token": login(client, tenant, "member@example.com")}
    base = f"/api/v1/tenants/{tenant.name}"
    r = client.post(f"{base}/oauth/providers", headers=csrf, json={
        "name": "idp", "issuer": oidc.issuer, "client_id": "x", "client_secret": "y",
        "redirect_uri": oidc.redirect_uri})
    assert r.status_code == 403
    assert client.post(f"{base}/oauth/connect", headers=csrf,
                       json={"provider": "idp"}).status_code == 403


def test_callback_with_garbage_is_a_clean_400(client: TestClient) -> None:
    r = client.get("/api/v1/oauth/callback?state=nope&code=x")
    assert r.status_code == 400 and "state" in r.json()["error"]
