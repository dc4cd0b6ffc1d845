"""The oauth CLI verbs, wired onto a bare Typer app exactly as osp.cli does with register()."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from osp.config import Settings
from osp.oauth.cli import register
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.oauth.conftest import OidcServer, follow


@pytest.fixture
def cli(platform: Platform, settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """The verbs on a bare Typer app, with osp.cli's helpers bound to the test platform.

    A stand-in osp.cli module keeps this test about the oauth verbs: the real module also
    imports every other feature's commands (and their dependencies)."""

    @contextmanager
    def same_platform(**_kw: Any) -> Iterator[Platform]:
        yield platform

    def read_secret_stdin(_prompt: str) -> bytes:
        return sys.stdin.read().removesuffix("\n").encode()

    root = types.ModuleType("osp.cli")
    root.platform = same_platform  # type: ignore[attr-defined]
    root.settings = lambda **_kw: settings  # type: ignore[attr-defined]
    root.read_secret_stdin = read_secret_stdin  # type: ignore[attr-defined]
    root.CLI_ACTOR = "cli:operator"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "osp.cli", root)
    app = typer.Typer()
    register(app)
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
    from osp.oauth.wiring import make_broker

    broker = make_broker(platform)
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
