"""``osp up``: serves the admin API and the internal API (for tenant containers) until
Ctrl-C. Tenant containers keep running after it stops (they serve no one until the next
``osp up``, which reconciles them)."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from osp.app import App
from osp.errors import OspError
from osp.gateway.demo import create_demo
from osp.localmodel.server import LocalModel
from osp.logs import get_logger
from osp.runtime.service import EngineError
from osp.runtime.wiring import recover_fleet

if TYPE_CHECKING:
    from osp.config import Settings

log = get_logger("osp.up")

# The internal listener binds every address because tenant bridges reach the host on their
# gateway addresses; the host firewall lets tenant networks reach only this port.
INTERNAL_HOST = "0.0.0.0"  # noqa: S104


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the signals to ``osp up``. Two servers each capturing
    SIGINT/SIGTERM chain their handlers, and uvicorn re-raises a captured signal once it has
    stopped: the process then ended by the signal (exit -2 after Ctrl-C, seen in CI; SIGTERM
    killed it before the audit anchors were written and the database stopped)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: object, host: str, port: int) -> uvicorn.Server:
    # forwarded_allow_ips=None would trust X-Forwarded-For from loopback: a local client
    # could then pick the address the login throttle keys on. Trust no proxy by default.
    config = uvicorn.Config(app, host=host, port=port,  # type: ignore[arg-type]
                            log_config=None, access_log=False, forwarded_allow_ips=[],
                            proxy_headers=False)
    return _Server(config)


def _reconcile(app: App) -> None:
    try:
        report = app.runtime.service.reconcile()
    except EngineError as exc:
        # The admin API stays useful without a container engine; tenants just do not run.
        print(f"warning: container engine unavailable, tenants are not running: {exc.message}",
              flush=True)
        return
    for name in report.orphans:
        log.warning("orphan_container", tenant=name)
    for name, why in report.failed.items():
        log.error("tenant_start_failed", tenant=name, reason=why)
    print(f"tenants: {len(report.started)} started, {len(report.stopped)} stopped, "
          f"{len(report.failed)} failed, {len(report.orphans)} orphan container(s)", flush=True)
    # Messages a crash left queued or in delivery end answered or visibly failed, never lost.
    for tenant in app.platform.tenants.list():
        try:
            app.agent.gateway.recover(tenant)
        except Exception as exc:  # one tenant's trouble must not stop the others
            log.error("message_recovery_failed", tenant=tenant.name, error=type(exc).__name__)


def check_ports_free(*addresses: tuple[str, int]) -> None:
    """Before the database starts: a busy port is one line, not a traceback after start-up."""
    for host, port in addresses:
        _bound(host, port).close()


def local_url(host: str, port: int) -> str:
    """The address a client on this host uses (a wildcard bind is reached on loopback)."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (compared, not bound)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


# Settings a command in another terminal must share with this control plane (the same
# containers, networks, firewall table, key provider): exported when not at their default.
SHARED = ("internal_port", "model_port", "runtime_prefix", "runtime_pool", "runtime_userns",
          "kek_provider", "transit_url", "transit_key", "transit_mount", "audit_anchor_file")
# Shared too, but they hold a password or a token: named, never printed.
SHARED_SECRETS = ("database_url", "vault_token")


def exports(cfg: Settings) -> list[str]:
    """The lines a second terminal needs so the CLI finds this control plane and data."""
    lines = [f"export OSP_URL={local_url(cfg.host, cfg.port)}",
             f"export OSP_DATA_DIR={shlex.quote(str(cfg.data_dir))}"]
    fields = type(cfg).model_fields
    for name in SHARED:
        value = getattr(cfg, name)
        if value != fields[name].default:
            lines.append(f"export OSP_{name.upper()}={shlex.quote(str(value))}")
    for name in SHARED_SECRETS:
        if getattr(cfg, name) is not None:
            lines.append(f"export OSP_{name.upper()}=...  # as set here (not printed)")
    return lines


def serve(app: App, *, demo: bool = False, local_model: LocalModel | None = None) -> None:
    # The ports are taken first thing in _start_and_serve (a busy one is one line there).
    # Ctrl-C is a stop whenever it comes: also while recovering, reconciling or building the
    # apps, before the servers own the signal (it used to end the process by the signal).
    with contextlib.suppress(KeyboardInterrupt):
        _start_and_serve(app, demo, local_model)
    log.info("stopped")


def _bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise OspError(f"port {port} on {host} is already in use: pick another with "
                       "--port (API) or OSP_INTERNAL_PORT (internal API)") from None
    return sock


def listening(host: str, port: int) -> socket.socket:
    """A socket bound and listening now; uvicorn serves it later."""
    sock = _bound(host, port)
    sock.listen(2048)
    return sock


def _start_and_serve(app: App, demo: bool, local_model: LocalModel | None) -> None:
    cfg = app.settings
    # Both ports listen before any tenant starts: an agent exchanges its boot token with the
    # internal API within a second of starting and retries a refused connection only for a
    # few seconds, so a container started by the reconcile or the demo below used to exit
    # (78) while the apps were still being built. Connections wait in the backlog until
    # uvicorn serves the sockets.
    sockets = [listening(cfg.host, cfg.port)]
    try:
        sockets.append(listening(INTERNAL_HOST, cfg.internal_port))
        servers = [_server(app.admin_app(), cfg.host, cfg.port),
                   _server(app.internal_app(), INTERNAL_HOST, cfg.internal_port)]
        recovered = recover_fleet(app.platform, app.runtime)  # first: no half-upgraded tenant
        if recovered:
            print(recovered, flush=True)
        _reconcile(app)
        if demo:
            print(create_demo(app.platform, app.runtime, local_model), flush=True)
        elif local_model is not None:
            from osp.localmodel.cli import tenant_instructions

            print(f"Local model {local_model.name} on port {local_model.port}; point a tenant "
                  f"at it (replace NAME):\n{tenant_instructions(local_model)}", flush=True)
        print(f"OSP control plane on {local_url(cfg.host, cfg.port)} (data dir {cfg.data_dir}); "
              "Ctrl-C stops it (tenant containers keep running)\n"
              "In another terminal, before any other osp command:\n"
              + "".join(f"  {line}\n" for line in exports(cfg)),
              flush=True)
        log.info("started", host=cfg.host, port=cfg.port, internal_port=cfg.internal_port)

        async def run_all() -> None:
            loop = asyncio.get_running_loop()

            def stop() -> None:
                # The first Ctrl-C (or SIGTERM) stops both listeners gracefully, the second
                # stops them without waiting for open connections.
                for server in servers:
                    server.force_exit = server.should_exit
                    server.should_exit = True

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop)
            try:
                await asyncio.gather(*(s.serve(sockets=[sock])
                                       for s, sock in zip(servers, sockets, strict=True)))
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        with app.operator_socket():  # the CLI's lifecycle commands, without opening it anew
            asyncio.run(run_all())
    finally:
        for sock in sockets:
            sock.close()
