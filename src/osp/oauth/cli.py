"""`osp oauth provider add|list`, `osp oauth catalog|tools`, `osp connect`,
`osp connections list|revoke`.

Commands are thin: parse, call the broker, print. Secrets are read from stdin, never argv.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from osp.errors import OspError
from osp.terminal import CLI_ACTOR, read_secret_stdin, tenant_arg

if TYPE_CHECKING:  # the composition root hands itself in; no run-time import of it
    from osp.app import App
    from osp.oauth.service import OAuthBroker
    from osp.platform import Platform

out = Console()
CALLBACK_PATH = "/api/v1/oauth/callback"
OpenApp = Callable[[], AbstractContextManager["App"]]


class _BrokerCommands:
    """The commands that need the broker, bound to the composition root's opener."""

    def __init__(self, open_app: OpenApp) -> None:
        self.open_app = open_app

    @contextmanager
    def broker(self) -> Iterator[tuple[Platform, OAuthBroker]]:
        with self.open_app() as a:
            yield a.platform, a.broker

    def provider_add(
            self, name: str,
            tenant: Annotated[str, typer.Option("--tenant", help="Tenant name.")],
            client_id: Annotated[str, typer.Option("--client-id")],
            issuer: Annotated[str | None, typer.Option(
                "--issuer", help="Issuer URL; endpoints come from its discovery document.")] = None,
            catalog_key: Annotated[str | None, typer.Option(
                "--catalog", help="A catalog provider key (see `osp oauth catalog`).")] = None,
            redirect_uri: Annotated[str | None, typer.Option(
                "--redirect-uri", help="As registered at the provider (default: this control "
                "plane's callback).")] = None) -> None:
        """Register a client; the client secret is read from stdin (or prompted for)."""
        secret = read_secret_stdin("Client secret: ").decode()
        with self.broker() as (p, broker):
            uri = redirect_uri or f"http://{p.settings.host}:{p.settings.port}{CALLBACK_PATH}"
            t = tenant_arg(p, tenant)
            info = broker.add_provider(t.id, name, client_id=client_id, client_secret=secret,
                                       redirect_uri=uri, actor=CLI_ACTOR, issuer=issuer,
                                       catalog_key=catalog_key)
        out.print(f"registered provider {info.name} for {tenant} (redirect URI "
                  f"{info.redirect_uri}, revocation {info.revocation})")

    def provider_list(self, tenant: Annotated[str | None, typer.Argument()] = None,
                      as_json: Annotated[bool, typer.Option("--json")] = False,
                      tenant_opt: Annotated[str | None, typer.Option(
                          "--tenant", hidden=True, help="Deprecated: the tenant is an "
                          "argument.")] = None) -> None:
        """Client registrations of TENANT (never their secrets)."""
        tenant = tenant or tenant_opt
        if tenant is None:
            raise OspError("name the tenant: osp oauth provider list TENANT")
        with self.broker() as (p, broker):
            rows = broker.list_providers(tenant_arg(p, tenant).id)
        if as_json:
            print(json.dumps([{"name": r.name, "catalog": r.catalog_key, "issuer": r.issuer,
                               "client_id": r.client_id, "redirect_uri": r.redirect_uri,
                               "openid": r.openid, "revocation": r.revocation} for r in rows]))
            return
        table = Table("name", "catalog", "issuer", "client id", "revocation")
        for r in rows:
            table.add_row(r.name, r.catalog_key or "-", r.issuer or "-", r.client_id, r.revocation)
        out.print(table)

    def connect(self, tenant: str, provider: str,
                scopes: Annotated[str, typer.Option(
                    "--scopes", help="Space-separated scopes to request.")] = "",
                integration: Annotated[list[str] | None, typer.Option(
                    "--integration", help="A catalog integration (repeatable).")] = None) -> None:
        """Print the URL where the person signs in at the provider (valid 10 minutes)."""
        with self.broker() as (p, broker):
            t = tenant_arg(p, tenant)
            start = broker.start(t.id, provider, actor=CLI_ACTOR, scopes=scopes.split(),
                                 integrations=list(integration or []))
        out.print(f"Open this URL within 10 minutes (until {start.expires_at:%H:%M:%S} UTC):")
        print(start.authorization_url)

    def connections_list(self, tenant: str,
                         as_json: Annotated[bool, typer.Option("--json")] = False,
                         all_: Annotated[bool, typer.Option(
                             "--all", help="Include revoked connections.")] = False) -> None:
        with self.broker() as (p, broker):
            rows = broker.list_connections(tenant_arg(p, tenant).id, include_revoked=all_)
        if as_json:
            print(json.dumps([{
                "id": str(c.id), "provider": c.provider, "status": c.status,
                "scopes": c.granted_scopes, "status_reason": c.status_reason,
                "access_expires_at": (c.access_expires_at.isoformat() if c.access_expires_at
                                      else None),
                "last_refresh_at": c.last_refresh_at.isoformat() if c.last_refresh_at else None,
            } for c in rows]))
            return
        table = Table("provider", "status", "scopes", "last refresh", "id")
        for c in rows:
            table.add_row(c.provider, c.status, " ".join(c.granted_scopes),
                          f"{c.last_refresh_at:%Y-%m-%d %H:%M}" if c.last_refresh_at else "-",
                          str(c.id))
        out.print(table)

    def connections_revoke(self, tenant: str, provider: str) -> None:
        """Revoke at the provider where it offers revocation, then delete the tokens."""
        with self.broker() as (p, broker):
            r = broker.revoke(tenant_arg(p, tenant).id, provider, CLI_ACTOR)
        out.print(f"revoked {r.provider} for {tenant}; at the provider: {r.at_provider}")
        if r.at_provider != "revoked" and r.manual_revoke_url:
            out.print(f"also remove the grant at {r.manual_revoke_url}")



