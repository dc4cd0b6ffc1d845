"""The `osp` command line. Commands are thin: they parse, call a service and print.

Start-up stays light: the control plane (FastAPI, SQLAlchemy, the services) is imported by
the commands that open it, not here, so `osp --help` and a usage error cost about what a
bare typer program does (docs/benchmarks.md). Feature CLI modules follow the same rule.
"""

from __future__ import annotations

import copy
import inspect
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from osp.errors import OspError
from osp.terminal import CLI_ACTOR, console, read_secret_stdin, table, tenant_arg

if TYPE_CHECKING:
    from osp.app import App
    from osp.config import Settings
    from osp.platform import Platform

app = typer.Typer(help="OSP: one governed AI agent per tenant.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants and their runtime.", no_args_is_help=True)
secret_app = typer.Typer(help="Tenant secrets (values are never printed).", no_args_is_help=True)
vault_app = typer.Typer(help="Vault key management.", no_args_is_help=True)
audit_app = typer.Typer(help="The per-tenant audit trail.", no_args_is_help=True)
image_app = typer.Typer(help="Agent images.", no_args_is_help=True)
billing_app = typer.Typer(help="Billing provider integration.", no_args_is_help=True)
system_app = typer.Typer(help="This installation as a whole.", no_args_is_help=True)
for sub, name in ((db_app, "db"), (tenant_app, "tenant"), (secret_app, "secret"),
                  (vault_app, "vault"), (audit_app, "audit"),
                  (image_app, "image"), (billing_app, "billing"), (system_app, "system")):
    app.add_typer(sub, name=name)

out = console()


class _State:
    data_dir: Path | None = None
    logging_configured = False


_state = _State()


@app.callback()
def _main(data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="OSP_DATA_DIR", help="Data directory (default ~/.local/share/osp).")
        ] = None) -> None:
    _state.data_dir = data_dir


def settings(**overrides: object) -> Settings:
    from osp.config import load_settings

    cfg = load_settings(data_dir=_state.data_dir, **overrides)
    if not _state.logging_configured:  # on first use: commands that need no settings log not
        from osp.logs import configure_logging

        configure_logging(cfg.log_level)
        _state.logging_configured = True
    return cfg


def require_installation(cfg: Settings) -> None:
    """Only `osp up`, `osp db migrate` and setup create an installation. Any other command
    pointed at an empty data directory (a second terminal without OSP_DATA_DIR) would
    silently start a second, empty one; say where we looked instead."""
    if cfg.database_url or (cfg.pg_dir / "PG_VERSION").is_file():
        return
    raise OspError(f"no OSP installation in {cfg.data_dir}: set OSP_DATA_DIR (or --data-dir) "
                   "to the directory `osp up` printed, or create one there with `osp up`")


@contextmanager
def opened(*, create: bool = False, **kw: Any) -> Iterator[App]:
    """The composition root over this installation, for one command."""
    cfg = settings()
    if not create:
        require_installation(cfg)  # before the heavy import: a wrong directory says so at once
    from osp.app import open_app

    with open_app(cfg, **kw) as a:
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
       = False,
       local_model: Annotated[bool, typer.Option(
           "--local-model", help="Also serve the bundled local model (port OSP_MODEL_PORT); "
           "with --demo the demo tenant uses it, no hosted API or key needed.")] = False
       ) -> None:
    """Run the control plane in the foreground (Ctrl-C stops it and the local model; tenant
    containers keep running)."""
    from contextlib import ExitStack

    from osp.app import open_app
    from osp.app.server import INTERNAL_HOST, check_ports_free, serve

    cfg = settings(host=host, port=port)
    # Before the database starts: a busy port is one line, not a traceback after start-up.
    check_ports_free((cfg.host, cfg.port), (INTERNAL_HOST, cfg.internal_port))
    last = ""

    def report(message: str) -> None:  # the first start builds the agent image: minutes
        nonlocal last
        if message != last:
            print(f"agent image: {message}", flush=True)
            last = message

    with ExitStack() as stack:
        a = stack.enter_context(open_app(cfg, progress=report))
        model = None
        if local_model:
            from osp.localmodel.server import ServerOptions, running

            print(f"starting the local model on port {cfg.model_port} ...", flush=True)
            model = stack.enter_context(running(ServerOptions(cfg.data_dir,
                                                              cfg.model_port))).model
        serve(a, demo=demo, local_model=model)


@db_app.command("migrate")
def db_migrate() -> None:
    """Create the osp_app role when missing and apply migrations (idempotent)."""
    with platform(run_migrations=True, create=True):
        pass
    out.print("database is up to date")


