"""The policy editor: JSON and form edit the same document under the same check, every save
is a version (author, time, note), versions compare and restore (a new version, audited),
and tenant text in a label or a note stays text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from osp.app.agent import AgentParts
from osp.platform import Platform
from tests.console.conftest import Person, Served, http_session, shot, sign_in
from tests.console.test_security import XSS


def _save_json(page: Any, document: str, note: str) -> None:
    page.get_by_label("Policy document (JSON)").fill(document)
    page.get_by_label("Note for this version (optional)").fill(note)
    page.get_by_role("button", name="Check and show changes").click()
    page.get_by_role("button", name="Save this version").click()


def test_versions_are_kept_compared_and_restored(page: Any, site: Served, platform: Platform,
                                                 quiet_agent: AgentParts,
                                                 person: Callable[..., Person]) -> None:
    owner = person("owner")
    settings = quiet_agent.settings
    sign_in(page, site, owner)
    page.get_by_role("link", name="Policy").click()
    assert "No version saved yet" in page.content()
    _save_json(page, '{"system_prompt": "first"}', "start")
    _save_json(page, '{"system_prompt": "second", "history_turns": 4}', "shorter memory")

    # The form edits the same document: put a tool behind approval.
    page.get_by_role("link", name="Form").click()
    assert page.get_by_label("History turns").input_value() == "4"
    page.get_by_label("Tools the agent may call (comma-separated)").fill("http_get")
    page.get_by_label("Tools that need a human approval (comma-separated, among the allowed)"
                      ).fill("http_get")
    page.get_by_label("Note for this version (optional)").fill("approve fetches")
    page.get_by_role("button", name="Check and show changes").click()
    diff = page.locator("#policy-diff").inner_text()
    assert '"approval_required": [' in diff and "+" in diff
    page.get_by_role("button", name="Save this version").click()
    policy = settings.get(owner.tenant.id).governance_policy()
    assert policy.tools.approval_required == ["http_get"]
    assert settings.get(owner.tenant.id).history_turns == 4  # the rest kept

    rows = page.locator("#policy-versions tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == ["3 (current)", "2", "1"]
    assert owner.email in rows[0] and "approve fetches" in rows[0]
    assert "shorter memory" in rows[1] and "start" in rows[2]
    shot(page, "policy-versions")

    page.get_by_role("link", name="Compare with current").last.click()  # version 1
    compared = page.locator("#version-diff").inner_text()
    assert '-  "system_prompt": "first"' in compared
    assert '+  "system_prompt": "second"' in compared
    page.get_by_role("button", name="Restore version 1").click()
    assert settings.get(owner.tenant.id).system_prompt == "first"
    versions = settings.versions(owner.tenant.id)
    assert [v.version for v in versions] == [4, 3, 2, 1]
    assert versions[0].restored_from == 1 and versions[0].note == "restored from version 1"
    with platform.db.tenant(owner.tenant.id) as s:
        restored = platform.audit.find(s, owner.tenant.id, kind="agent.config_restored")
    assert restored and restored[0].details["restored_from"] == 1
    assert restored[0].details["version"] == 4


def test_the_form_is_held_to_the_same_check_as_the_json(page: Any, site: Served,
                                                        quiet_agent: AgentParts,
                                                        person: Callable[..., Person]) -> None:
    owner = person("owner")
    sign_in(page, site, owner)
    page.goto(site.console(f"/t/{owner.tenant.name}/policy?mode=form"))
    page.get_by_label("Tools that need a human approval (comma-separated, among the allowed)"
                      ).fill("http_get")
    page.get_by_role("button", name="Check and show changes").click()
    form_error = page.locator("p.error").inner_text()
    assert "approval_required tool(s) not in allowed" in form_error
    page.goto(site.console(f"/t/{owner.tenant.name}/policy"))
    page.get_by_label("Policy document (JSON)").fill(
        '{"policy": {"tools": {"approval_required": ["http_get"]}}}')
    page.get_by_role("button", name="Check and show changes").click()
    assert "approval_required tool(s) not in allowed" in page.locator("p.error").inner_text()
    page.goto(site.console(f"/t/{owner.tenant.name}/policy?mode=form"))
    page.get_by_label("History turns").fill("many")
    page.get_by_role("button", name="Check and show changes").click()
    assert "History turns must be a whole number" in page.locator("p.error").inner_text()
    assert quiet_agent.settings.versions(owner.tenant.id) == []  # nothing saved


def test_a_label_or_note_with_markup_stays_text(page: Any, site: Served,
                                                quiet_agent: AgentParts,
                                                person: Callable[..., Person]) -> None:
    owner = person("owner")
    quiet_agent.settings.set_document(owner.tenant.id, {"policy": {"version": XSS}}, "test",
                                      note=XSS[:200])
    quiet_agent.settings.set_document(owner.tenant.id, {}, "test", note="plain")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, site, owner)
    t = owner.tenant.name
    for path in ("policy", "policy?mode=form", "policy/versions?a=1"):
        page.goto(site.console(f"/t/{t}/{path}"))
        assert page.evaluate("window.__xss") is None, path
    page.goto(site.console(f"/t/{t}/policy"))
    assert "<script>window.__xss = 1</script>" in page.locator("#policy-versions").inner_text()
    page.goto(site.console(f"/t/{t}/policy/versions?a=1"))
    assert "<script>window.__xss = 1</script>" in page.locator("main").inner_text()
    assert dialogs == []


def test_restore_needs_the_editing_scopes_and_the_csrf_token(site: Served,
                                                             quiet_agent: AgentParts,
                                                             person: Callable[..., Person]
                                                             ) -> None:
    owner = person("owner")
    member = person("member", owner.tenant)
    quiet_agent.settings.set_document(owner.tenant.id, {"system_prompt": "one"}, "test")
    quiet_agent.settings.set_document(owner.tenant.id, {"system_prompt": "two"}, "test")
    url = f"/console/t/{owner.tenant.name}/policy/versions/1/restore"
    assert http_session(site, member).post(url).status_code == 403
    session = http_session(site, owner)
    assert session.post(url, csrf=None).status_code == 403
    assert session.post(url, csrf="wrong").status_code == 403
    assert len(quiet_agent.settings.versions(owner.tenant.id)) == 2
    assert session.post(url).status_code == 303
    assert quiet_agent.settings.get(owner.tenant.id).system_prompt == "one"
    assert session.post(url.replace("/1/", "/99/")).status_code == 404
