"""The gateway on the control plane: authorisation, validation, persistence before delivery,
visible failure when the agent is not there, settings validation, audit grouping."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from osp.app.agent import AgentParts, build_agent
from osp.errors import Unauthorized
from osp.gateway.demo import create_demo
from osp.gateway.service import DeliveryFailed, GatewayOptions, audit_details
from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.gateway.fixtures import ScriptedAgent


def token_for(platform: Platform, tenant: TenantInfo, scopes: list[str],
              role: str = "owner") -> str:
    user_id = platform.identity.create_user(tenant, f"u-{uuid.uuid4().hex[:6]}@example.com",
                                            "correct horse battery 9", role, "test")
    owner = Principal(tenant.id, user_id, role, "session", scopes=ROLE_SCOPES[role])
    return platform.identity.create_token(owner, "t", scopes, None)[1]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_chat_needs_the_chat_scope_and_the_callers_own_tenant(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant, other = make_tenant(), make_tenant()
    reader = token_for(platform, tenant, ["tenant:read"])
    chatter = token_for(platform, other, ["chat"], role="member")
    url = f"/api/v1/tenants/{tenant.name}/messages"

    assert client.post(url, json={"text": "hi"}).status_code == 401
    assert client.post(url, json={"text": "hi"}, headers=auth(reader)).json() == \
        {"error": "missing scope chat"}
    assert client.post(url, json={"text": "hi"}, headers=auth(chatter)).status_code == 404
    empty = client.post(f"/api/v1/tenants/{other.name}/messages", json={"text": ""},
                        headers=auth(chatter))
    assert empty.status_code == 422 and "text" in empty.json()["error"]


def test_a_message_is_persisted_and_fails_visibly_without_an_agent(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    token = token_for(platform, tenant, ["chat"], role="member")

    r = client.post(f"/api/v1/tenants/{tenant.name}/messages", json={"text": "anyone there?"},
                    headers=auth(token))

    assert r.status_code == 503
    error = r.json()["error"]
    assert error.startswith("message ") and "the agent is not running" in error
    message_id = error.split()[1]
    shown = client.get(f"/api/v1/tenants/{tenant.name}/messages/{message_id}",
                       headers=auth(token)).json()
    assert shown["status"] == "failed" and shown["reply"] is None
    with platform.db.tenant(tenant.id) as s:
        kinds = [e.kind for e in platform.audit.list(s, tenant.id)]
    assert "agent.message_failed" in kinds


class _RailsThatMustNotRun:
    def runs(self, policy: object, stage: object) -> bool:
        return True

    def check(self, *args: object) -> object:
        raise AssertionError("a message for a stopped agent reached the rails")


def test_a_stopped_agent_fails_the_message_before_any_rail_in_one_record(
        platform: Platform, parts: AgentParts, make_tenant: Callable[..., TenantInfo]) -> None:
    """A member flooding a stopped agent must cost little: no rail runs, the message is stored
    already failed (never 'delivering'), with exactly one audit event."""
    tenant = make_tenant()
    parts.gateway.rails = _RailsThatMustNotRun()  # type: ignore[assignment]

    with pytest.raises(DeliveryFailed, match="the agent is not running"):
        parts.gateway.send(tenant, "api", "flooder", "are you there?")

    with platform.db.tenant(tenant.id) as s:
        kinds = [e.kind for e in platform.audit.list(s, tenant.id)]
    assert kinds.count("agent.message_failed") == 1
    (listed,) = parts.gateway.recent(tenant, ("api", "flooder"), 5)
    shown = parts.gateway.get(tenant, uuid.UUID(listed["message_id"]), ("api", "flooder"))
    assert shown.status == "failed" and "not running" in str(shown.error)


class _StoppedAfterTheCheck:
    """Running when ``send`` reads the desired state, stopped (no container) right after."""

    def __init__(self) -> None:
        self.reads = 0
        self.locates = 0

    def locate(self, tenant: str) -> None:
        self.locates += 1
        return None

    def forget(self, tenant: str) -> None:
        return None

    def expected(self, tenant_id: uuid.UUID) -> bool:
        self.reads += 1
        return self.reads == 1


def test_an_agent_stopped_during_send_fails_the_message_at_once(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    """``send`` reads the desired state once and does not read it again for its first
    attempt (one transaction less per message); a stop in between is still seen before the
    gateway waits for a restart: the message fails after one attempt, not after the window."""
    locator = _StoppedAfterTheCheck()
    parts = build_agent(platform, locator=locator,
                        options=GatewayOptions(redeliver_window_s=60, poll_s=0.1))
    tenant = make_tenant()

    with pytest.raises(DeliveryFailed, match="the agent is not running"):
        parts.gateway.send(tenant, "api", "u", "hello?")

    assert (locator.reads, locator.locates) == (2, 1)
    (listed,) = parts.gateway.recent(tenant, ("api", "u"), 5)
    assert listed["status"] == "failed"


def test_model_and_config_are_validated_with_reasons(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    token = token_for(platform, tenant, sorted(ROLE_SCOPES["owner"]))
    base = f"/api/v1/tenants/{tenant.name}/agent"

    no_url = client.put(f"{base}/model", json={"provider": "openai", "model": "m"},
                        headers=auth(token))
    unknown = client.put(f"{base}/model", json={"provider": "acme", "model": "m"},
                         headers=auth(token))
    ok = client.put(f"{base}/model", json={"provider": "anthropic", "model": "claude-x"},
                    headers=auth(token))
    bad_policy = client.put(f"{base}/config", json={"policy": {"tools": {
        "allowed": [], "approval_required": ["wire_money"]}}}, headers=auth(token))
    bad_flow = client.put(f"{base}/config", json={"flows": [{"name": "x", "examples": [],
                                                             "steps": ["a"]}]},
                          headers=auth(token))

    assert no_url.status_code == 422 and "base-url" in no_url.json()["error"]
    assert unknown.status_code == 422
    assert ok.status_code == 200 and ok.json()["provider"] == "anthropic"
    assert bad_policy.status_code == 422 and "wire_money" in bad_policy.json()["error"]
    assert bad_flow.status_code == 422 and "examples" in bad_flow.json()["error"]
    config = client.get(f"{base}/config", headers=auth(token)).json()
    assert config["model"]["model"] == "claude-x"  # a refused update changed nothing


def test_where_credentials_are_sent_needs_the_secrets_scope(
        platform: Platform, client: TestClient, make_tenant: Callable[..., TenantInfo]) -> None:
    # A tenant:write token (start/stop automation) must not redirect the model key or the
    # bot tokens to a host of its choosing: that would read the secrets the vault never returns.
    tenant = make_tenant()
    token = token_for(platform, tenant, ["tenant:read", "tenant:write"])
    base = f"/api/v1/tenants/{tenant.name}/agent"
    model = client.put(f"{base}/model", json={"provider": "openai", "model": "m",
                                              "base_url": "https://attacker.example/v1"},
                       headers=auth(token))
    config = client.put(f"{base}/config", json={"channels": {
        "slack_api_url": "https://attacker.example"}}, headers=auth(token))
    assert model.status_code == 403 and "secrets:write" in model.json()["error"]
    assert config.status_code == 403 and "secrets:write" in config.json()["error"]


def test_every_decision_of_a_turn_is_kept_with_a_summary_per_stage() -> None:
    records = [
        {"request_id": "r", "stage": "input", "rail": "input.pii", "action": "alter"},
        {"request_id": "r", "stage": "input", "rail": "input.injection", "action": "allow"},
        {"request_id": "r", "stage": "execution", "rail": "execution.tools",
         "action": "reject", "reason": "tool_not_allowed"},
        {"request_id": "r", "stage": "output", "rail": "output.pii", "action": "allow"},
    ]

    details = audit_details(records)

    assert details["stages"] == {"input": "alter", "execution": "reject", "output": "allow"}
    assert [d["rail"] for d in details["decisions"]] == [r["rail"] for r in records]
    assert details["decisions"][2]["reason"] == "tool_not_allowed"


def test_the_demo_tenant_is_created_once_and_prints_how_to_chat(
        platform: Platform, parts: AgentParts) -> None:
    first = create_demo(platform)
    second = create_demo(platform)
    try:
        assert "export OSP_TOKEN=ospt_" in first and "osp chat demo" in first
        assert "password" in first and "password" not in second
        tenant = platform.tenants.get("demo")
        principal = platform.identity.authenticate_token(
            second.split("OSP_TOKEN=")[1].split()[0])
        assert principal.tenant_id == tenant.id and "chat" in principal.scopes
        # The token printed at the earlier start no longer works.
        with pytest.raises(Unauthorized):
            platform.identity.authenticate_token(first.split("OSP_TOKEN=")[1].split()[0])
        assert parts.settings.get(tenant.id).flows[0].name == "human"
    finally:
        platform.tenants.delete(platform.tenants.get("demo"), "test")


def test_an_answer_without_governance_decisions_is_not_delivered(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    for outcome in ({"status": "answered", "reply": "ungoverned", "audit": []},
                    {"status": "answered", "reply": "ungoverned"},
                    {"status": "shrug", "reply": "?", "audit": [{"stage": "input"}]}):
        fake = ScriptedAgent(outcome)
        parts = build_agent(platform, locator=fake, transport=fake)

        with pytest.raises(DeliveryFailed) as failed:
            parts.gateway.send(tenant, "api", "u", "hello")

        message = parts.gateway.get(tenant, uuid.UUID(failed.value.message.split()[1]))
        assert message.status == "failed" and message.reply is None
