"""The agent's connected-app routes hold it to the tenant's policy and approvals on the control
plane, whatever the agent's own rails did (a compromised agent is the attacker here).

Tokens, approvals, the vault, the audit trail and the OpenID provider are real; the engine
is the in-memory FakeBackend, whose container "address" is the test client's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from osp.app.agent import AgentParts, build_agent, connected_app_router
from osp.approvals.models import Approval
from osp.gateway.models import AgentMessage
from osp.oauth.service import OAuthBroker
from osp.oauth.tools import tool_policy
from osp.platform import Platform
from osp.runtime.wiring import RuntimeParts, build_runtime, internal_app
from osp.tenancy.service import TenantInfo
from tests.oidc import OidcServer, follow
from tests.runtime.conftest import FAKE_IMAGE, FakeBackend

CALENDAR = "https://www.googleapis.com/auth/calendar.events.readonly"
GMAIL = "https://www.googleapis.com/auth/gmail.send"
TOKEN = "/internal/v1/oauth/token"
SEND = "/internal/v1/oauth/tools/google_gmail_send/run"
MAIL = {"to": "bob@example.com", "subject": "Minutes", "text": "See you Monday."}


@dataclass
class Env:
    platform: Platform
    parts: RuntimeParts
    backend: FakeBackend
    agent: AgentParts
    client: TestClient
    oidc: OidcServer


@dataclass
class Tenant:
    info: TenantInfo
    connection: uuid.UUID
    refresh: str
    headers: dict[str, str]


@pytest.fixture
def env(platform: Platform, oidc: OidcServer,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    backend = FakeBackend()
    parts = build_runtime(platform, backend=backend, images=FAKE_IMAGE)
    agent = build_agent(platform, parts)
    broker = OAuthBroker(platform.db, platform.vault, platform.audit, allow_loopback=True)
    app = internal_app(parts, [connected_app_router(platform, parts, agent, broker,
                                                    cache_s=0)])
    with TestClient(app) as client:
        yield Env(platform, parts, backend, agent, client, oidc)
    broker.close()


@pytest.fixture
def tenant(env: Env, make_tenant: Callable[..., TenantInfo]) -> Callable[..., Tenant]:
    def make(tools: list[str], *, scopes: tuple[str, ...] = (CALENDAR, GMAIL),
             also_approve: tuple[str, ...] = ()) -> Tenant:
        info = make_tenant("ap")
        broker = OAuthBroker(env.platform.db, env.platform.vault, env.platform.audit,
                             allow_loopback=True)
        try:
            broker.add_provider(info.id, "google", issuer=env.oidc.issuer,
                                client_id=env.oidc.client_id,
                                client_secret=env.oidc.client_secret,
                                redirect_uri=env.oidc.redirect_uri, actor="test")
            begun = broker.start(info.id, "google", scopes=list(scopes), actor="test")
            connection = broker.complete(follow(begun.authorization_url)).id
            with env.platform.db.tenant(info.id) as s:
                refresh = broker.store.get(s, connection, "refresh")
        finally:
            broker.close()
        stand_in = env.oidc.issuer.replace("127.0.0.1", "osp-host") + "/fake"
        policy = tool_policy(tools)
        policy["approval_required"] += list(also_approve)
        env.agent.settings.set_document(info.id, {
            "policy": {"preset": "lean", "tools": policy},
            "tools": {"connected": {"api_base": {
                "https://www.googleapis.com": f"{stand_in}/googleapis",
                "https://gmail.googleapis.com": f"{stand_in}/gmail"}}}}, "test")
        env.parts.service.start(info, "test", wait=False)
        env.backend.ips[info.name] = "testclient"
        instance = env.backend.running[info.name].instance_id
        headers = {"Authorization": f"Bearer {env.parts.bootstrap.agent_key(info.name, instance)}",
                   "X-OSP-Tenant": info.name, "X-OSP-Instance": instance}
        return Tenant(info, connection, refresh, headers)

    return make


def approval(env: Env, t: Tenant, status: str = "approved", tool: str = "google_gmail_send",
             arguments: dict[str, Any] | None = None, decided_ago: timedelta = timedelta(0),
             ) -> uuid.UUID:
    """What the gateway and a person's decision leave behind, written directly."""
    now = datetime.now(UTC)
    approval_id = uuid.uuid4()
    with env.platform.db.tenant(t.info.id) as s:
        message = AgentMessage(tenant_id=t.info.id, channel="api", channel_user="u",
                               text="mail bob", status="awaiting_approval")
        s.add(message)
        s.flush()
        s.add(Approval(id=approval_id, tenant_id=t.info.id, message_id=message.id, tool=tool,
                       arguments=arguments or MAIL, status=status,
                       decided_by=None if status == "pending" else "user:test",
                       decided_at=None if status == "pending" else now - decided_ago,
                       created_at=now - decided_ago - timedelta(seconds=1),
                       expires_at=now + timedelta(hours=1)))
    return approval_id


