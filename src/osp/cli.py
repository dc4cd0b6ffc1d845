"""The `osp` command line. Commands are thin: they parse, call a service and print."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from osp.app import App, open_app
from osp.audit.anchor import AnchorFile, anchor_all, check_anchor
from osp.audit.unproven import PLATFORM_TRAIL
from osp.config import Settings, load_settings
from osp.errors import OspError
from osp.logs import configure_logging
from osp.platform import Platform
from osp.terminal import CLI_ACTOR, read_secret_stdin

app = typer.Typer(help="OSP: one governed AI agent per tenant.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants and their runtime.", no_args_is_help=True)
user_app = typer.Typer(help="Users of a tenant.", no_args_is_help=True)
secret_app = typer.Typer(help="Tenant secrets (values are never printed).", no_args_is_help=True)
vault_app = typer.Typer(help="Vault key management.", no_args_is_help=True)
audit_app = typer.Typer(help="The per-tenant audit trail.", no_args_is_help=True)
image_app = typer.Typer(help="Agent images.", no_args_is_help=True)
billing_app = typer.Typer(help="Billing provider integration.", no_args_is_help=True)
for sub, name in ((db_app, "db"), (tenant_app, "tenant"), (user_app, "user"),
                  (secret_app, "secret"), (vault_app, "vault"), (audit_app, "audit"),
                  (image_app, "image"), (billing_app, "billing")):
    app.add_typer(sub, name=name)

out = Console()


class _State:
    data_dir: Path | None = None


_state = _State()


@app.callback()
def _main(data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="OSP_DATA_DIR", help="Data directory (default ~/.local/share/osp).")
        ] = None) -> None:
    _state.data_dir = data_dir
    configure_logging(settings().log_level)


def settings(**overrides: object) -> Settings:
    return load_settings(data_dir=_state.data_dir, **overrides)


@contextmanager
def opened(**kw: Any) -> Iterator[App]:
    """The composition root over this installation, for one command."""
    with open_app(settings(), **kw) as a:
        yield a


@contextmanager
def platform(**kw: Any) -> Iterator[Platform]:
    with opened(**kw) as a:
        yield a.platform


def fail(message: str) -> None:
    raise OspError(message)


# -- up / db -------------------------------------------------------------------------------
@app.command()
def up(host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
       port: Annotated[int | None, typer.Option(help="Port of the API.")] = None,
       demo: Annotated[bool, typer.Option(
           "--demo", help="Create (and start) a demo tenant and print how to chat with it.")]
       = False) -> None:
    """Run the control plane in the foreground (Ctrl-C stops it; tenant containers keep
    running)."""
    from osp.app.server import serve

    with open_app(settings(host=host, port=port)) as a:
        serve(a, demo=demo)


@db_app.command("migrate")
def db_migrate() -> None:
    """Create the osp_app role when missing and apply migrations (idempotent)."""
    with platform(run_migrations=True):
        pass
    out.print("database is up to date")


# -- tenants -------------------------------------------------------------------------------
@tenant_app.command("create")
def tenant_create(name: str, require_2fa: Annotated[bool, typer.Option(
        "--require-2fa", help="Every user of this tenant must use two-factor auth.")] = False
                  ) -> None:
    with platform() as p:
        t = p.tenants.create(name, CLI_ACTOR, require_2fa=require_2fa)
    out.print(f"created tenant {t.name} ({t.id})")


@tenant_app.command("list")
def tenant_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with platform() as p:
        rows = p.tenants.list()
    if as_json:
        print(json.dumps([{"id": str(t.id), "name": t.name, "state": t.state,
                           "require_2fa": t.require_2fa} for t in rows]))
        return
    table = Table("name", "id", "state", "2fa required")
    for t in rows:
        table.add_row(t.name, str(t.id), t.state, "yes" if t.require_2fa else "no")
    out.print(table)


@tenant_app.command("show")
def tenant_show(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with platform() as p:
        t = p.tenants.get(name)
        with p.db.tenant(t.id) as s:
            n_secrets = len(p.vault.list(s, t.id))
        n_users = len(p.identity.list_users(t.id))
    data = {"id": str(t.id), "name": t.name, "state": t.state, "require_2fa": t.require_2fa,
            "users": n_users, "secrets": n_secrets}
    if as_json:
        print(json.dumps(data))
    else:
        for k, v in data.items():
            out.print(f"{k:12} {v}")


@tenant_app.command("delete")
def tenant_delete(name: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")]
                  = False) -> None:
    with opened() as a:
        p = a.platform
        p.tenants.get(name)
        if not yes and not typer.confirm(f"Delete tenant {name} and all its data?"):
            fail("aborted; nothing was deleted")
        try:
            # Container, network and volume go with the tenant; nothing is left as an orphan.
            a.runtime.backend.remove(name, purge_data=True)
        except OspError as exc:
            out.print(f"warning: could not remove the container: {exc.message}")
        p.tenants.delete(name, CLI_ACTOR)
    out.print(f"deleted tenant {name}")


# -- users ---------------------------------------------------------------------------------
@user_app.command("create")
def user_create(email: str,
                tenant: Annotated[str, typer.Option("--tenant", help="Tenant name.")],
                role: Annotated[str, typer.Option("--role")] = "member") -> None:
    """Create a user; the password is read from stdin (or prompted for), never from argv."""
    password = read_secret_stdin("Password: ").decode()
    with platform() as p:
        user_id = p.identity.create_user(tenant, email, password, role, CLI_ACTOR)
    out.print(f"created user {email.lower()} ({user_id}) in {tenant} as {role}")


# -- secrets -------------------------------------------------------------------------------
@secret_app.command("set")
def secret_set(tenant: str, name: str) -> None:
    """Write a new version of a secret; the value is read from stdin, never from argv."""
    value = read_secret_stdin(f"Value for {name}: ")
    with platform() as p:
        t = p.tenants.get(tenant)
        with p.db.tenant(t.id) as s:
            version = p.vault.put(s, t.id, name, value, CLI_ACTOR)
    out.print(f"stored {name} version {version} for {tenant}")


@secret_app.command("list")
def secret_list(tenant: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with platform() as p:
        t = p.tenants.get(tenant)
        with p.db.tenant(t.id) as s:
            rows = p.vault.list(s, t.id)
    if as_json:
        print(json.dumps([{"name": r.name, "version": r.version, "versions": r.versions,
                           "updated_at": r.updated_at.isoformat()} for r in rows]))
        return
    table = Table("name", "version", "versions", "created", "updated")
    for r in rows:
        table.add_row(r.name, str(r.version), str(r.versions), f"{r.created_at:%Y-%m-%d %H:%M}",
                      f"{r.updated_at:%Y-%m-%d %H:%M}")
    out.print(table)


@secret_app.command("delete")
def secret_delete(tenant: str, name: str) -> None:
    with platform() as p:
        t = p.tenants.get(tenant)
        with p.db.tenant(t.id) as s:
            n = p.vault.delete(s, t.id, name, CLI_ACTOR)
    out.print(f"deleted {name} ({n} version(s)) from {tenant}")


# -- vault ---------------------------------------------------------------------------------
@vault_app.command("rotate-kek")
def vault_rotate_kek() -> None:
    """Re-wrap every data key under a new KEK version; secrets stay readable throughout."""
    with opened() as a:
        r = a.rotate_kek(CLI_ACTOR)
    out.print(f"KEK rotated {r.old_version} -> {r.new_version}: {r.rewrapped} sealed value(s) "
              f"re-wrapped in {r.tenants} tenant(s)")


# -- audit ---------------------------------------------------------------------------------
PlatformTrailOpt = Annotated[bool, typer.Option(
    "--platform", help="The platform trail: refusals of requests that proved no tenant.")]


def _trail(p: Platform, tenant: str | None, platform_trail: bool) -> tuple[uuid.UUID, str]:
    if platform_trail == (tenant is not None):
        raise OspError("name a tenant or pass --platform (not both)")
    if tenant is None:
        return PLATFORM_TRAIL, "the platform"
    return p.tenants.get(tenant).id, tenant


@audit_app.command("list")
def audit_list(tenant: Annotated[str | None, typer.Argument()] = None,
               limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
               as_json: Annotated[bool, typer.Option("--json")] = False,
               platform_trail: PlatformTrailOpt = False) -> None:
    with platform() as p:
        trail, _label = _trail(p, tenant, platform_trail)
        with p.db.tenant(trail) as s:
            events = p.audit.list(s, trail, limit)
            rows = [{"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "kind": e.kind,
                     "details": e.details, "hash": e.hash} for e in events]
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    table = Table("seq", "at", "actor", "kind", "details")
    for r in rows:
        table.add_row(str(r["seq"]), str(r["at"])[:19], str(r["actor"]), str(r["kind"]),
                      json.dumps(r["details"])[:80])
    out.print(table)


@audit_app.command("verify")
def audit_verify(tenant: Annotated[str | None, typer.Argument()] = None,
                 platform_trail: PlatformTrailOpt = False) -> None:
    """Exit non-zero when any event was modified, deleted or reordered."""
    with platform() as p:
        trail, label = _trail(p, tenant, platform_trail)
        anchor = AnchorFile(p.settings.anchor_path).read().get(str(trail))
        with p.db.tenant(trail) as s:
            r = p.audit.verify(s, trail)
            r.problems += check_anchor(s, trail, anchor)
    if not r.ok:
        for problem in r.problems:
            print(f"audit trail of {label}: {problem}", file=sys.stderr)
        raise typer.Exit(1)
    out.print(f"audit trail of {label} intact ({r.checked} events)")


@audit_app.command("anchor")
def audit_anchor(as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON line per new anchor (to ship to an external log).")] = False,
                 ) -> None:
    """Record each trail's current head outside the database (osp up does it every minute)."""
    with platform() as p:
        made = anchor_all(p.db, AnchorFile(p.settings.anchor_path),
                          [t.id for t in p.tenants.list()])
        path = p.settings.anchor_path
    if as_json:
        for a in made:
            print(json.dumps(asdict(a)))
        return
    out.print(f"anchored {len(made)} trail(s) in {path}")


def _register_features() -> None:
    """Feature packages add their commands here, explicitly and in a fixed order."""
    from osp.approvals import cli as approvals_cli
    from osp.gateway import cli as agent_cli
    from osp.governance import cli as governance_cli
    from osp.oauth import cli as oauth_cli
    from osp.release import cli as release_cli
    from osp.runtime import cli as runtime_cli

    runtime_cli.register(tenant_app, image_app, opened, billing_app)
    agent_cli.register(app, tenant_app, opened, settings)
    approvals_cli.register(app, opened)
    governance_cli.register(app)
    oauth_cli.register(app, opened)
    release_cli.register(app, image_app, opened, lambda: settings().data_dir)


_register_features()


def main() -> None:
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except OspError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the CLI never shows a traceback; the message says enough
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: unexpected {type(exc).__name__}: {first}", file=sys.stderr)
        sys.exit(2)
