"""End to end with a real agent container and the scripted model: a new owner signs in,
puts a tool behind approval in the policy editor, chats, sees the rails' decisions and the
approval appear, approves it, and sees the result. The agent's reply carries a stored XSS
attempt, rendered inert."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from osp.oauth.service import OAuthBroker
from osp.tenancy.service import TenantInfo
from tests.agent.conftest import Stack
from tests.agent.scripted import call, say
from tests.agent.test_tools_and_approvals import GATED
from tests.console.conftest import PASSWORD, Person, Served, console_app, serve, shot, sign_in

pytestmark = pytest.mark.podman
XSS = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">'


def note_exists(stack: Stack, tenant: TenantInfo, name: str) -> bool:
    """The note in the agent's volume, whichever person's notes it went to."""
    probe = stack.backend.exec(tenant.name, ["sh", "-c",
                                             f"ls /data/memory/notes/*/{name}.md"])
    return probe.returncode == 0


@pytest.fixture(scope="module")
def live_site(stack: Stack) -> Iterator[Served]:
    broker = OAuthBroker(stack.platform.db, stack.platform.vault, stack.platform.audit)
    yield from serve(console_app(stack.platform, stack.agent, stack.runtime.service, broker))
    broker.close()


def test_owner_gates_a_tool_chats_and_approves_in_the_browser(
        page: Any, live_site: Served, stack: Stack,
        live_tenant: Callable[..., TenantInfo]) -> None:
    tenant = live_tenant()
    email = f"owner-{uuid.uuid4().hex[:6]}@example.com"
    stack.platform.identity.create_user(tenant, email, PASSWORD, "owner", "test")
    owner = Person(tenant, email, "owner")
    sign_in(page, live_site, owner)
    assert page.locator("#agent-state").inner_text() == "running"
    shot(page, "overview")

    page.get_by_role("link", name="Policy").click()
    page.get_by_label("Policy document (JSON)").fill(json.dumps(GATED, indent=2))
    page.get_by_role("button", name="Check and show changes").click()
    diff = page.locator("#policy-diff").inner_text()
    assert any(line.startswith("+") and '"approval_required"' in line
               for line in diff.splitlines())
    shot(page, "policy")
    page.get_by_role("button", name="Save this version").click()
    assert stack.agent.settings.get(tenant.id).governance_policy().tools.approval_required

    stack.model.reset(call("memory_write", name="plan", content="ship it on Friday"),
                      say("Saved the plan. " + XSS))
    page.get_by_role("link", name="Chat").click()
    page.get_by_label("Message").fill("remember the release plan")
    page.get_by_role("button", name="Send").click()  # htmx: the turn is appended in place
    turn = page.locator("#transcript .turn")
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text))
    try:
        turn.wait_for(timeout=120_000)  # a real agent turn (model call, rails) takes a while
    except Exception:
        print("LOGS", logs, page.content()[-2000:])
        raise
    assert page.url.endswith("/chat")
    assert "wants to run memory_write" in turn.inner_text()
    rails = turn.locator("details.rails table").inner_text()
    assert "execution.tools" in rails and "pause" in rails  # the rail that paused it
    shot(page, "chat")
    assert not note_exists(stack, tenant, "plan")

    turn.get_by_role("link", name="Approvals").click()
    row = page.locator("table").first
    assert "memory_write" in row.inner_text() and "ship it on Friday" in row.inner_text()
    shot(page, "approvals")
    page.get_by_role("button", name="Approve memory_write call").click()
    page.wait_for_selector("#decision-outcome", timeout=120_000)
    outcome = page.locator("#decision-outcome")
    assert "Saved the plan." in outcome.inner_text()
    assert "<script>window.__xss = 1</script>" in outcome.inner_text()  # text, not markup
    assert page.evaluate("window.__xss") is None
    assert note_exists(stack, tenant, "plan"), (outcome.inner_text(), stack.audit(tenant)[-6:])
    assert page.locator("#no-pending").count() == 1
    decided = stack.agent.approvals.list(tenant, "approved")
    assert decided[0].decided_by.startswith("session:")

    page.get_by_role("link", name="Audit").click()
    kinds = page.locator("table.audit").inner_text()
    assert "approval.approved" in kinds and "agent.config_set" in kinds
    assert re.search(r"verified", page.locator("#chain-status").inner_text())