def run(env: Env, t: Tenant, approval_id: uuid.UUID, **arguments: Any) -> Any:
    return env.client.post(SEND, headers=t.headers, json={
        "approval_id": str(approval_id), "arguments": arguments or MAIL})


def test_tokens_only_for_scopes_the_policy_lets_the_agent_use_unapproved(
        env: Env, tenant: Callable[..., Tenant]) -> None:
    t = tenant(["google_calendar_list_events", "google_gmail_send"])
    ask = {"connection_id": str(t.connection), "scope": CALENDAR}
    r = env.client.post(TOKEN, json=ask, headers=t.headers)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"access_token", "token_type", "expires_at", "scope"}
    assert env.oidc.introspect(r.json()["access_token"]).json()["active"] is True
    assert t.refresh not in r.text  # the refresh token never leaves the control plane
    # Granted by the person and allowed by the policy, but only behind approval: no token.
    r = env.client.post(TOKEN, json={**ask, "scope": GMAIL}, headers=t.headers)
    assert r.status_code == 403 and "without approval" in r.json()["error"]
    # A tool the policy does not allow: its scope is not handed out either.
    only_mail = tenant(["google_gmail_send"])
    r = env.client.post(TOKEN, headers=only_mail.headers,
                        json={"connection_id": str(only_mail.connection), "scope": CALENDAR})
    assert r.status_code == 403


def test_an_agent_gets_nothing_of_another_tenant(env: Env,
                                                 tenant: Callable[..., Tenant]) -> None:
    victim = tenant(["google_calendar_list_events", "google_gmail_send"])
    attacker = tenant(["google_calendar_list_events", "google_gmail_send"])
    stolen = env.client.post(TOKEN, headers=attacker.headers,
                             json={"connection_id": str(victim.connection), "scope": CALENDAR})
    assert stolen.status_code == 404  # RLS: the victim's connection does not exist there
    listed = env.client.get("/internal/v1/oauth/connections", headers=attacker.headers).json()
    assert [c["id"] for c in listed] == [str(attacker.connection)]
    # The victim's approval cannot be spent by the attacker's agent either.
    theirs = approval(env, victim)
    assert run(env, attacker, theirs).status_code == 404


def test_an_approved_call_runs_once_as_approved_on_the_control_plane(
        env: Env, tenant: Callable[..., Tenant]) -> None:
    t = tenant(["google_gmail_send"])
    approved = approval(env, t)

    r = run(env, t, approved)

    assert r.status_code == 200, r.text
    assert r.json() == {"status": 200, "data": {"id": "message-1", "to": "bob@example.com"}}
    assert run(env, t, approved).status_code == 403  # spent: a replay sends nothing
    with env.platform.db.tenant(t.info.id) as s:
        events = [(e.actor, e.kind, e.details) for e in env.platform.audit.list(s, t.info.id)]
    issued = [(actor, d["scope"]) for actor, kind, d in events if kind == "oauth.token_issued"]
    assert issued == [(f"approval:{approved}", GMAIL)]  # used by the control plane, not given
    assert [d["reason"] for _a, kind, d in events if kind == "approval.claim_refused"] == [
        "the approval was already used"]


