"""Starting a connected app from the console, in the browser, against the real OpenID
provider (tests/servers): the flow is bound to the browser that started it, the callback
lands on the console, and the connection then shows on the Connected apps page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from tests.console.conftest import Person, Served, http_session, shot, sign_in
from tests.oidc import OidcServer, follow, running_oidc


@pytest.fixture(scope="module")
def console_idp(site: Served, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[OidcServer]:
    """A provider whose registered redirect URI is the console's callback."""
    with running_oidc(tmp_path_factory.mktemp("oidc-console"),
                      redirect_uri=site.console("/oauth/callback")) as server:
        yield server


@pytest.fixture
def idp_owner(platform: Platform, person: Callable[..., Person],
              console_idp: OidcServer) -> Person:
    owner = person("owner")
    broker = OAuthBroker(platform.db, platform.vault, platform.audit, allow_loopback=True)
    try:
        broker.add_provider(owner.tenant.id, "idp", issuer=console_idp.issuer,
                            client_id=console_idp.client_id,
                            client_secret=console_idp.client_secret,
                            redirect_uri=console_idp.redirect_uri, actor="test")
    finally:
        broker.close()
    return owner


def test_an_owner_connects_an_app_in_the_browser(page: Any, site: Served, platform: Platform,
                                                 idp_owner: Person) -> None:
    sign_in(page, site, idp_owner)
    page.get_by_role("link", name="Connected apps").click()
    page.get_by_label("Provider").select_option("idp")
    page.get_by_label("Scopes to request (space-separated)").fill("openid email")
    page.get_by_role("button", name="Start connection").click()
    page.get_by_role("link", name="Continue to idp").click()  # the provider, then back
    page.locator("#connect-result").wait_for()
    assert "idp is connected (active)" in page.locator("#connect-result").inner_text()
    page.goto(site.console(f"/t/{idp_owner.tenant.name}/connections"))
    row = page.locator("table tbody tr", has_text="idp").inner_text()
    assert "active" in row and "openid" in row
    shot(page, "connections")
    with platform.db.tenant(idp_owner.tenant.id) as s:
        kinds = [e.kind for e in platform.audit.find(s, idp_owner.tenant.id, kind="oauth.")]
    assert "oauth.connect_started" in kinds and "oauth.connected" in kinds


def test_a_callback_in_another_browser_does_not_connect(site: Served, platform: Platform,
                                                        idp_owner: Person) -> None:
    """The attacker's lure: the victim's browser follows a callback URL it did not start.
    Without the binding cookie of the browser that started it, nothing is connected."""
    session = http_session(site, idp_owner)
    r = session.post(f"/console/t/{idp_owner.tenant.name}/connections/start",
                     {"provider": "idp", "scopes": "openid"})
    assert r.status_code == 200 and "osp_oauth_binding" in r.headers.get("set-cookie", "")
    url = r.text.split('id="authorize" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    callback = follow(url, redirect_uri=site.console("/oauth/callback"))
    other = httpx.get(callback, timeout=30)  # no binding cookie
    assert other.status_code == 400, other.status_code
    assert "this browser did not start the connection" in other.text
    broker = OAuthBroker(platform.db, platform.vault, platform.audit, allow_loopback=True)
    try:
        assert broker.list_connections(idp_owner.tenant.id) == []
    finally:
        broker.close()


def test_starting_a_connection_needs_the_scope_and_the_csrf_token(site: Served,
                                                                   person: Callable[..., Person],
                                                                   idp_owner: Person) -> None:
    member = person("member", idp_owner.tenant)
    url = f"/console/t/{idp_owner.tenant.name}/connections/start"
    assert http_session(site, member).post(url, {"provider": "idp"}).status_code == 403
    owner = http_session(site, idp_owner)
    assert owner.post(url, {"provider": "idp"}, csrf=None).status_code == 403
    assert owner.post(url, {"provider": "nope"}).status_code == 404
