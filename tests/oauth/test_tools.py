"""Connected-app tools (Google Calendar read, Gmail send behind approval) against stand-in APIs
that accept only tokens the real test provider issued."""

from __future__ import annotations

import uuid

import pytest

from osp.errors import Forbidden, InvalidInput, NotFound
from osp.oauth.refresh import BrokerTokens, NeedsReauth
from osp.oauth.service import OAuthBroker
from osp.oauth.tools import ToolExecutor, load_tools, tool_policy
from tests.oauth.conftest import OidcServer, Setup, follow

CALENDAR = "https://www.googleapis.com/auth/calendar.events.readonly"
GMAIL = "https://www.googleapis.com/auth/gmail.send"
WINDOW = {"calendar_id": "primary", "timeMin": "2026-01-01T00:00:00Z",
          "timeMax": "2026-01-02T00:00:00Z"}


@pytest.fixture
def executor(broker: OAuthBroker, connected_tenant: Setup, oidc: OidcServer) -> ToolExecutor:
    return ToolExecutor(BrokerTokens(broker, connected_tenant.tenant_id, "test"), {
        "https://www.googleapis.com": f"{oidc.issuer}/fake/googleapis",
        "https://gmail.googleapis.com": f"{oidc.issuer}/fake/gmail",
        "https://graph.microsoft.com": f"{oidc.issuer}/fake/graph"})


def connect(broker: OAuthBroker, setup: Setup, scopes: list[str]) -> uuid.UUID:
    start = broker.start(setup.tenant_id, "idp", scopes=scopes, actor="t")
    return broker.complete(follow(start.authorization_url)).id


def test_tools_are_data_with_narrow_scopes() -> None:
    tools = load_tools()
    assert tools["google_calendar_list_events"].scope == CALENDAR
    assert not tools["google_calendar_list_events"].approval
    assert tools["google_gmail_send"].approval


def test_policy_fragment_gates_mail_send_behind_approval() -> None:
    policy = tool_policy(["google_calendar_list_events", "google_gmail_send"])
    assert policy["approval_required"] == ["google_gmail_send"]
    assert policy["arguments"]["google_gmail_send"]["to"]["required"] is True
    assert policy["allow_unknown_arguments"] is False
    with pytest.raises(NotFound):
        tool_policy(["google_drive_delete_everything"])


def test_calendar_read_runs_with_the_calendar_scope(
        executor: ToolExecutor, broker: OAuthBroker, connected_tenant: Setup) -> None:
    conn = connect(broker, connected_tenant, [CALENDAR])
    result = executor.execute("google_calendar_list_events", conn, WINDOW)
    assert result.data["items"] == [{"summary": "Standup"}]
    assert result.data["timeMin"] == WINDOW["timeMin"]
    # This grant cannot send mail: the broker refuses the scope before any HTTP call.
    with pytest.raises(Forbidden, match="not granted"):
        executor.execute("google_gmail_send", conn, {"to": "a@example.com", "subject": "s",
                                                     "text": "t"}, approved=True)


def test_a_second_provider_family_is_data_too(
        executor: ToolExecutor, broker: OAuthBroker, connected_tenant: Setup) -> None:
    conn = connect(broker, connected_tenant, ["Calendars.Read"])
    window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-01-02T00:00:00Z"}
    result = executor.execute("microsoft_calendar_list_events", conn, window)
    assert result.data["value"] == [{"subject": "Planning"}]
    assert result.data["window"] == [window["startDateTime"], window["endDateTime"]]
    assert result.data["select"] == "subject,start,end,location"
    with pytest.raises(InvalidInput, match="startDateTime"):
        executor.execute("microsoft_calendar_list_events", conn,
                         {**window, "startDateTime": "yesterday"})


def test_mail_send_needs_approval_and_valid_arguments(
        executor: ToolExecutor, broker: OAuthBroker, connected_tenant: Setup) -> None:
    conn = connect(broker, connected_tenant, [GMAIL])
    args = {"to": "bob@example.com", "subject": "Hello", "text": "Hi Bob"}
    with pytest.raises(Forbidden, match="approval"):
        executor.execute("google_gmail_send", conn, args)
    with pytest.raises(InvalidInput, match="subject"):
        executor.execute("google_gmail_send", conn, {**args, "subject": "x\r\nBcc: eve@x.io"},
                         approved=True)
    with pytest.raises(InvalidInput, match="bcc"):
        executor.execute("google_gmail_send", conn, {**args, "bcc": "eve@example.com"},
                         approved=True)
    result = executor.execute("google_gmail_send", conn, args, approved=True)
    assert result.data == {"id": "message-1", "to": "bob@example.com"}


def test_token_revoked_at_the_provider_surfaces_as_needs_reauth(
        executor: ToolExecutor, broker: OAuthBroker, connected_tenant: Setup,
        oidc: OidcServer) -> None:
    conn = connect(broker, connected_tenant, [CALENDAR])
    with broker.db.tenant(connected_tenant.tenant_id) as s:
        refresh = broker.store.get(s, conn, "refresh")
    oidc.revoke(refresh, "refresh_token")  # the person revokes in the provider's settings
    with pytest.raises(NeedsReauth):
        executor.execute("google_calendar_list_events", conn, WINDOW)
    assert broker.list_connections(connected_tenant.tenant_id)[0].status == "needs_reauth"
