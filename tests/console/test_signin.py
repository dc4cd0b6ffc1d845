"""Sign-in in a real browser: password, TOTP enrolment with a QR code drawn locally,
recovery codes shown once, sign-out, sign-in with a code or a recovery code, throttling."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from osp.platform import Platform
from tests.console.conftest import Person, Served, shot, sign_in


def test_owner_enrols_totp_signs_out_and_signs_in_with_a_code(
        page: Any, site: Served, person: Callable[..., Person]) -> None:
    owner = person("owner")
    page.goto(site.console("/login"))
    shot(page, "login")
    sign_in(page, site, owner)
    assert page.url.endswith(f"/console/t/{owner.tenant.name}/overview")

    page.get_by_role("link", name="Two-factor").click()
    page.get_by_role("button", name="Set up authenticator app").click()
    qr = page.locator("figure.qr svg")
    assert qr.count() == 1  # drawn by the server, inline: no image service sees the seed
    owner.seed = page.locator("#totp-secret").inner_text().strip()
    shot(page, "enrol")
    page.get_by_label("Code shown by the app").fill(owner.code())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    # Shown once: the page is not cacheable, and the codes appear on no other page.
    page.get_by_role("link", name="Continue to the console").click()
    assert not any(c in page.content() for c in codes)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/console/login\?signed_out=1$"))
    assert "You are signed out." in page.content()
    page.goto(site.console(f"/t/{owner.tenant.name}/overview"))
    assert page.url.endswith("/console/login")  # the old session is gone

    sign_in(page, site, owner)
    assert page.url.endswith("/console/login/second-factor")
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Verify").click()
    assert "invalid or already used code" in page.content()
    # The enrolment used this step's code; the next step's is the first one not replayed.
    page.get_by_label("Code from your authenticator app").fill(owner.code(ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(rf".*/console/t/{owner.tenant.name}/overview$"))

    # A recovery code works once.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, site, owner)
    page.get_by_text("Use a recovery code instead").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Use recovery code").click()
    page.wait_for_url(re.compile(r".*/overview$"))
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, site, owner)
    page.get_by_text("Use a recovery code instead").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Use recovery code").click()
    assert "invalid or already used code" in page.content()


def test_wrong_password_then_throttling_message(page: Any, site: Served,
                                                person: Callable[..., Person]) -> None:
    owner = person("owner")
    owner.password = "not the password at all"
    for _ in range(5):
        sign_in_attempt = page.goto(site.console("/login"))
        assert sign_in_attempt is not None
        page.get_by_label("Tenant").fill(owner.tenant.name)
        page.get_by_label("Email").fill(owner.email)
        page.get_by_label("Password").fill(owner.password)
        page.get_by_role("button", name="Sign in").click()
        assert "invalid credentials" in page.content()
    page.get_by_label("Password").fill("still not the password")
    page.get_by_role("button", name="Sign in").click()
    assert "too many failed logins; try again later" in page.content()


def test_an_expired_session_is_sent_to_sign_in_with_a_message(
        page: Any, site: Served, person: Callable[..., Person], platform: Platform,
        superuser_sql: Callable[..., list]) -> None:
    owner = person("owner")
    sign_in(page, site, owner)
    superuser_sql(f"UPDATE sessions SET expires_at = now() - interval '1 second' "
                  f"WHERE tenant_id = '{owner.tenant.id}'")
    page.goto(site.console(f"/t/{owner.tenant.name}/overview"))
    assert page.url.endswith("/console/login?expired=1")
    assert "Your session expired or was signed out." in page.content()


def test_a_tenant_that_requires_2fa_sends_a_new_user_to_enrolment(
        page: Any, site: Served, person: Callable[..., Person],
        make_tenant: Callable[..., Any]) -> None:
    owner = person("owner", make_tenant("req", require_2fa=True))
    sign_in(page, site, owner)
    assert page.url.endswith("/console/enrol")
    page.goto(site.console(f"/t/{owner.tenant.name}/overview"))
    assert page.url.endswith("/console/enrol")  # nothing else until a factor is enrolled
