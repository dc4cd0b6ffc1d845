"""Execution rails in the container: deny-by-default allow-list, approval-gated calls that wait
for a person and run only after a yes (never after a no or after expiry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from osp.errors import Conflict
from osp.tenancy.service import TenantInfo
from tests.agent.conftest import Stack
from tests.agent.scripted import call, say, unfenced

pytestmark = pytest.mark.podman

LiveTenant = Callable[..., TenantInfo]
GATED = {"policy": {"preset": "lean", "tools": {
    "allowed": ["memory_write", "memory_read"], "approval_required": ["memory_write"],
    "arguments": {"memory_write": {"name": {"type": "string", "required": True},
                                   "content": {"type": "string", "max_length": 500}}}}}}


def note_exists(stack: Stack, tenant: TenantInfo, name: str) -> bool:
    # Notes are kept per channel user: /data/memory/notes/<hash of channel:user>/<name>.md
    probe = stack.backend.exec(tenant.name, ["find", "/data/memory/notes", "-name",
                                             f"{name}.md"])
    return probe.returncode == 0 and f"/{name}.md" in probe.stdout


def tool_results(stack: Stack, index: int) -> list[str]:
    return [unfenced(m["content"]) for m in stack.model.seen[index].body["messages"]
            if m["role"] == "tool"]


def test_a_tool_not_on_the_allow_list_is_refused(stack: Stack,
                                                 live_tenant: LiveTenant) -> None:
    tenant = live_tenant()
    token = stack.token(tenant)
    stack.configure(tenant, policy={"preset": "lean", "tools": {"allowed": ["memory_read"]}})
    stack.model.reset(call("memory_write", name="stolen", content="x"), say("done"))

    r = stack.chat(tenant, token, "please save a note")

    assert r.status_code == 200, r.text
    offered = [t["function"]["name"] for t in stack.model.seen[0].body["tools"]]
    assert offered == ["memory_read"]  # only allowed tools are offered ...
    assert tool_results(stack, 1) == ["Tool call refused by policy (tool_not_allowed)."]
    assert not note_exists(stack, tenant, "stolen")  # ... and others are refused when called
    execution = [d for d in stack.decisions(tenant) if d["rail"] == "execution.tools"]
    assert execution[-1]["action"] == "reject"
    assert execution[-1]["reason"] == "tool_not_allowed"


def test_arguments_are_validated_before_execution(stack: Stack,
                                                 live_tenant: LiveTenant) -> None:
    tenant = live_tenant()
    token = stack.token(tenant)
    stack.configure(tenant, policy={"preset": "lean", "tools": {
        "allowed": ["memory_write"],
        "arguments": {"memory_write": {"name": {"type": "string", "pattern": "public-.*"},
                                       "content": {"type": "string", "max_length": 50}}}}})
    stack.model.reset(call("memory_write", name="secret-plans", content="x"),
                      call("memory_write", call_id="call_2", name="public-1", content="hello"),
                      say("ok"))

    assert stack.chat(tenant, token, "save two notes").status_code == 200

    assert tool_results(stack, 1) == ["Tool call refused by policy (invalid_arguments)."]
    assert not note_exists(stack, tenant, "secret-plans")
    assert note_exists(stack, tenant, "public-1")


def _pause(stack: Stack, tenant: TenantInfo, token: str, name: str) -> dict[str, Any]:
    stack.configure(tenant, **GATED)
    stack.model.reset(call("memory_write", name=name, content="ship it on Friday"),
                      say("Saved the plan."))
    r = stack.chat(tenant, token, "remember the release plan")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "awaiting_approval"
    assert body["approval"]["tool"] == "memory_write"
    assert not note_exists(stack, tenant, name)  # waits: nothing ran yet
    assert len(stack.model.seen) == 1
    return body


def test_an_approval_gated_tool_runs_after_approval(stack: Stack,
                                                    live_tenant: LiveTenant) -> None:
    tenant = live_tenant()
    token = stack.token(tenant)
    body = _pause(stack, tenant, token, "plan")
    pending = stack.agent.approvals.list(tenant)
    assert [str(a.id.hex) for a in pending] == [body["approval"]["id"]]

    member = stack.token(tenant, ["chat", "tenant:read"])
    url = f"/api/v1/tenants/{tenant.name}/approvals/{pending[0].id}/approve"
    refused = stack.client.post(url, headers={"Authorization": f"Bearer {member}"})
    assert refused.status_code == 403  # deciding needs approvals:write
    assert not note_exists(stack, tenant, "plan")

    r = stack.client.post(url, headers={"Authorization": f"Bearer {token}"})

    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "answered"
    assert result["reply"] == "Saved the plan."
    assert note_exists(stack, tenant, "plan")
    assert tool_results(stack, 1) == ["saved note 'plan'"]
    assert stack.agent.approvals.list(tenant, "approved")[0].decided_by.startswith("token:")
    shown = stack.client.get(f"/api/v1/tenants/{tenant.name}/messages/{body['message_id']}",
                             headers={"Authorization": f"Bearer {token}"}).json()
    assert shown["status"] == "answered" and shown["reply"] == "Saved the plan."
    kinds = [k for k, _d in stack.audit(tenant)]
    assert kinds.index("approval.requested") < kinds.index("approval.approved")
    with pytest.raises(Conflict):  # a decision is final
        stack.agent.approvals.decide(tenant, pending[0].id, False, "user:approver")


def test_an_approval_gated_tool_does_not_run_after_denial(stack: Stack,
                                                          live_tenant: LiveTenant) -> None:
    tenant = live_tenant()
    token = stack.token(tenant)
    _pause(stack, tenant, token, "denied-plan")
    approval = stack.agent.approvals.list(tenant)[0]

    result = stack.agent.approvals.decide(tenant, approval.id, False, "user:approver")

    assert "not approved" in (result.reply or "")
    assert not note_exists(stack, tenant, "denied-plan")
    assert len(stack.model.seen) == 1  # the model is not asked to carry on


def test_an_approval_gated_tool_does_not_run_after_expiry(stack: Stack,
                                                          live_tenant: LiveTenant) -> None:
    tenant = live_tenant()
    token = stack.token(tenant)
    _pause(stack, tenant, token, "late-plan")
    approval = stack.agent.approvals.list(tenant)[0]
    with stack.platform.db.tenant(tenant.id) as s:
        s.execute(text("UPDATE approvals SET created_at = now() - interval '2 hours', "
                       "expires_at = now() - interval '1 hour' WHERE id = :id"),
                  {"id": approval.id})

    with pytest.raises(Conflict, match="expired"):
        stack.agent.approvals.decide(tenant, approval.id, True, "user:approver")

    assert not note_exists(stack, tenant, "late-plan")
    assert stack.agent.approvals.list(tenant, "expired")[0].id == approval.id
    message = stack.agent.gateway.get(tenant, approval.message_id)
    assert "expired" in (message.reply or "")
