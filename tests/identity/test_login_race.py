"""The login throttle under concurrent attack, through the real server: every attempt is
counted before its password is verified, so a burst cannot buy more guesses than the limit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import FastAPI, Request

from osp.app.server import _server
from osp.errors import Unauthorized
from osp.identity import throttle
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from osp.web.deps import client_address
from tests.apps import admin_app
from tests.live import serving

PASSWORD = "correct horse battery staple"
BURST = 40


def test_a_burst_of_wrong_passwords_verifies_at_most_the_limit(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    platform.identity.create_user(tenant, "ada@example.com", PASSWORD, "owner", "test")
    body = {"tenant": tenant.name, "email": "ada@example.com"}

    with serving(admin_app(platform)) as base:
        def attempt(i: int) -> int:
            with httpx.Client(base_url=base, timeout=60) as c:
                return c.post("/api/v1/auth/login",
                              json={**body, "password": f"wrong password {i:04d}"}).status_code

        with ThreadPoolExecutor(BURST) as pool:
            statuses = Counter(pool.map(attempt, range(BURST)))
        with httpx.Client(base_url=base, timeout=60) as c:
            right = c.post("/api/v1/auth/login", json={**body, "password": PASSWORD})

    print(f"\n{BURST} concurrent wrong logins: {dict(statuses)}; right password after: "
          f"{right.status_code}")
    assert set(statuses) <= {401, 429}, statuses  # never a 500
    assert statuses[401] <= throttle.MAX_PER_ACCOUNT
    assert right.status_code == 429
    with platform.db.tenant(tenant.id) as s:
        kinds = Counter(e.kind for e in platform.audit.list(s, tenant.id, 500))
    # Only a verified attempt is recorded as login.failed; every attempt is audited.
    assert kinds["login.failed"] <= throttle.MAX_PER_ACCOUNT
    assert kinds["login.failed"] + kinds["login.throttled"] == BURST + 1
    assert kinds["login.ok"] == 0


def test_the_right_password_within_the_limit_still_works(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    platform.identity.create_user(tenant, "ada@example.com", PASSWORD, "owner", "test")
    for i in range(throttle.MAX_PER_ACCOUNT - 1):
        with pytest.raises(Unauthorized):
            platform.identity.login(tenant.name, "ada@example.com", f"wrong password {i}",
                                    "10.20.0.1")
    assert platform.identity.login(tenant.name, "ada@example.com", PASSWORD,
                                   "10.20.0.1").stage == "full"
    # Success clears the account's count: the next typo is attempt 1 again.
    for _ in range(throttle.MAX_PER_ACCOUNT):
        with pytest.raises(Unauthorized):
            platform.identity.login(tenant.name, "ada@example.com", "typo password", "10.20.0.1")


def test_a_forwarded_for_header_does_not_change_the_throttled_address() -> None:
    app = FastAPI()

    @app.get("/who")
    def who(request: Request) -> dict[str, str]:
        return {"address": client_address(request)}

    server = _server(app, "127.0.0.1", 0)
    assert server.config.proxy_headers is False
    with serving(app, config=server.config) as base:
        r = httpx.get(f"{base}/who", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.json() == {"address": "127.0.0.1"}