@pytest.mark.parametrize(("status", "arguments", "ago", "reason"), [
    ("pending", None, timedelta(0), "the approval is pending"),
    ("denied", None, timedelta(0), "the approval is denied"),
    ("approved", {**MAIL, "to": "eve@example.com"}, timedelta(0), "not the one that was approved"),
    ("approved", None, timedelta(minutes=11), "too old"),
])
def test_a_call_without_a_matching_fresh_approval_is_refused(
        env: Env, tenant: Callable[..., Tenant], status: str,
        arguments: dict[str, Any] | None, ago: timedelta, reason: str) -> None:
    t = tenant(["google_gmail_send"])
    approval_id = approval(env, t, status, decided_ago=ago)
    r = run(env, t, approval_id, **(arguments or MAIL))
    assert r.status_code == 403 and reason in r.json()["error"]
    assert "message-1" not in r.text


def test_an_approval_for_another_tool_or_a_disallowed_tool_is_refused(
        env: Env, tenant: Callable[..., Tenant]) -> None:
    t = tenant(["google_gmail_send"])
    other = approval(env, t, tool="memory_write")
    r = run(env, t, other)
    assert r.status_code == 403 and "not the one that was approved" in r.json()["error"]
    calendar_only = tenant(["google_calendar_list_events"])
    r = run(env, calendar_only, approval(env, calendar_only))
    assert r.status_code == 403 and "not allowed" in r.json()["error"]
    assert run(env, t, uuid.uuid4()).status_code == 404


def test_invalid_arguments_do_not_spend_the_approval(env: Env,
                                                     tenant: Callable[..., Tenant]) -> None:
    t = tenant(["google_gmail_send"])
    bad = {**MAIL, "subject": "x\r\nBcc: eve@example.com"}
    approved = approval(env, t, arguments=bad)
    r = run(env, t, approved, **bad)
    assert r.status_code == 422 and "subject" in r.json()["error"]
    with env.platform.db.tenant(t.info.id) as s:
        assert s.get(Approval, approved).executed_at is None


def test_an_approved_call_runs_in_the_account_the_control_plane_picks(
        env: Env, tenant: Callable[..., Tenant]) -> None:
    t = tenant(["google_gmail_send"])
    broker = OAuthBroker(env.platform.db, env.platform.vault, env.platform.audit,
                         allow_loopback=True)
    try:  # a second account granting mail, not named like the tool's provider
        broker.add_provider(t.info.id, "other", issuer=env.oidc.issuer,
                            client_id=env.oidc.client_id, client_secret=env.oidc.client_secret,
                            redirect_uri=env.oidc.redirect_uri, actor="test")
        begun = broker.start(t.info.id, "other", scopes=[GMAIL], actor="test")
        other = broker.complete(follow(begun.authorization_url)).id
    finally:
        broker.close()
    approved = approval(env, t)
    r = env.client.post(SEND, headers=t.headers, json={
        "approval_id": str(approved), "arguments": MAIL, "connection_id": str(other)})
    assert r.status_code == 200, r.text
    with env.platform.db.tenant(t.info.id) as s:
        used = [e.details["connection_id"] for e in env.platform.audit.list(s, t.info.id)
                if e.kind == "oauth.token_issued"]
    assert used == [str(t.connection)]  # the "google" one, whatever the agent named


def test_a_tool_the_policy_puts_behind_approval_gets_no_token_and_runs_approved(
        env: Env, tenant: Callable[..., Tenant]) -> None:
    t = tenant(["google_calendar_list_events"], also_approve=("google_calendar_list_events",))
    r = env.client.post(TOKEN, headers=t.headers,
                        json={"connection_id": str(t.connection), "scope": CALENDAR})
    assert r.status_code == 403  # read-only, but this tenant wants a person's yes first
    window = {"calendar_id": "primary", "timeMin": "2026-01-01T00:00:00Z",
              "timeMax": "2026-01-02T00:00:00Z"}
    approved = approval(env, t, tool="google_calendar_list_events", arguments=window)
    r = env.client.post("/internal/v1/oauth/tools/google_calendar_list_events/run",
                        headers=t.headers,
                        json={"approval_id": str(approved), "arguments": window})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["items"] == [{"summary": "Standup"}]