# -- tenants -------------------------------------------------------------------------------
@tenant_app.command("create")
def tenant_create(name: str, require_2fa: Annotated[bool, typer.Option(
        "--require-2fa", help="Every user of this tenant must use two-factor auth.")] = False
                  ) -> None:
    """Create a tenant (2-40 lower-case letters, digits, dashes; a letter first)."""
    with platform() as p:
        t = p.tenants.create(name, CLI_ACTOR, require_2fa=require_2fa)
    out.print(f"created tenant {t.name} ({t.id})")


@tenant_app.command("list")
def tenant_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every tenant with its state."""
    with platform() as p:
        rows = p.tenants.list()
    if as_json:
        print(json.dumps([{"id": str(t.id), "name": t.name, "state": t.state,
                           "require_2fa": t.require_2fa} for t in rows]))
        return
    grid = table("name", "id", "state", "2fa required")
    for t in rows:
        grid.add_row(t.name, str(t.id), t.state, "yes" if t.require_2fa else "no")
    out.print(grid)


@tenant_app.command("show")
def tenant_show(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One tenant: state, two-factor rule, numbers of users and secrets."""
    with platform() as p:
        t = tenant_arg(p, name)
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
    """Delete the tenant, its container, network, volume and all its data."""
    with opened() as a:
        p = a.platform
        info = tenant_arg(p, name)
        if not yes and not typer.confirm(f"Delete tenant {name} and all its data?"):
            fail("aborted; nothing was deleted")
        try:
            # Container, network and volume go with the tenant; nothing is left as an orphan.
            a.runtime.backend.remove(name, purge_data=True)
        except OspError as exc:
            out.print(f"warning: could not remove the container: {exc.message}")
        p.tenants.delete(info, CLI_ACTOR)
        if not p.tenants.list():
            # The last tenant gone: the firewall table and anything left under this
            # installation's prefix have nothing left to serve (the next start recreates them).
            for what in _remove_host_state(a):
                out.print(f"removed {what}")
    out.print(f"deleted tenant {name}")


def _remove_host_state(a: App) -> list[str]:
    try:
        return a.runtime.backend.uninstall()
    except Exception as exc:  # the engine may be absent: the database part is done anyway
        print(f"warning: could not clean up the container engine: {exc}", file=sys.stderr)
        return []


