"""Bad input is a 422 with a reason, never a 500: NUL characters and lone surrogates in every
field the outside test used, unauthenticated and authenticated, and the database net behind
the models (a value that still reaches Postgres and is refused there is the client's fault)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from osp.app.agent import agent_routers, build_agent
from osp.gateway.service import GatewayOptions
from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from osp.web.db_errors import db_error_answer
from tests.apps import admin_app
from tests.gateway.fixtures import NoAgent

BAD = {"nul": "a\x00b", "surrogate": "a\ud800b"}


@pytest.fixture
def api(platform: Platform) -> Iterator[TestClient]:
    parts = build_agent(platform, locator=NoAgent(),
                        options=GatewayOptions(redeliver_window_s=0.1, poll_s=0.05))
    app = admin_app(platform, *agent_routers(parts))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def owner(platform: Platform, make_tenant: Callable[..., TenantInfo]) -> tuple[TenantInfo, str]:
    tenant = make_tenant()
    user_id = platform.identity.create_user(tenant, "owner@example.com",
                                            "correct horse battery 9", "owner", "test")
    principal = Principal(tenant.id, user_id, "owner", "session", scopes=ROLE_SCOPES["owner"])
    return tenant, platform.identity.create_token(principal, "t", sorted(ROLE_SCOPES["owner"]),
                                                  None)[1]


def _requests(tenant: str, bad: str) -> list[tuple[str, str, dict[str, object]]]:
    base = f"/api/v1/tenants/{tenant}"
    return [
        ("POST", "/api/v1/auth/login", {"tenant": tenant, "email": f"{bad}@example.com",
                                        "password": "whatever password"}),
        ("POST", "/api/v1/auth/login", {"tenant": tenant, "email": "owner@example.com",
                                        "password": f"correct horse {bad}"}),
        ("POST", f"{base}/tokens", {"name": bad, "scopes": ["chat"]}),
        ("POST", f"{base}/users", {"email": "new@example.com", "password": f"long enough {bad}",
                                   "role": "member"}),
        ("PUT", f"{base}/agent/model", {"provider": bad, "model": "m"}),
        ("PUT", f"{base}/agent/model", {"provider": "ollama", "model": bad,
                                        "base_url": "http://osp-host:11434"}),
        ("PUT", f"{base}/agent/config", {"system_prompt": bad}),
        ("PUT", f"{base}/agent/config", {"flows": [{bad: 1}]}),
        ("POST", f"{base}/messages", {"text": bad}),
        ("POST", f"{base}/knowledge", {"name": "doc", "content": bad}),
        ("PUT", f"{base}/secrets/API_KEY", {"value": bad}),
        ("POST", f"{base}/oauth/providers", {"name": bad, "catalog": "google",
                                             "client_id": "c", "client_secret": "s"}),
    ]


@pytest.mark.parametrize("kind", sorted(BAD))
def test_nul_and_lone_surrogates_are_refused_with_a_reason(
        platform: Platform, api: TestClient, owner: tuple[TenantInfo, str], kind: str) -> None:
    tenant, token = owner
    for method, url, body in _requests(tenant.name, BAD[kind]):
        # ASCII-escaped JSON, as an attacker sends it: "\ud800" is valid JSON syntax.
        r = api.request(method, url, content=json.dumps(body),
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/json"})
        assert r.status_code == 422, (method, url, body, r.status_code, r.text)
        error = r.json()["error"]
        assert error and BAD[kind] not in error  # a reason, not the value
    # Nothing was half-written: no token, no user, no secret, no message.
    with platform.db.tenant(tenant.id) as s:
        assert len(platform.vault.list(s, tenant.id)) == 0
    assert [u.email for u in platform.identity.list_users(tenant.id)] == ["owner@example.com"]
    assert len(platform.identity.list_tokens(tenant.id)) == 1


def test_the_database_net_maps_refusals_and_outages_without_a_500(
        platform: Platform) -> None:
    from sqlalchemy import exc as sa
    from sqlalchemy import text

    refused = None
    try:
        with platform.db.unscoped() as s:
            s.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
    except Exception as exc:  # what the driver really raises for a NUL
        refused = exc
    assert refused is not None and db_error_answer(refused)[0] == 422
    assert db_error_answer(sa.IntegrityError("x", {}, Exception("dup")))[0] == 409
    assert db_error_answer(sa.OperationalError("x", {}, Exception("down")))[0] == 503
    assert db_error_answer(sa.TimeoutError("pool exhausted"))[0] == 503
    assert db_error_answer(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate"))[0] == 422
