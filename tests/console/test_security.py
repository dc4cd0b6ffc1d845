"""The console's own security: roles, tenant isolation over every route, CSRF, the
same-origin check, CSP and friends on every response, stored XSS rendered inert."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from osp.app.agent import AgentParts
from osp.console.render import CSP
from osp.platform import Platform
from tests.console.conftest import Person, Served, http_session, shot, sign_in

XSS = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">'
FILL = {"action": "start", "approval_id": str(uuid.uuid4()), "decision": "approve",
        "name": "SOME_SECRET", "token_id": str(uuid.uuid4()), "provider": "someapp",
        "version": "1", "user_id": str(uuid.uuid4())}


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):  # FastAPI's included-router wrapper
            out += _api_routes(route.original_router.routes)
    return out


def console_routes(site: Served) -> list[tuple[str, str]]:
    """Every (method, path template) of the mounted console, read from the app itself so a
    new route is swept without anyone remembering to add it."""
    mount = next(r for r in site.app.routes if isinstance(r, Mount) and r.path == "/console")
    return [(method, route.path) for route in _api_routes(mount.routes)
            for method in sorted(route.methods - {"HEAD"})]


def fill(path: str, tenant: str) -> str:
    return "/console" + re.sub(r"\{(\w+)\}", lambda m: tenant if m.group(1) == "tenant"
                               else FILL[m.group(1)], path)


def test_tenant_a_never_reaches_tenant_b_on_any_route(site: Served,
                                                      person: Callable[..., Person]) -> None:
    a, b = person("owner"), person("owner")
    session = http_session(site, a)
    routes = [(m, p) for m, p in console_routes(site) if "{tenant}" in p]
    assert len(routes) >= 20  # the sweep sees the whole console
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"  # a tenant that does not exist

    def call(method: str, url: str) -> httpx.Response:
        if method == "GET":
            return session.client.get(url)
        return session.post(url, {"text": "hi", "document": "{}", "name": "X", "value": "v",
                                  "email": "x@example.com", "password": "p" * 12})

    for method, path in routes:
        url = fill(path, b.tenant.name)
        r = call(method, url)
        assert r.status_code == 404, (method, url, r.status_code)
        # B's pages look exactly like a tenant that does not exist: nothing of B's leaks.
        missing = call(method, fill(path, ghost))
        assert r.text.replace(b.tenant.name, "T") == missing.text.replace(ghost, "T")
        assert b.email not in r.text
        # The same route on A's own tenant is not a 404 (the sweep is not vacuous).
        own = fill(path, a.tenant.name)
        if method == "GET":
            assert session.client.get(own).status_code == 200, own


def test_a_member_cannot_use_owner_pages(page: Any, site: Served,
                                         person: Callable[..., Person]) -> None:
    owner = person("owner")
    member = person("member", owner.tenant)
    t = owner.tenant.name
    sign_in(page, site, member)
    nav = page.locator("nav").aria_snapshot()
    assert "Chat" in nav and "Users" not in nav and "API tokens" not in nav
    assert "Secrets" not in nav and "Audit" not in nav
    for path in ("users", "tokens", "secrets", "audit", "connections"):
        response = page.goto(site.console(f"/t/{t}/{path}"))
        assert response is not None and response.status == 403, path
        assert "Not allowed" in page.content()
    page.goto(site.console(f"/t/{t}/policy"))
    assert page.get_by_label("Policy document (JSON)").get_attribute("readonly") is not None
    assert page.get_by_role("button", name="Check and show changes").count() == 0

    session = http_session(site, member)
    posts = {"tokens": {"name": "x", "scopes": "chat"},
             "users": {"email": "new@example.com", "password": "p" * 14, "role": "owner"},
             "secrets": {"name": "X", "value": "v"}, "secrets/MODEL_API_KEY/delete": {},
             "policy": {"document": "{}"}, "policy/preview": {"document": "{}"},
             "policy/form": {"preset": "lean"}, "policy/versions/1/restore": {},
             f"users/{uuid.uuid4()}/role": {"role": "owner"},
             f"users/{uuid.uuid4()}/reset-2fa": {},
             "runtime/start": {}, f"approvals/{uuid.uuid4()}/approve": {},
             "connections/someapp/revoke": {}, f"tokens/{uuid.uuid4()}/revoke": {}}
    for path, data in posts.items():
        r = session.post(f"/console/t/{t}/{path}", data)
        assert r.status_code == 403, (path, r.status_code)
    assert sorted(u.role for u in site_users(site, owner)) == ["member", "owner"]


def site_users(site: Served, who: Person) -> list[Any]:
    platform: Platform = site.app.state.platform
    return platform.identity.list_users(who.tenant.id)


def test_a_post_without_the_csrf_token_is_refused(site: Served, platform: Platform,
                                                  person: Callable[..., Person]) -> None:
    owner = person("owner")
    session = http_session(site, owner)
    url = f"/console/t/{owner.tenant.name}/secrets"
    for csrf in (None, "", "wrong-token"):
        r = session.post(url, {"name": "STOLEN", "value": "x"}, csrf=csrf)
        assert r.status_code == 403, csrf
        assert "CSRF" in r.text
    # A cross-site request is refused even with the right token.
    r = session.post(url, {"name": "STOLEN", "value": "x"},
                     headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403
    r = session.post(url, {"name": "STOLEN", "value": "x"},
                     headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    with platform.db.tenant(owner.tenant.id) as s:
        assert [i.name for i in platform.vault.list(s, owner.tenant.id)] == []
    # Sign-out needs it too (a forced sign-out is a state change); the session survives.
    assert session.post("/console/logout", csrf=None).status_code == 403
    assert session.client.get(f"/console/t/{owner.tenant.name}/overview").status_code == 200
    # And with it, the same request works (the test can fail).
    assert session.post(url, {"name": "REAL", "value": "x"}).status_code == 303


def test_every_response_carries_the_csp_and_no_inline_code(site: Served,
                                                           person: Callable[..., Person]) -> None:
    owner = person("owner")
    session = http_session(site, owner)
    assert "unsafe" not in CSP and "script-src 'self'" in CSP
    assert "frame-ancestors 'none'" in CSP
    urls = [fill(p, owner.tenant.name) for m, p in console_routes(site)
            if m == "GET" and "{" not in p.replace("{tenant}", "")]
    urls += ["/console/login", "/console/static/htmx.min.js", "/console/static/console.css",
             "/console/nowhere", f"/console/t/{owner.tenant.name}/audit?before=x"]
    anonymous = httpx.Client(base_url=site.url)
    for url in urls:
        for client in (session.client, anonymous):
            r = client.get(url)
            assert r.headers.get("content-security-policy") == CSP, url
            assert r.headers.get("x-frame-options") == "DENY", url
            assert r.headers.get("x-content-type-options") == "nosniff", url
            if r.headers.get("content-type", "").startswith("text/html"):
                assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), url  # inline script
                assert not re.search(r"\son[a-z]+=", r.text), url  # inline handlers
                assert " style=" not in r.text, url


def test_stored_xss_is_inert(page: Any, site: Served, platform: Platform,
                             quiet_agent: AgentParts, person: Callable[..., Person]) -> None:
    owner = person("owner")
    tenant = owner.tenant
    quiet_agent.settings.set_document(tenant.id, {
        "system_prompt": XSS, "flows": [{"name": "greet", "examples": [XSS], "steps": [XSS]}]},
        "test")
    with platform.db.tenant(tenant.id) as s:
        platform.audit.record(s, tenant.id, XSS[:200], "note.added", {"detail": XSS})
    message_id = quiet_agent.gateway.enqueue(tenant, "api", "someone", XSS)
    with platform.db.tenant(tenant.id) as s:
        quiet_agent.gateway.approvals.add(s, tenant, message_id, {
            "id": uuid.uuid4().hex, "tool": XSS[:100], "arguments": {"x": XSS},
            "expires_at": time.time() + 3600})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, site, owner)
    for path in ("policy", "audit", "approvals"):
        page.goto(site.console(f"/t/{tenant.name}/{path}"))
        assert page.evaluate("window.__xss") is None, path
        shown = (page.get_by_label("Policy document (JSON)").input_value() if path == "policy"
                 else page.locator("main").inner_text())
        assert "<script>window.__xss = 1</script>" in shown, path  # shown as text
    page.goto(site.console(f"/t/{tenant.name}/policy"))
    page.get_by_label("Policy document (JSON)").fill(
        '{"system_prompt": "' + XSS.replace('"', '\\"') + ' (edited)"}')
    page.get_by_role("button", name="Check and show changes").click()
    assert page.locator("#policy-diff").count() == 1
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_a_revoked_token_stops_working(page: Any, site: Served,
                                       person: Callable[..., Person]) -> None:
    owner = person("owner")
    sign_in(page, site, owner)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("ci deploy")
    page.get_by_label("tenant:read").check()
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New token").input_value()
    assert token.startswith("ospt")
    shot(page, "tokens")
    api = httpx.Client(base_url=site.url)
    me = api.get("/api/v1/auth/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["scopes"] == ["tenant:read"]

    page.get_by_role("button", name="Revoke token ci deploy").click()
    assert "revoked" in page.locator("table").inner_text()
    assert token not in page.content()  # shown once, never again
    assert api.get("/api/v1/auth/me",
                   headers={"authorization": f"Bearer {token}"}).status_code == 401


def test_a_token_cannot_carry_more_than_its_creator_has(site: Served,
                                                        person: Callable[..., Person]) -> None:
    owner = person("owner")
    admin = person("admin", owner.tenant)
    session = http_session(site, admin)
    r = session.post(f"/console/t/{owner.tenant.name}/tokens",
                     {"name": "too much", "scopes": ["tenant:write", "chat"]})
    assert r.status_code == 403
    assert "cannot carry scopes its creator does not have" in r.text
    r = session.post(f"/console/t/{owner.tenant.name}/users",
                     {"email": "boss@example.com", "password": "p" * 14, "role": "owner"})
    assert r.status_code == 403 and "only an owner can create another owner" in r.text


def test_the_audit_trail_shows_verified_then_broken(page: Any, site: Served,
                                                    person: Callable[..., Person],
                                                    superuser_sql: Callable[..., list]) -> None:
    owner = person("owner")
    sign_in(page, site, owner)
    page.get_by_role("link", name="Audit").click()
    status = page.locator("#chain-status").inner_text()
    assert "verified" in status and "broken" not in status
    assert "login.ok" in page.locator("table.audit").inner_text()
    shot(page, "audit")
    page.get_by_label("Kind").fill("login.ok")
    page.get_by_role("button", name="Filter").click()
    kinds = page.locator("table.audit tbody td:nth-child(4)").all_inner_texts()
    assert kinds and set(kinds) == {"login.ok"}

    superuser_sql("ALTER TABLE audit_events DISABLE TRIGGER USER; "
                  f"UPDATE audit_events SET actor = 'someone else' WHERE tenant_id = "
                  f"'{owner.tenant.id}' AND seq = 2; "
                  "ALTER TABLE audit_events ENABLE TRIGGER USER")
    page.reload()
    assert "broken at seq 2" in page.locator("#chain-status").inner_text()


@pytest.mark.parametrize("path", ["overview", "chat", "approvals", "policy", "audit",
                                  "secrets", "tokens", "users", "connections"])
def test_every_form_control_has_a_label(page: Any, site: Served,
                                        person: Callable[..., Person], path: str) -> None:
    owner = person("owner")
    sign_in(page, site, owner)
    page.goto(site.console(f"/t/{owner.tenant.name}/{path}"))
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea, button')].filter(el =>
        !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
        !(el.tagName === 'BUTTON' && el.textContent.trim())).map(el => el.outerHTML)""")
    assert unlabelled == []


def test_the_console_works_with_the_keyboard(page: Any, site: Served,
                                             person: Callable[..., Person]) -> None:
    owner = person("owner")
    page.goto(site.console("/login"))
    for _ in range(5):  # from the top of the page to the first field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "tenant":
            break
    page.keyboard.type(owner.tenant.name)
    page.keyboard.press("Tab")
    page.keyboard.type(owner.email)
    page.keyboard.press("Tab")
    page.keyboard.type(owner.password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/overview$"))
    snapshot = page.locator("body").aria_snapshot()
    for name in ("Overview", "Chat", "Approvals", "Policy", "Audit", "API tokens", "Users"):
        assert f'link "{name}"' in snapshot
    assert 'button "Sign out"' in snapshot
    page.get_by_role("link", name="Audit").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/audit$"))
