"""The oauth CLI verbs, wired onto a bare Typer app exactly as osp.cli does with register()."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from osp.app import App
from osp.config import Settings
from osp.oauth.cli import register
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.oauth.conftest import OidcServer, follow


@pytest.fixture
def cli(platform: Platform, settings: Settings) -> Callable[..., Any]:
    """The verbs on a bare Typer app, opened on the test platform (loopback providers
    allowed: the test provider listens on 127.0.0.1)."""
    allowed = dataclasses.replace(
        platform, settings=settings.model_copy(update={"oauth_allow_loopback": True}))

    @contextmanager
    def same_app(**_kw: Any) -> Iterator[App]:
        a = App(allowed)
        try:
            yield a
        finally:
            a.close()

    app = typer.Typer()
    register(app, same_app)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=stdin)

    return run


def test_provider_connect_list_and_revoke(cli: Callable[..., Any], oidc: OidcServer,
                                         make_tenant: Callable[..., TenantInfo],
                                         platform: Platform) -> None:
    t = make_tenant("cli")
    r = cli("oauth", "provider", "add", "idp", "--tenant", t.name, "--issuer", oidc.issuer,
            "--client-id", oidc.client_id, "--redirect-uri", oidc.redirect_uri,
            stdin=oidc.client_secret + "\n")
    assert r.exit_code == 0, r.output
    assert oidc.client_secret not in r.output
    r = cli("oauth", "provider", "list", "--tenant", t.name, "--json")
    assert json.loads(r.output)[0]["issuer"] == oidc.issuer

    r = cli("connect", t.name, "idp", "--scopes", "calendar.read")
    assert r.exit_code == 0, r.output
    url = next(line for line in r.output.splitlines() if line.startswith(oidc.issuer))
    broker = OAuthBroker(platform.db, platform.vault, platform.audit, allow_loopback=True)
    try:
        broker.complete(follow(url))
    finally:
        broker.close()

    rows = json.loads(cli("connections", "list", t.name, "--json").output)
    assert rows[0]["provider"] == "idp" and rows[0]["status"] == "active"
    assert "calendar.read" in rows[0]["scopes"]
    r = cli("connections", "revoke", t.name, "idp")
    assert r.exit_code == 0 and "at the provider: revoked" in r.output
    assert json.loads(cli("connections", "list", t.name, "--json").output) == []


def test_catalog_lists_integrations(cli: Callable[..., Any]) -> None:
    data = json.loads(cli("oauth", "catalog", "--json").output)
    assert data["google"]["integrations"]["gmail_send"] == [
        "https://www.googleapis.com/auth/gmail.send"]


def test_tools_list_and_the_policy_fragment_that_enables_them(cli: Callable[..., Any]) -> None:
    from osp.agent.config import parse_config

    listed = json.loads(cli("oauth", "tools", "--json").output)
    assert listed["google_gmail_send"]["approval"] is True
    assert listed["google_calendar_list_events"]["scope"].endswith("calendar.events.readonly")
    r = cli("oauth", "tools", "--policy", "google_calendar_list_events",
            "--policy", "google_gmail_send")
    fragment = json.loads(r.output)
    assert fragment["tools"]["approval_required"] == ["google_gmail_send"]
    # The fragment is a valid tenant policy as it stands.
    parse_config({"policy": {"preset": "lean", **fragment}})
    r = cli("oauth", "tools", "--policy", "google_drive_wipe")
    assert r.exit_code != 0 and "no connected-app tool named" in str(r.exception)


def test_errors_are_one_line_and_non_zero(cli: Callable[..., Any],
                                          make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant("cli")
    r = cli("connect", t.name, "missing", "--scopes", "x")
    assert r.exit_code != 0
    assert "no provider named 'missing'" in str(r.exception)
