"""Tenant pages without a running agent: chat says why it failed (in place, through htmx),
the overview says the engine is missing, secrets are write-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from osp.platform import Platform
from tests.console.conftest import Person, Served, sign_in


def test_chat_shows_a_delivery_failure_in_place(page: Any, site: Served,
                                                person: Callable[..., Person]) -> None:
    owner = person("owner")
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text))
    sign_in(page, site, owner)
    page.get_by_role("link", name="Chat").click()
    page.get_by_label("Message").fill("hello <b>there</b>")
    page.get_by_role("button", name="Send").click()
    turn = page.locator("#transcript .turn")
    try:
        turn.wait_for()
    except Exception:
        print("LOGS", logs, page.url, page.content()[-1500:])
        raise
    assert logs == []  # no CSP violation, no script error
    assert page.url.endswith("/chat")  # appended in place by htmx, no navigation
    assert "You: hello <b>there</b>" in turn.inner_text()
    assert "the agent is not running" in turn.inner_text()
    assert page.get_by_label("Message").input_value() == ""  # ready for the next message
    assert page.locator("textarea").count() == 1


def test_secret_values_are_write_only(page: Any, site: Served, platform: Platform,
                                      person: Callable[..., Person]) -> None:
    owner = person("owner")
    sign_in(page, site, owner)
    page.get_by_role("link", name="Secrets").click()
    for value in ("first-value-4411", "second-value-9922"):
        page.get_by_label("Name", exact=True).fill("SLACK_BOT_TOKEN")
        page.get_by_label("Value (a new version if the name exists)").fill(value)
        page.get_by_role("button", name="Save secret").click()
        assert value not in page.content()
    row = page.locator("table tbody tr").first.inner_text()
    assert "SLACK_BOT_TOKEN" in row and "\t2\t2\t" in row  # version 2, two kept
    page.get_by_label("Name", exact=True).fill("bad name!")
    page.get_by_label("Value (a new version if the name exists)").fill("third-value-7733")
    page.get_by_role("button", name="Save secret").click()
    assert "secret name must be" in page.content()
    assert "third-value-7733" not in page.content()
    page.goto(page.url.replace("/secrets", "/overview"))
    assert "SLACK_BOT_TOKEN" in page.locator("#secret-names").inner_text()
    assert "no container engine" in page.content()
    page.goto(page.url.replace("/overview", "/secrets"))
    page.get_by_role("button", name="Delete secret SLACK_BOT_TOKEN").click()
    assert "No secrets yet." in page.content()
    with platform.db.tenant(owner.tenant.id) as s:
        assert platform.vault.list(s, owner.tenant.id) == []
