"""Role changes and 2FA resets in the console (owners only, as the CLI's operator), and
each person's own chat history (a member never sees another person's messages)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pyotp

from osp.app.agent import AgentParts
from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.platform import Platform
from tests.console.conftest import Person, Served, http_session, shot, sign_in


def _enrolled(platform: Platform, who: Person) -> Person:
    """``who`` with TOTP on (through the identity service, as the enrolment page does)."""
    user = next(u for u in platform.identity.list_users(who.tenant.id) if u.email == who.email)
    principal = Principal(who.tenant.id, user.id, who.role, "session",
                          scopes=ROLE_SCOPES[who.role])
    _, seed = platform.identity.enrol_totp(principal)
    platform.identity.confirm_totp(principal, pyotp.TOTP(seed).now())
    who.seed = seed
    return who


def _user(platform: Platform, who: Person) -> Any:
    return next(u for u in platform.identity.list_users(who.tenant.id) if u.email == who.email)


def test_an_owner_changes_a_role_and_resets_two_factor(page: Any, site: Served,
                                                       platform: Platform,
                                                       person: Callable[..., Person]) -> None:
    owner = person("owner")
    member = _enrolled(platform, person("member", owner.tenant))
    member_session = http_session(site, member)  # signed in (password stage)
    sign_in(page, site, owner)
    page.get_by_role("link", name="Users").click()
    page.get_by_label(f"Role for {member.email}").select_option("admin")
    page.get_by_role("button", name=f"Change role of {member.email}").click()
    assert _user(platform, member).role == "admin"
    page.get_by_role("button", name=f"Reset two-factor of {member.email}").click()
    assert _user(platform, member).totp_enabled is False
    shot(page, "users")
    # The reset ended the person's sessions.
    r = member_session.client.get("/console/login/second-factor")
    assert r.status_code == 303 and "expired" in r.headers["location"]
    with platform.db.tenant(owner.tenant.id) as s:
        kinds = [e.kind for e in platform.audit.find(s, owner.tenant.id, kind="user.")]
    assert "user.role_changed" in kinds and "user.2fa_reset" in kinds
    # The last owner cannot demote themselves: a reason, nothing changed.
    page.get_by_label(f"Role for {owner.email}").select_option("member")
    page.get_by_role("button", name=f"Change role of {owner.email}").click()
    assert "is the last owner" in page.locator("p.error").inner_text()
    assert _user(platform, owner).role == "owner"


def test_only_an_owner_may_change_roles_or_reset_two_factor(page: Any, site: Served,
                                                            platform: Platform,
                                                            person: Callable[..., Person]
                                                            ) -> None:
    owner = person("owner")
    admin = person("admin", owner.tenant)
    _enrolled(platform, owner)
    sign_in(page, site, admin)
    page.get_by_role("link", name="Users").click()
    assert page.get_by_role("button", name="Change role", exact=False).count() == 0
    session = http_session(site, admin)
    target = _user(platform, owner).id
    me = _user(platform, admin).id
    t = owner.tenant.name
    for path, data in ((f"users/{me}/role", {"role": "owner"}),
                       (f"users/{target}/role", {"role": "member"}),
                       (f"users/{target}/reset-2fa", {})):
        assert session.post(f"/console/t/{t}/{path}", data).status_code == 403, path
    assert _user(platform, admin).role == "admin"
    assert _user(platform, owner).role == "owner" and _user(platform, owner).totp_enabled
    owner_session = http_session(site, person("owner", owner.tenant))
    assert owner_session.post(f"/console/t/{t}/users/{target}/reset-2fa",
                              csrf=None).status_code == 403  # CSRF still required
    assert owner_session.post(f"/console/t/{t}/users/{uuid.uuid4()}/reset-2fa"
                              ).status_code == 404


def test_chat_history_shows_only_ones_own_messages(page: Any, site: Served,
                                                   quiet_agent: AgentParts, platform: Platform,
                                                   person: Callable[..., Person]) -> None:
    owner = person("owner")
    alice, bob = person("member", owner.tenant), person("member", owner.tenant)
    gateway = quiet_agent.gateway
    gateway.enqueue(owner.tenant, "api", str(_user(platform, alice).id), "alice asks <b>x</b>")
    gateway.enqueue(owner.tenant, "api", str(_user(platform, bob).id), "bob's secret plan")
    gateway.enqueue(owner.tenant, "api", str(_user(platform, owner).id), "owner's question")
    sign_in(page, site, alice)
    page.get_by_role("link", name="Chat").click()
    history = page.locator("#chat-history").inner_text()
    assert "You: alice asks <b>x</b>" in history
    assert "bob's secret plan" not in page.content() and "owner's question" not in history
    page.context.clear_cookies()
    sign_in(page, site, owner)  # an owner's history is theirs alone too
    page.get_by_role("link", name="Chat").click()
    history = page.locator("#chat-history").inner_text()
    assert "owner's question" in history and "alice asks" not in history