def register(app: typer.Typer, open_app: OpenApp) -> None:
    commands = _BrokerCommands(open_app)
    oauth_app = typer.Typer(help="OAuth providers: client registrations per tenant.",
                            no_args_is_help=True)
    provider_app = typer.Typer(help="Client registrations at authorization servers.",
                               no_args_is_help=True)
    connections_app = typer.Typer(help="Connected apps of a tenant.", no_args_is_help=True)
    oauth_app.add_typer(provider_app, name="provider")
    app.add_typer(oauth_app, name="oauth")
    app.add_typer(connections_app, name="connections")
    oauth_app.command("catalog")(catalog)
    oauth_app.command("tools")(tools)
    provider_app.command("add")(commands.provider_add)
    provider_app.command("list")(commands.provider_list)
    app.command("connect")(commands.connect)
    connections_app.command("list")(commands.connections_list)
    connections_app.command("revoke")(commands.connections_revoke)


def catalog(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Providers OSP knows, with their integrations and the scopes each one asks for."""
    from osp.oauth.catalog import load_catalog

    entries = load_catalog()
    if as_json:
        print(json.dumps({k: {"title": e.title, "revocation": e.revocation_style,
                              "pkce": e.pkce, "integrations": {
                                  i.key: list(i.scopes) for i in e.integrations.values()}}
                          for k, e in entries.items()}))
        return
    table = Table("provider", "integration", "scopes", "revocation")
    for e in entries.values():
        for i in e.integrations.values():
            table.add_row(e.key, i.key, " ".join(i.scopes) or "(chosen at consent)",
                          e.revocation_style)
    out.print(table)


def tools(policy: Annotated[list[str] | None, typer.Option(
              "--policy", help="Print the tenant-policy fragment that enables these tools "
              "(repeatable), with their approval requirement and argument rules.")] = None,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Connected-app tools the agent can use, each with the one scope it needs."""
    from osp.oauth.schemas import ToolOut
    from osp.oauth.tools import load_tools, tool_policy

    if policy:
        print(json.dumps({"tools": tool_policy(policy)}, indent=2))
        return
    specs = load_tools()
    if as_json:
        print(json.dumps({n: ToolOut.model_validate(t, from_attributes=True)
                          .model_dump(exclude={"name"}) for n, t in specs.items()}))
        return
    table = Table("tool", "provider", "integration", "scope", "approval")
    for n, t in specs.items():
        table.add_row(n, t.provider, t.integration, t.scope, "always" if t.approval else "-")
    out.print(table)