def _control_plane_running(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@system_app.command("uninstall")
def system_uninstall(
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
        keep_data: Annotated[bool, typer.Option(
            "--keep-data", help="Keep the data directory (database, keys, anchors).")] = False
        ) -> None:
    """Remove this installation: every tenant container, network and volume, the firewall
    table and, unless --keep-data, the data directory with its database and keys."""
    import shutil

    cfg = settings()
    require_installation(cfg)
    if _control_plane_running(cfg.internal_port):
        fail(f"`osp up` is running (port {cfg.internal_port} answers): stop it first")
    if not yes and not typer.confirm(f"Remove the OSP installation in {cfg.data_dir}, "
                                     "every tenant and its data?"):
        fail("aborted; nothing was removed")
    with opened() as a:
        removed = _remove_host_state(a)
    for what in removed:
        out.print(f"removed {what}")
    if keep_data:
        out.print(f"kept {cfg.data_dir}")
    else:
        shutil.rmtree(cfg.data_dir)
        out.print(f"removed {cfg.data_dir}")
    if cfg.database_url:
        out.print("the external database is left as it is (its data is unreadable without "
                  "the removed key unless you kept it): drop it with your own tools")


# -- secrets -------------------------------------------------------------------------------
@secret_app.command("set")
def secret_set(tenant: str, name: str) -> None:
    """Write a new version of a secret; the value is read from stdin, never from argv."""
    value = read_secret_stdin(f"Value for {name}: ")
    with platform() as p:
        t = tenant_arg(p, tenant)
        with p.db.tenant(t.id) as s:
            version = p.vault.put(s, t.id, name, value, CLI_ACTOR)
    out.print(f"stored {name} version {version} for {tenant}")


@secret_app.command("list")
def secret_list(tenant: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with platform() as p:
        t = tenant_arg(p, tenant)
        with p.db.tenant(t.id) as s:
            rows = p.vault.list(s, t.id)
    if as_json:
        print(json.dumps([{"name": r.name, "version": r.version, "versions": r.versions,
                           "updated_at": r.updated_at.isoformat()} for r in rows]))
        return
    grid = table("name", "version", "versions", "created", "updated")
    for r in rows:
        grid.add_row(r.name, str(r.version), str(r.versions), f"{r.created_at:%Y-%m-%d %H:%M}",
                      f"{r.updated_at:%Y-%m-%d %H:%M}")
    out.print(grid)


@secret_app.command("delete")
def secret_delete(tenant: str, name: str) -> None:
    with platform() as p:
        t = tenant_arg(p, tenant)
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
    from osp.audit.unproven import PLATFORM_TRAIL

    if platform_trail == (tenant is not None):
        raise OspError("name a tenant or pass --platform (not both)")
    if tenant is None:
        return PLATFORM_TRAIL, "the platform"
    return tenant_arg(p, tenant).id, tenant


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
    grid = table("seq", "at", "actor", "kind", "details")
    width = 80 if sys.stdout.isatty() else None  # piped: whole details, for grep
    for r in rows:
        grid.add_row(str(r["seq"]), str(r["at"])[:19], str(r["actor"]), str(r["kind"]),
                     json.dumps(r["details"])[:width])
    out.print(grid)


@audit_app.command("verify")
def audit_verify(tenant: Annotated[str | None, typer.Argument()] = None,
                 platform_trail: PlatformTrailOpt = False) -> None:
    """Exit non-zero when any event was modified, deleted or reordered."""
    from osp.audit.anchor import AnchorFile, check_anchor

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
    from osp.audit.anchor import AnchorFile, anchor_all

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
    from osp.identity import cli as identity_cli
    from osp.identity import operator_cli
    from osp.localmodel import cli as localmodel_cli
    from osp.oauth import cli as oauth_cli
    from osp.release import cli as release_cli
    from osp.runtime import cli as runtime_cli

    runtime_cli.register(tenant_app, image_app, opened, billing_app,
                         lambda: settings().data_dir)
    identity_cli.register(app, opened)
    operator_cli.register(app, opened)
    agent_cli.register(app, tenant_app, opened, settings)
    approvals_cli.register(app, opened)
    governance_cli.register(app)
    oauth_cli.register(app, opened)
    release_cli.register(app, image_app, opened, lambda: settings().data_dir)
    localmodel_cli.register(app, settings)


_register_features()


# typer >= 0.29 vendors its own click: ``click.ClickException`` is not the class its parser
# raises. Usage errors (missing argument, unknown command or option, bad value) all derive
# from the ClickException base of the click that typer uses, found through its public
# BadParameter; this holds for the vendored copy and for a plain click alike.
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


# Options of the root callback that take a value (`osp --data-dir DIR tenant list`): needed to
# find the command word in argv. tests/test_cli_startup.py keeps this in step with `_main`.
ROOT_VALUE_OPTIONS = frozenset({"--data-dir"})


def command_word(argv: list[str]) -> str | None:
    """The first word of argv that names a command or group, past the root's options."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--":
            return None
        elif arg in ROOT_VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _command_name(function_name: str) -> str:  # typer's rule for a command's default name
    return function_name.lower().replace("_", "-")


def _never_run() -> None:
    """Stands for a command argv does not name: only its name and help are ever shown."""
    raise AssertionError("a pruned command ran")


def for_argv(argv: list[str]) -> typer.Typer:
    """The app with only the group argv names built in full.

    typer turns every command of every group into a click command (signature, annotations,
    parameters) before it parses anything: about a third of `osp tenant --help`'s time went
    to the ~130 commands it never runs. The other groups and commands keep their name and
    help (what `osp --help` and an unknown command's message show), not their parameters."""
    word = command_word(argv)
    pruned = copy.copy(app)
    pruned.registered_groups, pruned.registered_commands = [], []
    for command in app.registered_commands:
        callback = command.callback
        if callback is not None and (command.name or _command_name(callback.__name__)) != word:
            command = copy.copy(command)
            command.name = command.name or _command_name(callback.__name__)
            command.help = command.help or inspect.getdoc(callback)
            command.callback = _never_run
        pruned.registered_commands.append(command)
    for info in app.registered_groups:
        if info.name != word and info.typer_instance is not None:
            empty = copy.copy(info.typer_instance)
            empty.registered_commands, empty.registered_groups = [], []
            info = copy.copy(info)
            info.typer_instance = empty
        pruned.registered_groups.append(info)
    return pruned


def main() -> None:
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        rc = for_argv(sys.argv[1:])(standalone_mode=False, prog_name="osp")
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
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except _ClickException as exc:  # usage errors: the usage line, the reason, exit 2
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except Exception as exc:  # the CLI never shows a traceback; the message says enough
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: unexpected {type(exc).__name__}: {first}", file=sys.stderr)
        sys.exit(2)
