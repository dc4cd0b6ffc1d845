"""Operator pages: an operator (password + mandatory TOTP, no tenant) manages tenants, sees
the fleet and the platform trail; a tenant session never reaches an operator page and an
operator session never reaches a tenant page (every route swept, GET and POST)."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest

from osp.audit.unproven import PLATFORM_TRAIL
from osp.errors import NotFound
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.console.conftest import PASSWORD, Person, Served, http_session, shot, sign_in
from tests.console.test_security import FILL, XSS, console_routes


@dataclass
class Op:
    email: str
    seed: str

    def code(self, ahead: int = 0) -> str:
        return str(pyotp.TOTP(self.seed).at(time.time() + 30 * ahead))


@pytest.fixture
def operator(platform: Platform) -> Iterator[Op]:
    email = f"op-{uuid.uuid4().hex[:6]}@example.com"
    _, seed = platform.operators.create(email, PASSWORD, "test")
    yield Op(email, seed)
    platform.operators.delete(email, "test")


def op_sign_in(page: Any, site: Served, op: Op, code: str | None = None) -> None:
    page.goto(site.console("/operator/login"))
    page.get_by_label("Email").fill(op.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(code or op.code())
    page.get_by_role("button", name="Sign in").click()


@dataclass
class OpSession:
    client: httpx.Client
    csrf: str
    token: str

    def post(self, url: str, data: dict[str, Any] | None = None, *,
             csrf: str | None = "default") -> httpx.Response:
        body = dict(data or {})
        if csrf is not None:
            body["csrf"] = self.csrf if csrf == "default" else csrf
        return self.client.post(url, data=body)


def op_session(site: Served, op: Op, ahead: int = 0) -> OpSession:
    client = httpx.Client(base_url=site.url, follow_redirects=False, timeout=30)
    r = client.post("/console/operator/login", data={"email": op.email, "password": PASSWORD,
                                                     "code": op.code(ahead)})
    assert r.status_code == 303, r.text
    token, csrf = r.cookies["osp_op_session"], r.cookies["osp_op_csrf"]
    client.headers["cookie"] = f"osp_op_session={token}; osp_op_csrf={csrf}"
    return OpSession(client, csrf, token)


def _platform_kinds(platform: Platform) -> list[str]:
    with platform.db.tenant(PLATFORM_TRAIL) as s:
        return [e.kind for e in platform.audit.find(s, PLATFORM_TRAIL, limit=200)]


def test_an_operator_manages_tenants(page: Any, site: Served, platform: Platform,
                                     operator: Op) -> None:
    op_sign_in(page, site, operator, code="000000")
    assert "invalid credentials" in page.locator("p.error").inner_text()
    op_sign_in(page, site, operator)
    page.wait_for_url(re.compile(r".*/console/operator/tenants$"))
    name = f"op-{uuid.uuid4().hex[:8]}"
    page.get_by_label("Name (lowercase letters, digits, dashes)").fill(name)
    page.get_by_label("First owner's email (optional)").fill("first@example.com")
    page.get_by_label("First owner's initial password (at least 12 characters)").fill(PASSWORD)
    page.get_by_role("button", name="Create tenant").click()
    assert f"created tenant {name}" in page.locator("p.notice").inner_text()
    info = platform.tenants.get(name)
    assert [u.role for u in platform.identity.list_users(info.id)] == ["owner"]
    try:
        page.get_by_role("button", name=f"Suspend {name}").click()
        assert platform.tenants.get(name).state == "suspended"
        row = page.locator("#tenants tbody tr", has_text=name).inner_text()
        assert "suspended" in row
        shot(page, "operator-tenants")
        page.get_by_role("button", name=f"Resume {name}").click()
        assert platform.tenants.get(name).state == "active"

        page.get_by_role("link", name="Fleet").click()
        assert name in page.locator("#fleet").inner_text()
        shot(page, "operator-fleet")
        page.get_by_role("link", name="Platform audit").click()
        status = page.locator("#chain-status").inner_text()
        assert "verified" in status and "broken" not in status
        kinds = page.locator("table.audit").inner_text()
        assert "operator.login_ok" in kinds and "operator.login_failed" in kinds
        assert "operator.tenant_suspend" in kinds
        shot(page, "operator-audit")

        # Delete needs the name typed exactly.
        page.get_by_role("link", name="Tenants").click()
        row = page.locator("#tenants tbody tr", has_text=name)
        row.locator("summary").click()
        row.get_by_label(f"Type {name} to delete it and all its data").fill(name + "x")
        row.get_by_role("button", name=f"Delete {name}").click()
        assert "type the tenant's name" in page.locator("p.error").inner_text()
        assert platform.tenants.get(name).state == "active"
        row = page.locator("#tenants tbody tr", has_text=name)
        row.locator("summary").click()
        row.get_by_label(f"Type {name} to delete it and all its data").fill(name)
        row.get_by_role("button", name=f"Delete {name}").click()
        with pytest.raises(NotFound):
            platform.tenants.get(name)
    finally:
        with contextlib.suppress(NotFound):
            platform.tenants.delete(platform.tenants.get(name), "test")
    kinds_now = _platform_kinds(platform)
    assert {"operator.tenant_created", "operator.tenant_resume",
            "operator.tenant_delete"} <= set(kinds_now)


def test_a_totp_code_works_once(site: Served, operator: Op) -> None:
    code = operator.code()
    client = httpx.Client(base_url=site.url, follow_redirects=False, timeout=30)
    form = {"email": operator.email, "password": PASSWORD, "code": code}
    assert client.post("/console/operator/login", data=form).status_code == 303
    assert client.post("/console/operator/login", data=form).status_code == 401
    # The password alone is never enough.
    assert client.post("/console/operator/login",
                       data={**form, "code": ""}).status_code == 401


def _fill(path: str, tenant: str) -> str:
    values = {**FILL, "tenant": tenant, "name": tenant, "action": "suspend"}
    return "/console" + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_sessions_never_cross_between_tenants_and_operators(
        site: Served, platform: Platform, operator: Op, person: Callable[..., Person],
        make_tenant: Callable[..., TenantInfo]) -> None:
    owner = person("owner")
    victim = make_tenant("vic")
    tenant = http_session(site, owner)
    op = op_session(site, operator)
    routes = console_routes(site)
    op_routes = [(m, p) for m, p in routes if p.startswith("/operator")
                 and not p.startswith("/operator/log")]
    tenant_routes = [(m, p) for m, p in routes if "{tenant}" in p]
    assert len(op_routes) >= 6 and len(tenant_routes) >= 25
    body = {"name": f"new-{uuid.uuid4().hex[:6]}", "confirm": victim.name, "text": "hi",
            "document": "{}", "role": "owner"}
    for method, path in op_routes:
        url = _fill(path, victim.name)
        # A tenant owner's session (with its valid CSRF token) on an operator page.
        r = (tenant.client.get(url) if method == "GET" else tenant.post(url, body))
        if method == "GET":
            assert r.status_code == 303, (url, r.status_code)
            assert r.headers["location"].startswith("/console/operator/login"), url
        else:
            assert r.status_code == 401, (url, r.status_code)
        # The tenant's session token in the operator's cookie is no operator either.
        forged = httpx.Client(base_url=site.url, follow_redirects=False, timeout=30,
                              headers={"cookie": "osp_op_session="
                                       + tenant.client.headers["cookie"].split("=", 1)[1]
                                       .split(";")[0]})
        r = forged.get(url) if method == "GET" else forged.post(url, data=body)
        assert r.status_code in (303, 401), (url, r.status_code)
    assert platform.tenants.get(victim.name).state == "active"  # nothing happened
    assert not any(t.name == body["name"] for t in platform.tenants.list())
    for method, path in tenant_routes:
        url = _fill(path, owner.tenant.name)
        # The operator's cookies (scoped to /console/operator anyway) open no tenant page,
        # and the operator token presented as a tenant session is refused.
        for cookie in (f"osp_op_session={op.token}; osp_op_csrf={op.csrf}",
                       f"osp_session={op.token}; osp_csrf={op.csrf}"):
            c = httpx.Client(base_url=site.url, follow_redirects=False, timeout=30,
                             headers={"cookie": cookie})
            r = c.get(url) if method == "GET" else c.post(url, data={**body,
                                                                      "csrf": op.csrf})
            assert r.status_code == 303 and "/console/login" in r.headers["location"], \
                (method, url, r.status_code)
    assert platform.tenants.get(owner.tenant.name).state == "active"
    # The operator's own session does work (the sweep is not vacuous).
    assert op.client.get("/console/operator/tenants").status_code == 200
    assert op.client.get("/console/operator/fleet").status_code == 200


def test_operator_posts_need_the_csrf_token(site: Served, platform: Platform, operator: Op,
                                            make_tenant: Callable[..., TenantInfo]) -> None:
    victim = make_tenant("vic")
    op = op_session(site, operator)
    url = f"/console/operator/tenants/{victim.name}/suspend"
    assert op.post(url, csrf=None).status_code == 403
    assert op.post(url, csrf="wrong").status_code == 403
    assert op.post(f"/console/operator/tenants/{victim.name}/delete",
                   {"confirm": victim.name}, csrf=None).status_code == 403
    assert platform.tenants.get(victim.name).state == "active"
    r = op.client.post(url, data={"csrf": op.csrf},
                       headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    assert op.post(url).status_code == 200
    assert platform.tenants.get(victim.name).state == "suspended"


def test_hostile_text_in_the_platform_trail_is_inert(page: Any, site: Served,
                                                     operator: Op) -> None:
    client = httpx.Client(base_url=site.url, follow_redirects=False, timeout=30)
    client.post("/console/operator/login", data={"email": XSS[:200], "password": "x",
                                                 "code": "1"})
    op_sign_in(page, site, operator)
    page.wait_for_url(re.compile(r".*/operator/tenants$"))
    page.get_by_role("link", name="Platform audit").click()
    assert page.evaluate("window.__xss") is None
    page.locator("table.audit details").first.click()
    assert "operator.login" in page.locator("table.audit").inner_text()


def test_a_signed_in_tenant_owner_sees_no_operator_navigation(page: Any, site: Served,
                                                              person: Callable[..., Person]
                                                              ) -> None:
    owner = person("owner")
    sign_in(page, site, owner)
    assert page.get_by_role("link", name="Fleet").count() == 0
    page.goto(site.console("/operator/tenants"))
    assert page.url.endswith("/console/operator/login")


def test_the_tenants_page_shows_the_billing_state(site: Served, platform: Platform,
                                                  operator: Op,
                                                  make_tenant: Callable[..., TenantInfo]
                                                  ) -> None:
    from osp.runtime.models import BillingEventRow

    canceled, quiet = make_tenant("bil"), make_tenant("bil")
    with platform.db.tenant(canceled.id) as s:
        s.add(BillingEventRow(tenant_id=canceled.id, event_id=f"evt_{uuid.uuid4().hex}",
                              kind="subscription.canceled"))
    page = op_session(site, operator).client.get("/console/operator/tenants").text
    rows = {name: page.split(f"<td>{name}</td>", 1)[1].split("</tr>", 1)[0]
            for name in (canceled.name, quiet.name)}
    assert "canceled" in rows[canceled.name] and "no events" in rows[quiet.name]
