"""The JSON API end to end over HTTP: login with the TOTP step, CSRF, scopes, tenant walls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient

from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.apps import admin_app

PASSWORD = "correct horse battery staple"


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    # https: the session cookie is Secure and would not be sent over plain http.
    with TestClient(admin_app(platform), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def tenant(platform: Platform, make_tenant: Callable[..., TenantInfo]) -> TenantInfo:
    t = make_tenant()
    platform.identity.create_user(t, "owner@example.com", PASSWORD, "owner", "test")
    return t


def _login(client: TestClient, t: TenantInfo, email: str = "owner@example.com") -> str:
    r = client.post("/api/v1/auth/login", json={"tenant": t.name, "email": email,
                                                 "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/auth/login" in paths and "/api/v1/tenants/{tenant}/secrets/{name}" in paths


def test_session_cookie_flags(client: TestClient, tenant: TenantInfo) -> None:
    r = client.post("/api/v1/auth/login", json={"tenant": tenant.name,
                                                 "email": "owner@example.com",
                                                 "password": PASSWORD})
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("osp_session="))
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie


def test_secret_lifecycle_never_returns_values(client: TestClient, tenant: TenantInfo) -> None:
    csrf = _login(client, tenant)
    url = f"/api/v1/tenants/{tenant.name}/secrets/MODEL_API_KEY"
    assert client.put(url, json={"value": "sk-api-canary"}).status_code == 403  # no CSRF
    r = client.put(url, json={"value": "sk-api-canary"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and r.json()["version"] == 1
    listing = client.get(f"/api/v1/tenants/{tenant.name}/secrets")
    assert listing.json()[0]["name"] == "MODEL_API_KEY" and "sk-api-canary" not in listing.text
    assert client.delete(url, headers={"x-csrf-token": csrf}).status_code == 204
    assert client.delete(url, headers={"x-csrf-token": csrf}).status_code == 404


def test_validation_errors_do_not_echo_the_secret(client: TestClient, tenant: TenantInfo) -> None:
    csrf = _login(client, tenant)
    r = client.put(f"/api/v1/tenants/{tenant.name}/secrets/bad%20name",
                   json={"value": "sk-echo-canary"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 422 and "sk-echo-canary" not in r.text
    r = client.put(f"/api/v1/tenants/{tenant.name}/secrets/OK", json={"value": 12345678},
                   headers={"x-csrf-token": csrf})
    assert r.status_code == 422 and "12345678" not in r.text


def test_other_tenants_are_invisible(client: TestClient, platform: Platform, tenant: TenantInfo,
                                     make_tenant: Callable[..., TenantInfo]) -> None:
    other = make_tenant("other")
    _login(client, tenant)
    for path in ("", "/secrets", "/users", "/audit"):
        r = client.get(f"/api/v1/tenants/{other.name}{path}")
        assert r.status_code == 404, path
    assert client.get("/api/v1/tenants/never-existed/secrets").status_code == 404


def test_api_token_flow(client: TestClient, tenant: TenantInfo) -> None:
    csrf = _login(client, tenant)
    r = client.post(f"/api/v1/tenants/{tenant.name}/tokens",
                    json={"name": "ci", "scopes": ["secrets:read", "audit:read"]},
                    headers={"x-csrf-token": csrf})
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    client.cookies.clear()
    auth = {"authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/tenants/{tenant.name}/secrets", headers=auth).status_code == 200
    r = client.put(f"/api/v1/tenants/{tenant.name}/secrets/X", json={"value": "v"}, headers=auth)
    assert r.status_code == 403 and "secrets:write" in r.json()["error"]
    assert token not in client.get(f"/api/v1/tenants/{tenant.name}/audit", headers=auth).text
    csrf = _login(client, tenant)
    assert client.delete(f"/api/v1/tenants/{tenant.name}/tokens/{token_id}",
                         headers={"x-csrf-token": csrf}).status_code == 204
    client.cookies.clear()
    assert client.get(f"/api/v1/tenants/{tenant.name}/secrets", headers=auth).status_code == 401


def test_totp_enrol_and_login_step(client: TestClient, tenant: TenantInfo) -> None:
    csrf = _login(client, tenant)
    enrol = client.post("/api/v1/auth/totp/enrol", headers={"x-csrf-token": csrf}).json()
    assert enrol["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(enrol["secret"])
    r = client.post("/api/v1/auth/totp/confirm", json={"code": totp.now()},
                    headers={"x-csrf-token": csrf})
    assert len(r.json()["recovery_codes"]) == 10
    client.post("/api/v1/auth/logout", headers={"x-csrf-token": csrf})
    client.cookies.clear()
    csrf = _login(client, tenant)
    assert client.get(f"/api/v1/tenants/{tenant.name}/secrets").status_code == 403
    r = client.post("/api/v1/auth/totp", json={"code": totp.at(time.time() + 30)},
                    headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and r.json()["stage"] == "full"
    assert client.get(f"/api/v1/tenants/{tenant.name}/secrets").status_code == 200


def test_wrong_password_is_401_and_throttle_is_429(client: TestClient,
                                                   tenant: TenantInfo) -> None:
    body = {"tenant": tenant.name, "email": "owner@example.com", "password": "wrong password!"}
    codes = [client.post("/api/v1/auth/login", json=body).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_member_cannot_manage_secrets(client: TestClient, platform: Platform,
                                      tenant: TenantInfo) -> None:
    platform.identity.create_user(tenant, "m@example.com", PASSWORD, "member", "test")
    csrf = _login(client, tenant, "m@example.com")
    r = client.put(f"/api/v1/tenants/{tenant.name}/secrets/X", json={"value": "v"},
                   headers={"x-csrf-token": csrf})
    assert r.status_code == 403
