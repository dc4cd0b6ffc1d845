"""Connected apps used by the agent in its container, against the real OpenID provider.

The agent asks the internal API for an access token (authenticated by its per-instance
key and its container address), calls the stand-in Google APIs the provider serves (they
accept only tokens it issued), and never holds a refresh token. Execution rails apply:
mail sending waits for a person's approval and is then run by the control plane itself
(the mail token never reaches the agent), and the tool refuses an unapproved send even
when a policy forgot to require approval.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from osp.oauth.service import OAuthBroker
from osp.oauth.tools import tool_policy
from osp.tenancy.service import TenantInfo
from tests.agent.conftest import Stack
from tests.agent.scripted import call, say, unfenced
from tests.oidc import OidcServer, follow

pytestmark = pytest.mark.podman

LiveTenant = Callable[..., TenantInfo]
CALENDAR = "https://www.googleapis.com/auth/calendar.events.readonly"
GMAIL = "https://www.googleapis.com/auth/gmail.send"
WINDOW = {"calendar_id": "primary", "timeMin": "2026-01-01T00:00:00Z",
          "timeMax": "2026-01-02T00:00:00Z"}
MAIL = {"to": "bob@example.com", "subject": "Minutes", "text": "See you Monday."}


def oidc_port(oidc: OidcServer) -> int:
    return int(urlsplit(oidc.issuer).port or 0)


def connect(stack: Stack, tenant: TenantInfo, oidc: OidcServer,
            scopes: list[str]) -> tuple[uuid.UUID, str]:
    """The person connects Google (played by the test provider); returns the connection
    and its refresh token, which must never reach the agent."""
    broker = OAuthBroker(stack.platform.db, stack.platform.vault, stack.platform.audit,
                         allow_loopback=True)
    try:
        broker.add_provider(tenant.id, "google", issuer=oidc.issuer, client_id=oidc.client_id,
                            client_secret=oidc.client_secret, redirect_uri=oidc.redirect_uri,
                            actor="test")
        begun = broker.start(tenant.id, "google", scopes=scopes, actor="test")
        connection = broker.complete(follow(begun.authorization_url))
        with stack.platform.db.tenant(tenant.id) as s:
            refresh = broker.store.get(s, connection.id, "refresh")
    finally:
        broker.close()
    return connection.id, refresh


def configure(stack: Stack, tenant: TenantInfo, oidc: OidcServer, tools: list[str],
              *, approvals: bool = True) -> None:
    policy = tool_policy(tools)
    if not approvals:
        policy["approval_required"] = []
    stand_in = f"http://osp-host:{oidc_port(oidc)}/fake"
    stack.configure(tenant, policy={"preset": "lean", "tools": policy},
                    tools={"connected": {"api_base": {
                        "https://www.googleapis.com": f"{stand_in}/googleapis",
                        "https://gmail.googleapis.com": f"{stand_in}/gmail"}}})


def tool_results(stack: Stack, index: int) -> list[str]:
    return [unfenced(m["content"]) for m in stack.model.seen[index].body["messages"]
            if m["role"] == "tool"]


def audited(stack: Stack, tenant: TenantInfo, kind: str) -> list[dict[str, object]]:
    return [d for k, d in stack.audit(tenant) if k == kind]


def test_the_agent_reads_the_calendar_with_a_token_for_that_scope_only(
        stack: Stack, live_tenant: LiveTenant, oidc: OidcServer) -> None:
    tenant = live_tenant("ca", host_ports=(oidc_port(oidc),))
    connection, refresh = connect(stack, tenant, oidc, [CALENDAR, GMAIL])
    configure(stack, tenant, oidc, ["google_calendar_list_events"])
    stack.model.reset(call("google_calendar_list_events", **WINDOW),
                      say("You have one meeting: Standup."))

    r = stack.chat(tenant, stack.token(tenant), "what is on my calendar?")

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "answered"
    offered = stack.model.seen[0].body["tools"]
    assert [t["function"]["name"] for t in offered] == ["google_calendar_list_events"]
    schema = offered[0]["function"]["parameters"]
    assert schema["additionalProperties"] is False and "calendar_id" in schema["required"]
    result = json.loads(tool_results(stack, 1)[0])
    assert result["items"] == [{"summary": "Standup"}] and result["calendar"] == "primary"
    issued = audited(stack, tenant, "oauth.token_issued")
    assert issued == [{"provider": "google", "connection_id": str(connection),
                       "scope": CALENDAR}]  # one token, for the calendar scope alone
    # The agent never held the refresh token; the access token it used is in no durable or
    # inspectable place, and never reached the model.
    assert refresh not in json.dumps(stack.audit(tenant)) + stack.backend.logs(tenant.name)
    broker = OAuthBroker(stack.platform.db, stack.platform.vault, stack.platform.audit)
    try:
        with stack.platform.db.tenant(tenant.id) as s:
            access = broker.store.get(s, connection, "access")
    finally:
        broker.close()
    name = stack.backend.container_name(tenant.name)
    surfaces = [stack.backend._podman("container", "inspect", name).stdout,
                stack.backend.logs(tenant.name), json.dumps(stack.audit(tenant)),
                *(json.dumps(seen.body) for seen in stack.model.seen)]
    assert not [i for i, text in enumerate(surfaces) if access in text]
    grep = stack.backend.exec(tenant.name, ["grep", "-r", "-l", "-F", "-e", access, "/data"])
    assert grep.returncode == 1, grep.stdout  # 1: no file on the volume holds it


def test_mail_is_sent_only_after_a_person_approves(
        stack: Stack, live_tenant: LiveTenant, oidc: OidcServer) -> None:
    tenant = live_tenant("ma", host_ports=(oidc_port(oidc),))
    connect(stack, tenant, oidc, [GMAIL])
    configure(stack, tenant, oidc, ["google_gmail_send"])
    token = stack.token(tenant)
    stack.model.reset(call("google_gmail_send", **MAIL), say("Sent the minutes to Bob."))

    r = stack.chat(tenant, token, "mail the minutes to bob@example.com")

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "awaiting_approval"
    assert audited(stack, tenant, "oauth.token_issued") == []  # nothing ran yet
    pending = stack.agent.approvals.list(tenant)
    approved = stack.client.post(
        f"/api/v1/tenants/{tenant.name}/approvals/{pending[0].id}/approve",
        headers={"Authorization": f"Bearer {token}"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["reply"] == "Sent the minutes to Bob."
    assert json.loads(tool_results(stack, 1)[0]) == {"id": "message-1",
                                                     "to": "bob@example.com"}
    # The control plane ran the approved call itself: the mail token never reached the agent.
    with stack.platform.db.tenant(tenant.id) as s:
        issued = [(e.actor, e.details["scope"]) for e in stack.platform.audit.list(s, tenant.id)
                  if e.kind == "oauth.token_issued"]
    assert issued == [(f"approval:{pending[0].id}", GMAIL)]
    assert audited(stack, tenant, "approval.executed") == [
        {"approval_id": str(pending[0].id), "tool": "google_gmail_send"}]


def test_the_tool_refuses_an_unapproved_send_even_if_the_policy_forgot_approval(
        stack: Stack, live_tenant: LiveTenant, oidc: OidcServer) -> None:
    tenant = live_tenant("mb", host_ports=(oidc_port(oidc),))
    connect(stack, tenant, oidc, [GMAIL])
    configure(stack, tenant, oidc, ["google_gmail_send"], approvals=False)
    stack.model.reset(call("google_gmail_send", **MAIL), say("I could not send it."))

    r = stack.chat(tenant, stack.token(tenant), "mail the minutes to bob@example.com")

    assert r.status_code == 200, r.text
    assert tool_results(stack, 1)[0].startswith("Tool error: google_gmail_send needs a "
                                                "person's approval")
    assert audited(stack, tenant, "oauth.token_issued") == []


def test_a_grant_revoked_at_the_provider_is_detected_on_next_use(
        stack: Stack, live_tenant: LiveTenant, oidc: OidcServer) -> None:
    tenant = live_tenant("rv", host_ports=(oidc_port(oidc),))
    _connection, refresh = connect(stack, tenant, oidc, [CALENDAR])
    configure(stack, tenant, oidc, ["google_calendar_list_events"])
    oidc.revoke(refresh, "refresh_token")  # the person revokes in the provider's settings
    stack.model.reset(call("google_calendar_list_events", **WINDOW),
                      say("Please reconnect your calendar."))

    r = stack.chat(tenant, stack.token(tenant), "what is on my calendar?")

    assert r.status_code == 200, r.text
    assert "connect again" in tool_results(stack, 1)[0]
    assert [d["reason"] for d in audited(stack, tenant, "oauth.needs_reauth")]


def test_the_agent_key_works_only_from_its_own_container(
        stack: Stack, live_tenant: LiveTenant) -> None:
    tenant = live_tenant("pk")
    running = stack.backend.status(tenant.name)
    key = stack.runtime.bootstrap.agent_key(tenant.name, running.instance_id)
    url = f"http://127.0.0.1:{stack.backend.settings.internal_api_port}" \
          "/internal/v1/oauth/connections"
    headers = {"Authorization": f"Bearer {key}", "X-OSP-Tenant": tenant.name,
               "X-OSP-Instance": running.instance_id}

    r = httpx.get(url, headers=headers, trust_env=False)

    assert r.status_code == 401  # the right key from the host, not from the container
    assert [d["reason"] for d in audited(stack, tenant, "runtime.agent_auth.refused")] == \
        ["wrong_peer"]
